"""open() / as_default() and the device handle, with the adapter's side effects
(tf_adapter_2.x/python/npu_device/npu_device.py): open() replaces TensorFlow's eager context with
a new one, so what was configured on the old one (thread pools) is lost; the launch variables are
checked as open() checks them, and the ranks of a cluster meet (link.py, the double's HCCL)."""
import contextlib
import os

import tensorflow as tf
from tensorflow.python.eager import context

_handles = {}
_ctx = []


def global_npu_ctx():
    return _ctx[0] if _ctx else None


class NpuDeviceHandle:
    def __init__(self, device_id, workers_num, worker_id):
        self.device_id, self.workers_num, self.worker_id = device_id, workers_num, worker_id
        self.link = None  # the double's HCCL (link.Link) on a cluster worker

    def name(self):
        return "/job:localhost/replica:0/task:0/device:NPU:%d" % self.device_id

    @contextlib.contextmanager
    def scope(self):
        yield

    def is_cluster_worker(self):
        return self.workers_num > 1 and 0 <= self.worker_id < self.workers_num

    def as_default(self):
        from npu_device import record
        if not _ctx:
            _ctx.append(self)
            _patch_tensorflow()
        record("as_default", device=self.name())
        return self


class _AdapterContext(context.Context):
    """The adapter's _ContextWithDefaultDevice: a fresh eager context, built with default settings."""


def _replace_context():
    """As open() does: a new eager context, initialised, in place of the old one. Its thread pools
    take their size from TF_NUM_INTRAOP_THREADS / TF_NUM_INTEROP_THREADS (TensorFlow reads them when
    the context starts), which the double records."""
    from npu_device import record
    if isinstance(context.context(), _AdapterContext):
        return
    ctx = _AdapterContext()
    ctx.ensure_initialized()
    context._set_context(ctx)
    record("context_replaced", intra_op_threads=os.getenv("TF_NUM_INTRAOP_THREADS"),
           inter_op_threads=os.getenv("TF_NUM_INTEROP_THREADS"))


def _rank_size():
    if os.getenv("RANK_SIZE") is not None and os.getenv("CM_WORKER_SIZE") is not None:
        raise ValueError("RANK_SIZE and CM_WORK_SIZE cannot be configured at the same time")
    return int(os.getenv("RANK_SIZE", os.getenv("CM_WORKER_SIZE", "1")))


def _worker_id(workers):
    """The adapter asks HCCL for the rank (hccl get_rank_id): with a rank table, RANK_ID; in the
    CM_* mode HCCL numbers the processes, which the double models on one host as the device's
    offset from the chief's device (CM_CHIEF_DEVICE)."""
    if workers == 1:
        return 0
    if os.getenv("CM_CHIEF_IP") is not None:
        return int(os.getenv("ASCEND_DEVICE_ID", "0")) - int(os.getenv("CM_CHIEF_DEVICE"))
    return int(os.getenv("RANK_ID"))


def _check_launch(workers):
    """open()'s checks of the two launch modes (rank table or CM_*), with its exception types."""
    if workers == 1:
        return
    cm_chief_ip, rank_table = os.getenv("CM_CHIEF_IP"), os.getenv("RANK_TABLE_FILE")
    if cm_chief_ip is not None and rank_table is not None:
        raise RuntimeError("CM_CHIEF_IP and RANK_TABLE_FILE cannot be configured at the same time.")
    if cm_chief_ip is not None:
        for name in ("CM_CHIEF_PORT", "CM_CHIEF_DEVICE"):
            if not os.getenv(name):
                raise RuntimeError("You must specify cm %s by set env %s in distribution mode"
                                   % (name[3:].lower().replace("_", " "), name))
    elif rank_table is not None:
        if not os.getenv("RANK_ID"):
            raise RuntimeError("You must specify rank id by set env RANK_ID in distribution mode")
    else:
        raise RuntimeError("CM_CHIEF_IP and RANK_TABLE_FILE are all not be configured.")


def open(device_id=None):  # noqa: A001 - the adapter's name
    from npu_device import record
    from npu_device.configs import global_options
    if device_id is None:
        device_id = int(os.getenv("ASCEND_DEVICE_ID", "0"))
    _replace_context()
    if _handles:
        (cached_id, handle), = _handles.items()
        if cached_id != device_id:
            raise RuntimeError("NPU device %d is open; cannot open device %d" % (cached_id, device_id))
        return handle
    workers = _rank_size()
    _check_launch(workers)
    worker_id = _worker_id(workers)
    if os.getenv("NPU_DOUBLE_FAIL_RANK") == str(worker_id):  # tests: a rank whose device fails
        raise RuntimeError("NPU double: device %d of rank %d failed to open (NPU_DOUBLE_FAIL_RANK)"
                           % (device_id, worker_id))
    record("open", device_id=device_id, options=global_options().as_dict(), workers_num=workers, worker_id=worker_id)
    handle = NpuDeviceHandle(device_id, workers, worker_id)
    if handle.is_cluster_worker():  # the adapter's open() initialises HCCL: the ranks meet here
        from npu_device.link import Link
        handle.link = Link.meet(worker_id, workers)
    _handles[device_id] = handle
    return handle


def npu_compat_function(func=None, *args, **kwargs):
    """tf.function with jit_compile forced off (a request for it is recorded)."""
    from npu_device import record
    for key in ("jit_compile", "experimental_compile"):
        if kwargs.get(key):
            record("jit_compile_requested", key=key)
        kwargs[key] = False if key == "jit_compile" else None
    kwargs.pop("experimental_compile", None)
    return _original_function(func, *args, **kwargs) if func is not None else \
        (lambda f: _original_function(f, *args, **kwargs))


_original_function = tf.function


def _patch_tensorflow():
    """As the adapter does: tf.function drops jit_compile, tf.device no longer moves work."""
    from tensorflow.python.eager import def_function
    tf.function = tf.compat.v2.function = def_function.function = npu_compat_function

    @contextlib.contextmanager
    def device(name):
        yield

    tf.device = device
