"""Device and precision setup for CPU, GPU and NPU: the only module that imports npu_device or sets
a precision policy (train/build.py asks the Runtime it returns; launch.py reads only the launcher's
environment).

`setup` runs before any model is built and returns a small Runtime object that the rest of the
code asks for what differs between devices. One mixed-precision mechanism per device:

  device  --precision fp32                        --precision mixed
  cpu     float32                                 Keras mixed_bfloat16 (no loss scaling: bf16 has fp32's range)
  gpu     float32                                 Keras mixed_float16 + LossScaleOptimizer (dynamic)
  npu     float32 graph; the adapter's             Keras mixed_float16 + loss scaling; precision_mode stays
          precision_mode (default                  at its default unless set, so the two mechanisms are
          allow_fp32_to_fp16: the 910's cube       never stacked
          ops in fp16) gets loss scaling too,
          unless it keeps fp16 out
          (must_keep_origin_dtype, *_bf16)

On the NPU, loss scaling is npu NpuLossScaleOptimizer in the 910's saturation mode (an fp16 overflow
saturates instead of producing inf, so only the device's float status shows it; the optimizer
records its decision in last_step_finite), and Keras' own LossScaleOptimizer in INF/NaN mode (where
the NPU optimizer falls back to it and records nothing: npu_loss_scale_optimizer.py, apply_gradients).

In every case the batch norms, the critic's score and class heads, the losses and the gradient
penalty compute in float32.
"""
from __future__ import annotations

import contextlib
import dataclasses
import importlib.metadata
import json
import os
import random
from typing import Any, Callable, Optional, Tuple

import numpy as np
import tensorflow as tf

from splitgan_keras import compat, config as config_lib, launch, startup
from splitgan_keras.errors import UserError
from splitgan_keras.replicas import Replicas

POLICIES = {("cpu", "fp32"): "float32", ("cpu", "mixed"): "mixed_bfloat16",
            ("gpu", "fp32"): "float32", ("gpu", "mixed"): "mixed_float16",
            ("npu", "fp32"): "float32", ("npu", "mixed"): "mixed_float16"}

# precision_mode values that keep fp16 out of the step (the list in the adapter's configs/npu_config.py). Every
# other value, and the default when none is set (allow_fp32_to_fp16, Huawei's TF Adapter 2.x docs), computes the
# cube ops (convolutions, matmuls) in fp16 on the 910, whose small gradients then need loss scaling.
FP16_FREE_PRECISION_MODES = ("must_keep_origin_dtype", "allow_mix_precision_bf16", "allow_fp32_to_bf16")
# The adapter's installed distribution (tf_adapter_2.x/python/setup.py), whose version parity records carry: the
# module has no __version__.
NPU_DISTRIBUTION = "npu_device"

_CANN_HINT = ("source the CANN toolkit and TF plugin environments first, e.g. "
              "`source /usr/local/Ascend/ascend-toolkit/set_env.sh; source /usr/local/Ascend/tfplugin/set_env.sh` "
              "(CANN 8.x: `source /usr/local/Ascend/cann/set_env.sh`), in a Python with TensorFlow 2.6.5")


@dataclasses.dataclass(frozen=True)
class Runtime:
    device: str                   # "cpu" | "gpu" | "npu"
    policy: str                   # Keras mixed-precision policy name
    xla: bool = False             # compile the training step with XLA (jit_compile)
    loss_scale_optimizer: Optional[Callable[[Any], Any]] = None   # wraps an optimizer for loss scaling
    device_name: str = ""         # the NPU handle's device name, for logs
    host_scope: Callable[[], Any] = contextlib.nullcontext          # places ops on the host CPU
    adapter_version: str = ""     # npu_device's version on the NPU, for parity records
    overflow_mode: str = ""       # on the NPU: how the device reports fp16 overflows, and how that was learned
    replicas: Replicas = dataclasses.field(default_factory=Replicas)  # how an iteration is spread over devices

    def wrap_optimizer(self, optimizer):
        """The optimizer as the training step must use it on this device and precision."""
        return self.loss_scale_optimizer(optimizer) if self.loss_scale_optimizer else optimizer

    def describe(self) -> str:
        scaling = "dynamic, %s" % self.loss_scale_optimizer.__name__ if self.loss_scale_optimizer else "none"
        if self.overflow_mode:
            scaling += " (%s)" % self.overflow_mode
        return "device %s%s, policy %s, loss scaling %s%s%s" % (
            self.device, " (%s)" % self.device_name if self.device_name else "", self.policy, scaling,
            ", XLA" if self.xla else "", ", %s" % self.replicas.description if self.replicas.count > 1 else "")


