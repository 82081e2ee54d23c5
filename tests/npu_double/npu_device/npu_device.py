"""open() / as_default() and the device handle, with the adapter's side effects
(tf_adapter_2.x/python/npu_device/npu_device.py): open() replaces TensorFlow's eager context with
a new one, so what was configured on the old one (thread pools) is lost; the launch variables are
checked as open() checks them, and the ranks of a cluster meet (link.py, the double's HCCL)."""
import contextlib
import os

import tensorflow as tf
from tensorflow.python.data.ops import iterator_ops
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
        if os.getenv("NPU_DOUBLE_HCCL_RANK"):  # tests: HCCL numbered the processes otherwise
            return int(os.getenv("NPU_DOUBLE_HCCL_RANK"))
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
DOUBLE_OP_PREFIX = "npu_double_"  # the double's own host ops (its HCCL, its records): not the model's


def _host_fallbacks(graph_def):
    """Op types of the graph (and the functions it calls) that the NPU does not run, so the adapter
    places them on the host: Python functions, stateless random ops and string ops (the adapter's
    TF 2.6 API support list, convert_tf2npu/v2/TF2.6_api_support_list.xlsx: py_function and strings
    unsupported). The double's own ops are left out."""
    nodes = list(graph_def.node) + [n for f in graph_def.library.function for n in f.node_def]
    return sorted({n.op for n in nodes if DOUBLE_OP_PREFIX not in n.name and (
        n.op in ("PyFunc", "EagerPyFunc", "PyFuncStateless") or n.op.startswith("StatelessRandom")
        or "String" in n.op or n.op.startswith("Regex"))})


def _fed_as_the_adapter_feeds(function, args, kwargs):
    """`args` of an eager call of `function`, with its iterator replaced as the adapter feeds it when
    the function's graph reads the iterator inside a While loop (Keras' train_function with
    steps_per_execution > 1): the adapter marks the loop BUILTIN_LOOP and, per call, pushes
    npu_loop_size elements of the iterator to the device (npu_trans_resource_input_to_node_optimizer.cpp,
    npu_concrete_graph.cpp). A call whose loop reads more waits for ever on the device; here it fails
    at the first element it was not given. Other functions read their iterators as TensorFlow does."""
    from npu_device import _state
    iterators = [i for i, a in enumerate(args) if isinstance(a, iterator_ops.OwnedIterator)]
    if len(iterators) != 1:
        return args  # functions without an iterator are not inspected: the training step has one
    concrete = function.get_concrete_function(*args, **kwargs)
    if not hasattr(concrete, "_npu_double_loop_reads_iterator"):
        graph_def = concrete.graph.as_graph_def()
        concrete._npu_double_loop_reads_iterator = _loop_reads_iterator(graph_def)
        fallbacks = _host_fallbacks(graph_def)
        if fallbacks:
            from npu_device import record
            record("host_fallback", function=concrete.name.decode() if isinstance(concrete.name, bytes)
                   else str(concrete.name), ops=fallbacks)
    if not concrete._npu_double_loop_reads_iterator:
        return args
    args = list(args)
    args[iterators[0]] = _pushed(args[iterators[0]], _state["loop_size"])
    return tuple(args)


def _loop_reads_iterator(graph_def) -> bool:
    """Whether a While loop of the graph reads an iterator in its body (through the functions it calls)."""
    functions = {f.signature.name: f.node_def for f in graph_def.library.function}
    reads = {}

    def called(nodes):
        return [value.func.name for node in nodes for value in node.attr.values() if value.func.name] + \
            [f.name for node in nodes for value in node.attr.values() for f in value.list.func]

    def body_reads(name):
        if name not in reads:
            reads[name] = False  # a cycle reads nothing new
            nodes = functions.get(name, ())
            reads[name] = any(n.op == "IteratorGetNext" for n in nodes) or any(body_reads(f) for f in called(nodes))
        return reads[name]

    every_node = list(graph_def.node) + [n for nodes in functions.values() for n in nodes]
    return any(body_reads(n.attr["body"].func.name) for n in every_node if n.op in ("While", "StatelessWhile"))


def _pushed(iterator, loop_size):
    """An iterator of the next `loop_size` elements of `iterator`, then one that fails when read."""
    elements = []
    for _ in range(loop_size):
        try:
            elements.append(next(iterator))
        except StopIteration:
            break
    spec = iterator.element_spec
    starved = tf.data.Dataset.range(1).map(lambda _: _failing_element(spec, loop_size))
    if not elements:
        return iter(starved)
    stacked = tf.nest.map_structure(lambda *parts: tf.stack(parts), *elements)
    return iter(tf.data.Dataset.from_tensor_slices(stacked).concatenate(starved))


def _failing_element(spec, loop_size):
    message = ("npu_device double: this call's loop read more elements of its iterator than npu_loop_size=%d; the "
               "adapter pushes npu_loop_size elements per call, and the device would wait for ever (set_npu_loop_size)"
               % loop_size)
    with tf.control_dependencies([tf.debugging.Assert(False, [message])]):
        return tf.nest.map_structure(lambda s: tf.zeros(s.shape, s.dtype), spec)


def _patch_tensorflow():
    """As the adapter does: tf.function drops jit_compile, tf.device no longer moves work, and the
    Function class's __call__ is replaced (the adapter's inlines nested calls; the double's feeds
    loops over iterators as the adapter does)."""
    from tensorflow.python.eager import def_function
    tf.function = tf.compat.v2.function = def_function.function = npu_compat_function
    function_class = type(_original_function(lambda: None))
    call = function_class.__call__

    def fed_call(self, *args, **kwargs):
        if tf.executing_eagerly():
            args = _fed_as_the_adapter_feeds(self, args, kwargs)
        return call(self, *args, **kwargs)

    function_class.__call__ = fed_call

    @contextlib.contextmanager
    def device(name):
        yield

    tf.device = device
