"""Errors that the command line reports as one clear line and a non-zero exit."""


class DataError(ValueError):
    """Input data or configuration that cannot be used; the message names the file and the problem."""
