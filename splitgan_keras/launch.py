"""What a launcher says about this process, read from the environment without TensorFlow:
whether it is one of several processes of a job and not the one that writes (the chief).

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
    if not re.fullmatch(r"[0-9]{1,9}", text) or not least <= int(text) <= most:
        raise UserError("%s=%r in the environment: expected a whole number in %d..%d" % (name, text[:50], least, most))
    return int(text)


def npu_ranks() -> Tuple[int, int]:
    """(RANK_SIZE, RANK_ID) as Huawei's rank-table launchers set them, checked; (1, 0) when unset."""
    size = _env_int("RANK_SIZE", 1, 1, MAX_PROCESSES)
    rank = _env_int("RANK_ID", 0, 0, MAX_PROCESSES - 1)
    if rank >= size:
        raise UserError("RANK_ID=%d in the environment must be below RANK_SIZE=%d" % (rank, size))
    return size, rank


def _npu_cluster_chief() -> Optional[bool]:
    """In the adapter's CM_* launch mode (CM_WORKER_SIZE > 1): whether this process is the chief,
    the one on CM_CHIEF_IP's host and CM_CHIEF_DEVICE's device (ASCEND_DEVICE_ID); None in the
    rank-table mode or alone. The two modes together are refused, as the adapter refuses them."""
    if os.environ.get("CM_WORKER_SIZE") is not None and os.environ.get("RANK_SIZE") is not None:
        raise UserError("RANK_SIZE and CM_WORKER_SIZE are both set in the environment: launch with a rank table "
                        "(RANK_TABLE_FILE, RANK_ID, RANK_SIZE) or with the CM_* variables, not both")
    if os.environ.get("CM_CHIEF_IP") is not None and os.environ.get("RANK_TABLE_FILE") is not None:
        raise UserError("CM_CHIEF_IP and RANK_TABLE_FILE are both set in the environment: launch with a rank table "
                        "or with the CM_* variables, not both")
    if _env_int("CM_WORKER_SIZE", 1, 1, MAX_PROCESSES) == 1:
        return None
    missing = [name for name in ("CM_CHIEF_IP", "CM_CHIEF_PORT", "CM_CHIEF_DEVICE", "CM_WORKER_IP")
               if not os.environ.get(name, "").strip()]
    if missing:
        raise UserError("CM_WORKER_SIZE=%s in the environment asks for the adapter's cluster launch, which needs %s"
                        % (os.environ["CM_WORKER_SIZE"], ", ".join(missing)))
    _env_int("CM_CHIEF_PORT", 0, 1, 65535)
    chief_device = _env_int("CM_CHIEF_DEVICE", 0, 0, MAX_PROCESSES - 1)
    device = _env_int("ASCEND_DEVICE_ID", 0, 0, MAX_PROCESSES - 1)
    return os.environ["CM_WORKER_IP"].strip() == os.environ["CM_CHIEF_IP"].strip() and device == chief_device


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


def launched_as_secondary() -> bool:
    """Whether the launcher started this process as a replica that is not the chief, read from the
    environment before TensorFlow starts: NPU rank RANK_ID > 0 of RANK_SIZE > 1 (Huawei's
    variables), a process of the CM_* launch that is not on the chief's host and device, or a
    TF_CONFIG task other than the chief. Such a process writes nothing, so it may start while the
    chief creates the run dir. Raises UserError for malformed or conflicting variables."""
    cluster_chief = _npu_cluster_chief()
    if cluster_chief is not None:
        return not cluster_chief
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