def _resolve_device(requested: str) -> str:
    if requested == "auto":
        return "gpu" if tf.config.list_physical_devices("GPU") else "cpu"
    if requested == "gpu" and not tf.config.list_physical_devices("GPU"):
        raise UserError("--device gpu: TensorFlow sees no GPU on this machine (check the driver, "
                        "CUDA_VISIBLE_DEVICES, or `docker run --gpus all`); use --device cpu")
    return requested


def setup(cfg: config_lib.Config) -> Runtime:
    """Configures TensorFlow for cfg.runtime (and cfg.npu) and seeds every generator.

    Must run before any model is built: it sets the global mixed-precision policy, and on the
    NPU the adapter reads its options only once, when the device opens.
    """
    rt = cfg.runtime
    set_threads(rt.threads)
    device = _resolve_device(rt.device)
    if rt.xla and device == "npu":
        raise UserError("--xla is not available with --device npu: the Ascend adapter compiles every graph itself "
                        "and drops jit_compile")
    policy = POLICIES[(device, rt.precision)]
    if policy == "mixed_bfloat16" and not compat.cpu_bfloat16_convolutions():
        raise UserError("--precision mixed on the CPU (the mixed_bfloat16 policy) needs bfloat16 convolutions, "
                        "which TensorFlow %s does not run reliably on the CPU; use --precision fp32 here, or "
                        "TensorFlow 2.15" % tf.__version__)
    loss_scale, device_name, host_scope, adapter_version, overflow_mode = None, "", contextlib.nullcontext, "", ""
    if device == "npu":
        npu, handle = _open_npu(cfg.npu, rt.deterministic, rt.threads)
        device_name = handle.name()
        replicas = _npu_replicas(npu, handle, rt.replicas)
        adapter_version = _installed_version(NPU_DISTRIBUTION)
        # Keras' train_function reads its iterator inside a While when it runs k > 1 iterations per call; the
        # adapter marks such a loop BUILTIN_LOOP and pushes npu_loop_size elements of the iterator per call
        # (npu_trans_resource_input_to_node_optimizer.cpp, npu_concrete_graph.cpp): without this, a call of k
        # steps would wait for elements that never come. Huawei documents NPU_LOOP_SIZE as steps per loop.
        npu.set_npu_loop_size(rt.iterations_per_call)
        host_scope = _npu_host_scope
        if policy == "mixed_float16" or (cfg.npu.precision_mode or "") not in FP16_FREE_PRECISION_MODES:
            inf_nan, overflow_mode = read_overflow_mode(npu)
            loss_scale = (tf.keras.mixed_precision.LossScaleOptimizer if inf_nan
                          else npu.train.optimizer.NpuLossScaleOptimizer)
    else:
        gpus = tf.config.list_physical_devices("GPU")
        if device == "gpu":
            for gpu in gpus:
                tf.config.experimental.set_memory_growth(gpu, True)
        elif gpus:
            tf.config.set_visible_devices([], "GPU")
        host_scope = lambda: tf.device("/cpu:0")  # noqa: E731
        if policy == "mixed_float16":
            loss_scale = tf.keras.mixed_precision.LossScaleOptimizer  # dynamic scaling is its default
        if rt.deterministic:
            compat.enable_determinism()
        replicas = _strategy_replicas(device, rt.replicas, rt.collective_timeout)
    if rt.xla and replicas.count > 1:
        raise UserError("--xla runs one replica: it is not available with %s" % replicas.description)
    replicas.check_batches(cfg.train.batch_size, cfg.train.batch_size * cfg.train.gen_batch_multiple)
    replicas.bn_groups(cfg.train.bn_groups)  # checks that they fit
    tf.keras.mixed_precision.set_global_policy(policy)
    seed_everything(cfg.train.seed)
    return Runtime(device, policy, rt.xla, loss_scale, device_name, host_scope, adapter_version, overflow_mode,
                   replicas)


def read_overflow_mode(npu) -> Tuple[bool, str]:
    """Whether the NPU reports an fp16 overflow as INF/NaN (else it saturates to finite values, and
    only the float status shows it), and how that was learned, for the start line. The adapter has
    is_inf_nan_enabled from its branch r1.13, get_device_sat_mode on r1.12 only, and neither before;
    those older releases' NpuLossScaleOptimizer always reads the float status, as in saturation mode."""
    if hasattr(npu, "is_inf_nan_enabled"):
        inf_nan = bool(npu.is_inf_nan_enabled())
        return inf_nan, "%s mode, from npu.is_inf_nan_enabled()" % ("INF/NaN" if inf_nan else "saturation")
    if hasattr(npu, "get_device_sat_mode"):
        mode = npu.get_device_sat_mode()
        if mode in (0, 1):
            return mode == 1, "%s mode, from npu.get_device_sat_mode()" % ("INF/NaN" if mode else "saturation")
        return False, "saturation mode assumed: npu.get_device_sat_mode() failed (%r)" % (mode,)
    return False, "saturation mode assumed: this adapter (before r1.12) reports none, and reads the float status"


