"""Errors that the CLI reports as one clear line instead of a traceback."""


class UserError(Exception):
    """A problem with the user's data, params or request: the message says what to fix."""
