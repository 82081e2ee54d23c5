"""Exceptions that end a command with a one-line reason, and their exit statuses.

Exit statuses of train.py and eval.py: 0 done; 1 a parity comparison exceeded its tolerance;
2 bad input (UserError); 3 stopped by SIGTERM/SIGINT after saving a checkpoint (resumable);
4 stopped by the non-finite guard (NonFiniteError). Both are a CommandEnd, which the commands print
as one line. Anything else is a bug and keeps its traceback.
"""
import re

INTERRUPTED = 3


class CommandEnd(Exception):
    """What ends a command with a one-line reason and `exit_status`, not with a traceback."""

    exit_status = 1


class UserError(CommandEnd):
    """Bad input (a flag, a file, a dataset, a checkpoint) or a problem of the machine (a full
    disk) that the user can fix."""

    exit_status = 2


class NonFiniteError(CommandEnd):
    """A loss or gradient became NaN or infinite; the run stopped without saving the broken state.
    Not bad input: the run's own numbers went wrong."""

    exit_status = 4


# An error line echoes paths and values that came from outside: a 100 MB setting must not become a
# 100 MB line. Values are cut to SHOWN_CHARS where they are echoed, and a whole line to LINE_CHARS.
SHOWN_CHARS = 200
LINE_CHARS = 4000


def one_line(text: str, limit: int = LINE_CHARS) -> str:
    """`text` with its control characters (a newline or carriage return that came in with a path
    or a value) shown escaped, as Python writes them, and its middle cut past `limit` characters."""
    if len(text) > limit:
        cut = len(text) - limit
        text = "%s ...[%d characters cut]... %s" % (text[:limit - 200], cut, text[-200:])
    return re.sub(r"[\x00-\x1f\x7f]", lambda m: repr(m.group())[1:-1], text)


def shown(value, limit: int = SHOWN_CHARS, quote: bool = True) -> str:
    """A value from outside, for an error line: its repr (or str, `quote=False`), cut to `limit`
    characters with how many were left out."""
    text = repr(value) if quote else str(value)
    if len(text) <= limit:
        return text
    return "%s...(%d characters more)" % (text[:limit], len(text) - limit)


def reason(error: Exception) -> str:
    """What `error` says. A CommandEnd raised while TensorFlow traced a function comes back from autograph as a
    new exception of its type whose message is a trace of the converted code around the original message;
    autograph keeps that message (as "<type>: <message>") in the exception's ag_error_metadata, where it is
    taken from."""
    cause = getattr(getattr(error, "ag_error_metadata", None), "cause_message", None)
    prefix = type(error).__name__ + ": "
    if isinstance(cause, str) and cause.startswith(prefix):
        return cause[len(prefix):]
    return str(error)


def error_line(error: Exception) -> str:
    """"error: <reason>", on one line of at most about LINE_CHARS characters."""
    return "error: " + one_line(reason(error))
