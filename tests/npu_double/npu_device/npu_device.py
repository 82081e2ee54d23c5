"""open() / as_default() and the device handle, with the adapter's documented side effects."""
import contextlib
import os

import tensorflow as tf

_handles = {}
_ctx = []


def global_npu_ctx():
    return _ctx[0] if _ctx else None


class NpuDeviceHandle:
    def __init__(self, device_id, workers_num, worker_id):
        self.device_id, self.workers_num, self.worker_id = device_id, workers_num, worker_id

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


def _rank_size():
    if os.getenv("RANK_SIZE") is not None and os.getenv("CM_WORKER_SIZE") is not None:
        raise ValueError("RANK_SIZE and CM_WORKER_SIZE cannot be set together")
    return int(os.getenv("RANK_SIZE", os.getenv("CM_WORKER_SIZE", "1")))


def open(device_id=None):  # noqa: A001 - the adapter's name
    from npu_device import record
    from npu_device.configs import global_options
    if device_id is None:
        device_id = int(os.getenv("ASCEND_DEVICE_ID", "0"))
    if _handles:
        (cached_id, handle), = _handles.items()
        if cached_id != device_id:
            raise RuntimeError("NPU device %d is open; cannot open device %d" % (cached_id, device_id))
        return handle
    workers = _rank_size()
    if workers > 1 and not ((os.getenv("RANK_TABLE_FILE") and os.getenv("RANK_ID")) or
                            (os.getenv("CM_CHIEF_IP") and os.getenv("CM_CHIEF_PORT") and
                             os.getenv("CM_CHIEF_DEVICE"))):
        raise RuntimeError("distributed NPU needs RANK_TABLE_FILE and RANK_ID, or CM_CHIEF_*")
    # The adapter asks HCCL for the rank (get_rank_id); with a rank table that is RANK_ID.
    worker_id = int(os.getenv("RANK_ID", "0")) if workers > 1 else 0
    if os.getenv("NPU_DOUBLE_FAIL_RANK") == str(worker_id):  # tests: a rank whose device fails
        raise RuntimeError("NPU double: device %d of rank %d failed to open (NPU_DOUBLE_FAIL_RANK)"
                           % (device_id, worker_id))
    record("open", device_id=device_id, options=global_options().as_dict(), workers_num=workers, worker_id=worker_id)
    handle = NpuDeviceHandle(device_id, workers, worker_id)
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
