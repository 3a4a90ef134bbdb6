"""Errors the suite reports as one line with exit code 2, never as a traceback."""


class ConfigError(Exception):
    """A usage or configuration error: bad option, unknown backend, malformed spec."""
