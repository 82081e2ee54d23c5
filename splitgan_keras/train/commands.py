"""The command lines this project prints for the user to run next, written so that they work as
printed: with the interpreter that runs now (no environment to activate first) and the script or
installed command that this process was started as."""
from __future__ import annotations

import os
import shlex
import sys


def printed_train_command(*args: str) -> str:
    """e.g. "/home/me/splitgan/.venv/bin/python train.py --run-dir runs/x --resume"."""
    program = sys.argv[0] if sys.argv else ""
    if os.path.basename(program) == "train.py":
        words = [sys.executable, program]
    elif os.path.basename(program) == "splitgan-train":
        words = [program]
    else:  # train.py's main called from Python: the installed command
        words = ["splitgan-train"]
    return " ".join(shlex.quote(word) for word in words + list(args))
