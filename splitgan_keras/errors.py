"""The one exception type for bad input from the user."""


class UserError(Exception):
    """Bad input (a flag, a file, a dataset, a checkpoint) that the user can fix.

    The command-line tools print its message as one line on stderr and exit with status 2;
    everything else is a bug and keeps its traceback.
    """
