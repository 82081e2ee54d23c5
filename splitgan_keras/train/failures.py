"""What a failed run says: a full or unwritable run dir, device memory, a non-finite loss.

Each becomes one clear message naming the last complete checkpoint and what to do next.
"""
from __future__ import annotations

import errno
import os
import re

from splitgan_keras import files
from splitgan_keras.artefacts import checkpoints, rundir
from splitgan_keras.errors import UserError
from splitgan_keras.train import commands

_DISK_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR)
_DISK_MESSAGES = ("No space left on device", "Disk quota exceeded", "Read-only file system", "Permission denied",
                  "Not a directory")


def disk_problem(error: Exception, run_dir: str) -> bool:
    """True for a failed write into the run dir: a file-system OSError, one about a path in the run
    dir, or a TensorFlow error (checkpoint, summary or export writer) that reports such a problem."""
    if isinstance(error, OSError):
        inside = bool(error.filename) and os.path.abspath(str(error.filename)).startswith(os.path.abspath(run_dir))
        return error.errno in _DISK_ERRNOS or inside
    return any(text in str(error) for text in _DISK_MESSAGES)


def first_line(e: Exception) -> str:
    return re.sub(r"^\{\{[^}]*\}\}\s*", "", str(e).splitlines()[0])  # without TF's op-node prefix


def _latest(checkpoint_dir: str) -> str:
    return checkpoints.latest(checkpoint_dir) or "none"


def write_error(cfg, checkpoint_dir: str, e: Exception) -> UserError:
    then = ("continue with: %s" % commands.printed_train_command("--run-dir", cfg.output.run_dir, "--resume")
            if rundir.holds_run(cfg.output.run_dir) else "run the same command again")
    return UserError("cannot write into --run-dir %s (%s); the last complete checkpoint is %s; make room (or fix "
                     "the permissions), then %s" % (cfg.output.run_dir, first_line(e), _latest(checkpoint_dir), then))


def memory_error(cfg, checkpoint_dir: str, e: Exception) -> UserError:
    return UserError("out of device memory with --width %d and --batch-size %d (%s); use smaller ones, or "
                     "--precision mixed; the last complete checkpoint is %s"
                     % (cfg.model.width, cfg.train.batch_size, first_line(e)[:200], _latest(checkpoint_dir)))


def lost_replica_error(replicas, checkpoint_dir: str, e: Exception) -> UserError:
    return UserError("another process of the job (%s) stopped answering or died (%s: %s); this one stops too. The "
                     "last complete checkpoint is %s; when every process can run again, start them all with --resume "
                     "(any replica count)" % (replicas.description, type(e).__name__, first_line(e)[:200],
                                              _latest(checkpoint_dir)))


def write_nonfinite_diagnostic(cfg, guard, last_good_checkpoint) -> str:
    """Writes <run>/nonfinite.json from a callbacks.NonFiniteGuard's recent logs; returns its path."""
    path = rundir.path(cfg, "nonfinite.json")
    last = guard.recent[-1] if guard.recent else {}
    files.write_json(path, {"recent_iterations": list(guard.recent), "learning_rate": last.get("lr"),
                            "loss_scale": {k: v for k, v in last.items() if k.endswith("loss_scale")},
                            "skipped_steps": dict(guard.skipped), "last_good_checkpoint": last_good_checkpoint})
    return path
