"""What a launcher says about this process, read from the environment without TensorFlow:
whether it is one of several processes of a job and not the one that writes (the chief).

NPU jobs run one process per device with Huawei's variables (RANK_SIZE, RANK_ID, see
scripts/train_npu_8p.sh); several GPU hosts run MultiWorkerMirroredStrategy configured by
TF_CONFIG.
"""
from __future__ import annotations

import json
import os
import socket
import sys
from typing import List


def is_chief_task(task_type: str, task_id: int, cluster: dict) -> bool:
    """The TF_CONFIG task that writes: the "chief" task, or worker 0 when there is no chief."""
    return task_type == "chief" or (task_type == "worker" and task_id == 0 and "chief" not in cluster)


def launched_as_secondary() -> bool:
    """Whether the launcher started this process as a replica that is not the chief, read from the
    environment before TensorFlow starts: NPU rank RANK_ID > 0 of RANK_SIZE > 1 (Huawei's
    variables), or a TF_CONFIG task other than the chief. Such a process writes nothing, so it
    may start while the chief creates the run dir."""
    if int(os.environ.get("RANK_SIZE") or 1) > 1 and int(os.environ.get("RANK_ID") or 0) > 0:
        return True
    tf_config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task = tf_config.get("task")
    return bool(task) and not is_chief_task(task.get("type"), int(task.get("index", 0)), tf_config.get("cluster", {}))


def free_ports(count: int) -> List[int]:
    """`count` TCP ports free on localhost now, for a TF_CONFIG job of that many local processes."""
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def end_process(status: int) -> int:
    """Ends a program with `status`. A process of a TF_CONFIG job exits at once, after flushing
    its output, without the interpreter's teardown: there TF 2.6's collective runtime can abort a
    process whose run has ended ("terminate called without an active exception", SIGABRT), and
    the launcher would report a finished job as failed. Everything the run writes is closed by then."""
    if os.environ.get("TF_CONFIG"):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
    return status
