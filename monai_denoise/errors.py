"""Errors that the command line reports as one clear line and a non-zero exit."""


class DataError(ValueError):
    """Input data or configuration that cannot be used; the message names the file and the problem."""


def describe(error: BaseException) -> str:
    """``error``'s type and first sentence on one line (libraries raise multi-line messages), for a DataError."""
    return f"{type(error).__name__}: " + " ".join(str(error).split()).split(". ")[0][:200]
