"""Screens of the pixelguard UI."""