def _npu_replicas(npu, handle, requested: int) -> Replicas:
    """One process per NPU: the rank size and rank come from the adapter (RANK_SIZE, RANK_ID with
    RANK_TABLE_FILE, or the CM_* variables, as Huawei documents)."""
    size, rank = int(handle.workers_num), int(handle.worker_id)
    if requested not in (0, size):
        raise UserError("--replicas %d on the NPU: the job has RANK_SIZE=%d processes, one replica each; leave "
                        "--replicas out" % (requested, size))
    if size == 1:
        return Replicas()
    return Replicas(size, (rank,), hccl=npu.distribute, is_chief=rank == 0,
                    description="%d NPU ranks (this is rank %d), HCCL" % (size, rank))


def _logical_cpus(count: int) -> list:
    """Names of `count` logical CPU devices, splitting the physical CPU if TensorFlow has not started yet."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
    except RuntimeError:  # already initialised: use what it has
        pass
    names = [d.name for d in tf.config.list_logical_devices("CPU")]
    if len(names) < count:
        raise UserError("--replicas %d on the CPU needs %d logical CPU devices, and TensorFlow started with %d before "
                        "they could be made" % (count, count, len(names)))
    return names[:count]


def _strategy_replicas(device: str, requested: int, timeout: int) -> Replicas:
    """A tf.distribute strategy for several GPUs, logical CPUs or hosts (TF_CONFIG), or one replica."""
    tf_config = launch.tf_config()  # checked here: TensorFlow's own parser fails with a traceback
    if tf_config is not None:
        task = tf_config["task"]
        others = [t for t in launch.task_addresses(tf_config) if t[:2] != (task["type"], task.get("index", 0))]
        compat.without_coordination_service()
        with startup.bounded(others, timeout):
            # Said once the watcher holds SIGTERM and SIGINT: from this line on they end the wait.
            print("waiting up to %d s for the job's other tasks (%s)"
                  % (timeout, ", ".join("%s %d" % t[:2] for t in others)), flush=True)
            options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=timeout)
            strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
            # The first collective: it returns once every task has joined.
            strategy.reduce(tf.distribute.ReduceOp.SUM, strategy.run(lambda: tf.constant(1.0)), axis=None)
        resolver = strategy.cluster_resolver
        spec = resolver.cluster_spec().as_dict()
        chief = launch.is_chief_task(resolver.task_type, resolver.task_id, spec)
        count = strategy.num_replicas_in_sync
        if requested not in (0, count):
            raise UserError("--replicas %d: TF_CONFIG's cluster has %d replicas; leave --replicas out"
                            % (requested, count))
        processes = sum(len(v) for v in spec.values())
        return Replicas(count, (), strategy, is_chief=chief, description="%d replicas in %d processes (TF_CONFIG, "
                        "this is %s %d)" % (count, processes, resolver.task_type, resolver.task_id))
    if device == "gpu":
        gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
        count = requested or len(gpus)
        if count > len(gpus):
            raise UserError("--replicas %d: TensorFlow sees %d GPU(s)" % (count, len(gpus)))
        names = gpus[:count]
    else:
        count = requested or 1
        names = _logical_cpus(count) if count > 1 else []
    if count == 1:
        return Replicas()
    return Replicas(count, tuple(range(count)), tf.distribute.MirroredStrategy(names),
                    description="%d replicas (MirroredStrategy on %s)" % (count, ", ".join(names)))


def _npu_host_scope():
    # On the NPU tf.device is a no-op; the adapter documents eager context.device for host placement.
    from tensorflow.python.eager import context
    return context.device("cpu:0")


def _set_option(target, name: str, value, flag: str) -> None:
    try:
        setattr(target, name, value)
    except (ValueError, TypeError) as e:
        raise UserError("%s: the Ascend adapter refused %s=%r: %s" % (flag, name, value, e))


def _installed_version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown (no %s distribution installed)" % distribution


def _open_npu(npu_cfg, deterministic: bool, threads: int):
    """Imports npu_device, sets its global options, then opens the device (the adapter's order).

    Returns:
      (the npu_device module, the open device handle).
    """
    try:
        import npu_device as npu
    except ImportError as e:
        raise UserError("--device npu: cannot import npu_device (%s); %s" % (e, _CANN_HINT))
    except tf.errors.NotFoundError as e:  # its op library was built for another TensorFlow
        raise UserError("--device npu: npu_device's op library does not load into TensorFlow %s (%s); install the "
                        "TF plugin built for this TensorFlow (2.6.5), and %s"
                        % (tf.__version__, str(e).strip().splitlines()[0][:200], _CANN_HINT))
    options = npu.global_options()
    if npu_cfg.precision_mode:
        _set_option(options, "precision_mode", npu_cfg.precision_mode, "--npu-precision-mode")
    if npu_cfg.mixlist_file:
        if not os.path.isfile(npu_cfg.mixlist_file):
            raise UserError("--mixlist-file %s does not exist" % npu_cfg.mixlist_file)
        _set_option(options, "modify_mixlist", npu_cfg.mixlist_file, "--mixlist-file")
    if npu_cfg.fusion_off_file:
        if not os.path.isfile(npu_cfg.fusion_off_file):
            raise UserError("--fusion-off-file %s does not exist" % npu_cfg.fusion_off_file)
        _set_option(options, "fusion_switch_file", npu_cfg.fusion_off_file, "--fusion-off-file")
    dump = options.dump_config
    if npu_cfg.data_dump:
        _set_option(dump, "enable_dump", True, "--data-dump")
        _set_option(dump, "dump_path", _ensure_dir(npu_cfg.dump_path, "--dump-path"), "--dump-path")
        _set_option(dump, "dump_step", npu_cfg.data_dump_step, "--data-dump-step")
        _set_option(dump, "dump_mode", "all", "--data-dump")
    if npu_cfg.overflow_dump:
        _set_option(dump, "enable_dump_debug", True, "--overflow-dump")
        _set_option(dump, "dump_path", _ensure_dir(npu_cfg.dump_path, "--dump-path"), "--dump-path")
        _set_option(dump, "dump_debug_mode", "all", "--overflow-dump")
    if npu_cfg.profiling:
        profiling_dir = _ensure_dir(npu_cfg.profiling_dir, "--profiling-dir")
        _set_option(options.profiling_config, "enable_profiling", True, "--profiling")
        _set_option(options.profiling_config, "profiling_options", json.dumps({
            "output": profiling_dir, "training_trace": "on", "task_trace": "on", "aicpu": "on",
            "aic_metrics": "PipeUtilization", "fp_point": "", "bp_point": ""}), "--profiling")
    if deterministic:
        if not hasattr(options, "deterministic"):
            raise UserError("--deterministic (and --parity-record) on the NPU need the adapter's deterministic option, "
                            "which npu_device has from its branch r1.12.0 on; the installed one (%s) has none: update "
                            "the CANN TF plugin, or leave --deterministic out" % _installed_version(NPU_DISTRIBUTION))
        _set_option(options, "deterministic", 1, "--deterministic")
    if threads:
        # open() replaces TensorFlow's eager context with its own, whose thread pools take their size from these
        # variables (TensorFlow reads them when the new context starts): the settings of the old context are lost.
        os.environ["TF_NUM_INTRAOP_THREADS"] = os.environ["TF_NUM_INTEROP_THREADS"] = str(threads)
    for note in launch.hccl_timeout_notes():
        print(note, flush=True)
    try:  # the device id comes from ASCEND_DEVICE_ID and the ranks from RANK_* or CM_*, as the adapter reads them
        handle = npu.open().as_default()
    except (RuntimeError, ValueError) as e:
        raise UserError("--device npu: the adapter could not open device %s (%s); check ASCEND_DEVICE_ID, and for "
                        "several devices RANK_SIZE, RANK_ID and RANK_TABLE_FILE, or the CM_* variables "
                        "(docs/devices.md: Ascend NPU)" % (os.environ.get("ASCEND_DEVICE_ID", "0"), e))
    return npu, handle


def _ensure_dir(path: str, flag: str) -> str:
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        raise UserError("%s %s: cannot create the folder (%s)" % (flag, path, e))
    return os.path.abspath(path)


def set_threads(threads: int) -> None:
    """Sizes TensorFlow's intra- and inter-op thread pools (0: its default, one thread per core the
    process may use). How a kernel splits its sums follows the pool's size, so two thread counts
    give two float trajectories, and a GAN's grow apart; a fixed count repeats a run whatever the
    cores. The pools are built once per process, with TensorFlow's context."""
    if threads == tf.config.threading.get_intra_op_parallelism_threads() == \
            tf.config.threading.get_inter_op_parallelism_threads():
        return
    try:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # TensorFlow's context already runs: its pools keep their size
        current = tf.config.threading.get_intra_op_parallelism_threads()
        raise UserError("--threads %d: this process already runs TensorFlow with %s, and its thread pools cannot be "
                        "resized; give every run in one process the same --threads"
                        % (threads, "%d threads" % current if current else "its default thread count"))


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    tf.random.set_seed(seed)



def pad_batch(array: np.ndarray, size: int) -> np.ndarray:
    """`array` [n, ...] with zero rows appended up to [size, ...]. Graphs are traced for one static
    batch shape (the NPU compiles one graph per shape), so the last, short batch is padded."""
    if len(array) == size:
        return array
    return np.concatenate([array, np.zeros((size - len(array),) + array.shape[1:], array.dtype)])
