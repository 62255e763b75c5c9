"""pixelguard: a user-side proxy that stops tracking pixels and tracker requests."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pixelguard")
except PackageNotFoundError:  # running from a checkout that was never installed
    __version__ = "0.0.0+unknown"
