"""What a launcher says about this process, read from the environment without TensorFlow:
whether it is one of several processes of a job, and whether it knows yet if it writes (the chief).

NPU jobs run one process per device with Huawei's variables, in one of the adapter's two launch
modes (npu_device.open): a rank table (RANK_TABLE_FILE, RANK_ID, RANK_SIZE; scripts/train_npu_8p.sh)
or the cluster variables (CM_CHIEF_IP, CM_CHIEF_PORT, CM_CHIEF_DEVICE, CM_WORKER_IP,
CM_WORKER_SIZE). Several GPU hosts run MultiWorkerMirroredStrategy configured by TF_CONFIG.
"""
from __future__ import annotations

import os
import re
import socket
import sys
from typing import List, Optional, Tuple

from splitgan_keras import json_input
from splitgan_keras.errors import UserError, shown


MAX_PROCESSES = 4096  # more processes than any job of this project runs: a typo, not a cluster
TF_CONFIG_TASK_TYPES = ("chief", "worker")  # the tasks of MultiWorkerMirroredStrategy; no side evaluator
_MAX_TF_CONFIG_CHARS = 1 << 20


def is_chief_task(task_type: str, task_id: int, cluster: dict) -> bool:
    """The TF_CONFIG task that writes: the "chief" task, or worker 0 when there is no chief."""
    return task_type == "chief" or (task_type == "worker" and task_id == 0 and "chief" not in cluster)


def _env_int(name: str, default: int, least: int, most: int) -> int:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    if not re.fullmatch(r"[0-9]{1,10}", text) or not least <= int(text) <= most:
        raise UserError("%s=%s in the environment: expected a whole number in %d..%d" % (name, shown(text, 50), least,
                                                                                         most))
    return int(text)


# HCCL's timeouts as CANN reads them (HCCL environment variables, CANN 8.0): HCCL_CONNECT_TIMEOUT in
# 120..7200 s; HCCL_EXEC_TIMEOUT up to 17340 s on Atlas training (the 910), which rounds it down to a
# multiple of 68 s (68 at least), and up to 2147483647 s on Atlas A2, where 0 means never.
HCCL_CONNECT_SECONDS = (120, 7200)
HCCL_EXEC_STEP, HCCL_EXEC_MAX_ATLAS_TRAINING, HCCL_EXEC_MAX = 68, 17340, 2 ** 31 - 1


