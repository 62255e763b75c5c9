"""Errors that are the user's to fix: the CLI prints their message on one line and exits 2, no traceback."""


class PixelguardError(Exception):
    """A mistake in user input (arguments, config, files named by the user)."""

    exit_code = 2


class ConfigError(PixelguardError):
    """The configuration file is broken; the message names file:line: key."""
