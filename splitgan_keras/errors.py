"""Exceptions that end a command with a one-line reason, and their exit statuses.

Exit statuses of train.py and eval.py: 0 done; 1 a parity comparison exceeded its tolerance;
2 bad input (UserError); 3 stopped by SIGTERM/SIGINT after saving a checkpoint (resumable);
4 stopped by the non-finite guard (NonFiniteError). Anything else is a bug and keeps its traceback.
"""
import re

INTERRUPTED = 3


class UserError(Exception):
    """Bad input (a flag, a file, a dataset, a checkpoint) or a problem of the machine (a full
    disk) that the user can fix."""

    exit_status = 2


class NonFiniteError(UserError):
    """A loss or gradient became NaN or infinite; the run stopped without saving the broken state."""

    exit_status = 4


def one_line(text: str) -> str:
    """`text` with its control characters (a newline or carriage return that came in with a path
    or a value) shown escaped, as Python writes them."""
    return re.sub(r"[\x00-\x1f\x7f]", lambda m: repr(m.group())[1:-1], text)


def error_line(error: Exception) -> str:
    """"error: <reason>", on one line."""
    return "error: " + one_line(str(error))
