"""Widgets of the pixelguard UI."""
