"""Errors that are the user's to fix: the CLI prints them as one line, without a traceback."""


class UserError(Exception):
    """A mistake in the user's input (a parameter, a path, a file) with a message saying what
    was expected. The CLI prints ``error: <message>`` and exits with status 2."""


class DataError(UserError):
    """A dataset file is missing, unreadable or fails its checksum."""


class CheckpointError(UserError):
    """A checkpoint or run directory cannot be used (corrupt, or from another configuration)."""