def hccl_timeout_notes() -> List[str]:
    """Checks HCCL_CONNECT_TIMEOUT and HCCL_EXEC_TIMEOUT; returns one line for each value that a chip
    changes or refuses (which chip runs is not known here). Raises UserError for what no CANN takes."""
    _env_int("HCCL_CONNECT_TIMEOUT", HCCL_CONNECT_SECONDS[0], *HCCL_CONNECT_SECONDS)
    seconds = _env_int("HCCL_EXEC_TIMEOUT", -1, 0, HCCL_EXEC_MAX)
    if seconds == 0:
        return ["HCCL_EXEC_TIMEOUT=0 means never on Atlas A2; Atlas training (the 910) refuses 0"]
    if seconds > HCCL_EXEC_MAX_ATLAS_TRAINING:
        return ["HCCL_EXEC_TIMEOUT=%d is above the %d s Atlas training (the 910) accepts; Atlas A2 takes it"
                % (seconds, HCCL_EXEC_MAX_ATLAS_TRAINING)]
    rounded = max(HCCL_EXEC_STEP, seconds // HCCL_EXEC_STEP * HCCL_EXEC_STEP)
    if seconds > 0 and rounded != seconds:
        return ["HCCL_EXEC_TIMEOUT=%d: Atlas training (the 910) counts it in steps of %d s and waits %d s"
                % (seconds, HCCL_EXEC_STEP, rounded)]
    return []


def npu_ranks() -> Tuple[int, int]:
    """(RANK_SIZE, RANK_ID) as Huawei's rank-table launchers set them, checked; (1, 0) when unset."""
    size = _env_int("RANK_SIZE", 1, 1, MAX_PROCESSES)
    rank = _env_int("RANK_ID", 0, 0, MAX_PROCESSES - 1)
    if rank >= size:
        raise UserError("RANK_ID=%d in the environment must be below RANK_SIZE=%d" % (rank, size))
    return size, rank


_RANK_TABLE_VARIABLES = ("RANK_TABLE_FILE", "RANK_ID", "RANK_SIZE")
_CM_VARIABLES = ("CM_CHIEF_IP", "CM_CHIEF_PORT", "CM_CHIEF_DEVICE", "CM_WORKER_IP", "CM_WORKER_SIZE")


def _cm_launch() -> bool:
    """Whether the adapter's CM_* launch mode starts several processes (CM_WORKER_SIZE > 1), its
    variables checked as Huawei documents them: never beside the rank table's (RANK_*), and the
    chief's port in 0..65520."""
    cm = [name for name in _CM_VARIABLES if os.environ.get(name) is not None]
    rank_table = [name for name in _RANK_TABLE_VARIABLES if os.environ.get(name) is not None]
    if cm and rank_table:
        raise UserError("%s and %s are both set in the environment: launch with a rank table (RANK_TABLE_FILE, "
                        "RANK_ID, RANK_SIZE) or with the CM_* variables, not both" % (rank_table[0], cm[0]))
    if _env_int("CM_WORKER_SIZE", 1, 1, MAX_PROCESSES) == 1:
        return False
    missing = [name for name in _CM_VARIABLES if not os.environ.get(name, "").strip()]
    if missing:
        raise UserError("CM_WORKER_SIZE=%s in the environment asks for the adapter's cluster launch, which needs %s"
                        % (os.environ["CM_WORKER_SIZE"], ", ".join(missing)))
    _env_int("CM_CHIEF_PORT", 0, 0, 65520)
    _env_int("CM_CHIEF_DEVICE", 0, 0, MAX_PROCESSES - 1)
    return True


def tf_config() -> Optional[dict]:
    """The TF_CONFIG of a several-process job, checked before TensorFlow reads it; None when unset.

    Returns:
      {"cluster": {task type: ["host:port", ...]}, "task": {"type": str, "index": int}, ...}.

    Raises:
      UserError: one line saying what is wrong with it.
    """
    text = os.environ.get("TF_CONFIG", "")
    if not text.strip():
        return None

    def bad(what: str):
        return UserError("TF_CONFIG in the environment %s; expected e.g. {\"cluster\": {\"worker\": "
                         "[\"host1:12345\", \"host2:12345\"]}, \"task\": {\"type\": \"worker\", \"index\": 0}}"
                         % what)

    if len(text) > _MAX_TF_CONFIG_CHARS:
        raise bad("is %d characters long" % len(text))
    value = json_input.parse(text, "TF_CONFIG in the environment")
    if not isinstance(value, dict):
        raise bad("is a JSON %s, not an object" % type(value).__name__)
    cluster, task = value.get("cluster"), value.get("task")
    if not isinstance(cluster, dict) or not cluster:
        raise bad("has no \"cluster\" object of task types")
    for task_type, addresses in cluster.items():
        if task_type not in TF_CONFIG_TASK_TYPES:
            raise bad("names task type %r (a training job runs %s tasks)"
                      % (task_type[:50], " and ".join(TF_CONFIG_TASK_TYPES)))
        if not isinstance(addresses, list) or not 1 <= len(addresses) <= MAX_PROCESSES:
            raise bad("has %r for %s, not a list of 1..%d addresses" % (str(addresses)[:50], task_type, MAX_PROCESSES))
        for address in addresses:
            _check_address(address, task_type, bad)
    if len(cluster.get("chief", [])) > 1:
        raise bad("has %d chief tasks; a job has at most one" % len(cluster["chief"]))
    if not isinstance(task, dict):
        raise bad("has no \"task\" object")
    task_type, index = task.get("type"), task.get("index", 0)
    if task_type not in cluster:
        raise bad("has task type %r, which its cluster does not list" % (str(task_type)[:50],))
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(cluster[task_type]):
        raise bad("has task index %r; the cluster lists %s %s..%d"
                  % (str(index)[:50], task_type, 0, len(cluster[task_type]) - 1))
    return value


# A host name (RFC 1123 letters, digits, '-', '.', and '_' as some clusters use), an IPv4 address, or
# an IPv6 address in brackets: nothing else (a newline, a space, a URL) reaches gRPC or an error line.
_HOST = re.compile(r"[A-Za-z0-9_]([A-Za-z0-9_.-]{0,251}[A-Za-z0-9_])?|\[[0-9A-Fa-f:.]{2,45}\]")


def _check_address(address, task_type: str, bad) -> None:
    host, sep, port = address.rpartition(":") if isinstance(address, str) else ("", "", "")
    if not sep or not _HOST.fullmatch(host) or not re.fullmatch(r"[0-9]{1,5}", port) or not 1 <= int(port) <= 65535:
        raise bad("has %s among the %s addresses, not host:port (a host name, an IPv4 address or an [IPv6] "
                  "address) with a port in 1..65535" % (shown(address, 80), task_type))


def task_addresses(config: dict) -> List[Tuple[str, int, str]]:
    """(task type, index, "host:port") of every task of a checked TF_CONFIG."""
    return [(t, i, a) for t, addresses in config["cluster"].items() for i, a in enumerate(addresses)]


def waits_for_rank() -> bool:
    """Whether this process must not take the run dir before the runtime says it is the chief, read
    from the environment before TensorFlow starts: NPU rank RANK_ID > 0 of RANK_SIZE > 1 (the rank
    table's rank is HCCL's), a TF_CONFIG task other than the chief, and every process of the CM_*
    launch, whose ranks HCCL numbers as the processes join (which host and device the chief is does
    not say which one is rank 0): there the runtime's rank is the one truth. Such a process writes
    nothing until then, so it may start while the chief creates the run dir. Raises UserError for
    malformed or conflicting variables."""
    if _cm_launch():
        return True
    size, rank = npu_ranks()
    if size > 1 and rank > 0:
        return True
    config = tf_config()
    if config is None:
        return False
    task = config["task"]
    return not is_chief_task(task["type"], task.get("index", 0), config["cluster"])


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
