"""The run configuration: frozen dataclass sections, JSON/flag overrides, validation.

Every field carries its help text and, where users set it often, its command-line flag, so that
`train.py`'s parser and every error message come from this one table. Overrides are diffs: a
JSON file or flags name only the keys they change, and unknown keys or wrong types are errors.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import typing
from typing import Any, Dict, List, Mapping, Optional, Tuple

from splitgan_keras import dataset_names, json_input, metric_names
from splitgan_keras.errors import UserError, shown

MAX_SEED = 2 ** 31 - 1  # seeds go to numpy, Python and TensorFlow, which all take this range
MAX_TEXT_CHARS = 4096  # a text setting is a path or a name: Linux's PATH_MAX
MAX_LIST_ITEMS = 1000  # a list setting (metrics, split iterations) holds a few dozen


def user_cache_dir() -> str:
    """The project's cache (FID statistics, downloaded TF-Hub modules): $SPLITGAN_CACHE, or
    ~/.cache/splitgan-keras."""
    return os.environ.get("SPLITGAN_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "splitgan-keras"))


def option(default, help: str, flag=None, choices: Optional[Tuple[str, ...]] = None, metavar: Optional[str] = None,
         limits: Optional[Tuple[float, float]] = None):
    """A config field. `flag`: its command-line flag, or a tuple of the flag and its aliases;
    `metavar`: how --help names its value (default: from its type); `limits`: the least and the
    greatest value that makes sense (inclusive), so that a typo fails before it allocates."""
    flags = (flag,) if isinstance(flag, str) else tuple(flag or ())
    return dataclasses.field(default=default, metadata={"help": help, "flags": flags, "choices": choices,
                                                        "metavar": metavar, "limits": limits})


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    width: int = option(128, "channels of generator and critic (ResNet-A 128, ResNet-B 256)", "--width",
                        limits=(1, 4096))
    image_size: int = option(
        32, "image side in pixels, a multiple of 8 (CIFAR-10 32); the generator starts at image_size/8",
        "--image-size", limits=(8, 1024))


@dataclasses.dataclass(frozen=True)
class DataConfig:
    dataset: str = option("builtin", dataset_names.help_text(), "--dataset", dataset_names.names())
    data_dir: Optional[str] = option(None, dataset_names.data_dir_help(), "--data-dir", metavar="PATH")
    builtin_size: int = option(10000, "number of images of the built-in procedural dataset", "--builtin-size",
                               limits=(1, 10 ** 7))
    builtin_seed: int = option(0, "seed of the built-in dataset (independent of the training seed)",
                               limits=(0, MAX_SEED))
    builtin_labels: str = option(
        "colour", "labels of the built-in dataset: colour (10 classes), or colour_and_kind (20 classes: colour c's "
                  "blobs are class c, its stripes class 10 + c; the ablation's oracle)",
        choices=("colour", "colour_and_kind"))


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    iterations: int = option(
        100000, "generator iterations; the learning rate decays linearly to 0 over them", "--iterations",
        limits=(1, 10 ** 9))
    batch_size: int = option(64, "critic batch size (real images per critic step)", "--batch-size", limits=(1, 65536))
    gen_batch_multiple: int = option(2, "generator-step batch = gen_batch_multiple * batch_size", limits=(1, 64))
    bn_groups: int = option(
        2, "every generator batch runs as this many groups with their own batch-norm statistics "
           "(the original's two-device split)", limits=(1, 1024))
    n_critic: int = option(5, "critic steps per generator step", "--n-critic", limits=(1, 1000))
    learning_rate: float = option(2e-4, "initial Adam learning rate of both networks", "--learning-rate",
                                  limits=(0, 10))
    adam_beta1: float = option(0.0, "Adam beta1 of both networks")
    adam_beta2: float = option(0.9, "Adam beta2 of both networks")
    adam_epsilon: float = option(1e-8, "Adam epsilon (the TF1 default the original ran with)", limits=(0, 1))
    gp_weight: float = option(10.0, "weight of the WGAN-GP gradient penalty", limits=(0, 1e6))
    acgan_scale: float = option(1.0, "weight of the critic's class loss on real images", limits=(0, 1e6))
    acgan_scale_g: float = option(0.1, "weight of the generator's class loss", limits=(0, 1e6))
    seed: int = option(0, "seed of the initial weights, all sampled noise and the data order", "--seed",
                       limits=(0, MAX_SEED))
    ema_decay: float = option(
        0.0, "keep an exponential moving average of the generator's weights with this decay per generator step, and "
             "use it for samples, evaluation and export (0: off, as the original; e.g. 0.999)", "--ema-decay")


@dataclasses.dataclass(frozen=True)
class SplitConfig:
    split_at: Tuple[int, ...] = option(
        (), "split the classes after these iterations, numbered from 0 as the original counts "
            "(supervised CIFAR-10: 15620)", "--split-at")
    split_above: int = option(2000, "split only the classes with more images than this", "--split-above",
                                 limits=(1, 10 ** 9))
    unsupervised: bool = option(False, "ignore the data set's labels: start from one class", "--unsupervised")
    feature_norm: str = option("batch", "normalisation of the critic features before k-means: batch (the original: "
                                        "each feature over groups of batch_size images) or image (each image's vector)",
                               None, ("batch", "image"))
    feature_blocks: int = option(4, "the split clusters the critic's features after this many of its 4 blocks: 4, "
                                    "the features its heads read (the original), or fewer (docs/faithfulness.md)",
                                 limits=(1, 4))


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    every: int = option(0, "compute the metrics every N iterations (0: never; the original: 1000)", "--eval-every",
                        limits=(0, 10 ** 9))
    metrics: Tuple[str, ...] = option(
        ("is50k",), "metrics in training, by protocol name: %s (eval.py --help says what each is); the original: "
                    "is50k" % ", ".join(kind.pattern() for kind in metric_names.KINDS), ("--metrics", "--eval-metrics"))
    inception: Optional[str] = option(None, "folder of tfgan's Inception module (default: its TF-Hub handle, which "
                                            "needs network)", "--inception", metavar="DIR")
    best_after: int = option(10000, "keep the checkpoint with the best Inception Score seen after this many "
                                    "iterations (the original: 10000)", limits=(0, 10 ** 9))
    cache_dir: Optional[str] = option(None, "cache of FID real statistics (default: $SPLITGAN_CACHE or "
                                            "~/.cache/splitgan-keras)", "--cache-dir", metavar="DIR")


@dataclasses.dataclass(frozen=True)
class RuntimeConfig:
    device: str = option("auto", "where to train", "--device", ("auto", "cpu", "gpu", "npu"))
    precision: str = option("fp32", "fp32, or mixed precision as the device supports it (README: Devices)",
                            "--precision", ("fp32", "mixed"))
    xla: bool = option(False, "compile the training step with XLA (CPU and GPU)", "--xla")
    iterations_per_call: int = option(
        1, "training iterations per tf.function call (Keras steps_per_execution); fewer calls save host overhead "
           "(on the NPU the adapter's loop size is set to it, so that each call is given its k batches). Intervals, "
           "splits and --iterations must be multiples of it",
        "--iterations-per-call", limits=(1, 10 ** 6))
    deterministic: bool = option(False, "deterministic ops (TensorFlow's op determinism; on the NPU the adapter's "
                                        "deterministic option)", "--deterministic")
    threads: int = option(
        0, "TensorFlow's host thread pools (intra- and inter-op): 0 = its default, one thread per core the process may "
           "use. A run's numbers follow the thread count (it orders the float sums), so a fixed count repeats them on "
           "a machine or a taskset with another number of cores", "--threads", limits=(0, 1024))
    replicas: int = option(
        0, "data-parallel replicas, each on its shard of every batch: 0 = every visible GPU with --device gpu, else "
           "one; N = that many (on the CPU, N logical devices). Several hosts: TF_CONFIG; Ascend: one process per NPU "
           "(RANK_SIZE, scripts/train_npu_8p.sh)", "--replicas", limits=(0, 4096))
    collective_timeout: int = option(300, "seconds a replica waits for the others before the run stops with an error "
                                          "(a process that died)", limits=(1, 10 ** 6))


@dataclasses.dataclass(frozen=True)
class NpuConfig:
    """Ascend adapter switches (--device npu), named as in Huawei's ModelZoo scripts."""
    precision_mode: Optional[str] = option(
        None, "the adapter's precision_mode (e.g. allow_mix_precision, must_keep_origin_dtype); default: the "
              "adapter's own (allow_fp32_to_fp16), which the mixed policy needs. Modes that compute in fp16 get loss "
              "scaling", ("--npu-precision-mode", "--precision_mode"))
    mixlist_file: Optional[str] = option(None, "JSON mixlist for the adapter's modify_mixlist",
                                         ("--mixlist-file", "--mixlist_file"))
    fusion_off_file: Optional[str] = option(None, "fusion switch file for the adapter's fusion_switch_file",
                                            ("--fusion-off-file", "--fusion_off_file"))
    data_dump: bool = option(False, "dump operator data at --data-dump-step", ("--data-dump", "--data_dump_flag"))
    data_dump_step: str = option("10", "steps to dump, e.g. 0|5|10 or 0|3-5", ("--data-dump-step", "--data_dump_step"))
    overflow_dump: bool = option(False, "dump operators that overflow", ("--overflow-dump", "--over_dump"))
    dump_path: str = option("npu_dump", "folder for data and overflow dumps",
                            ("--dump-path", "--data_dump_path", "--over_dump_path"))
    profiling: bool = option(False, "profile with the adapter's profiler", "--profiling")
    profiling_dir: str = option("npu_profiling", "folder for profiling output",
                                ("--profiling-dir", "--profiling_dump_path"))


@dataclasses.dataclass(frozen=True)
class OutputConfig:
    run_dir: str = option("runs/splitgan", "folder for config, checkpoints, samples, logs, export", "--run-dir")
    checkpoint_every: int = option(1000, "save a checkpoint every N iterations (and at the end); 0: end only",
                                   "--checkpoint-every", limits=(0, 10 ** 9))
    keep_checkpoints: int = option(3, "how many recent checkpoints to keep", limits=(1, 10 ** 4))
    sample_every: int = option(100, "write per-class sample grids every N iterations (and at the end); 0: end only",
                               "--sample-every", limits=(0, 10 ** 9))
    samples_per_class: int = option(10, "images per class in the sample grids", limits=(1, 1000))
    log_every: int = option(10, "TensorBoard scalars and the progress line every N iterations", "--log-every",
                            limits=(0, 10 ** 9))


@dataclasses.dataclass(frozen=True)
class Config:
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    split: SplitConfig = dataclasses.field(default_factory=SplitConfig)
    eval: EvalConfig = dataclasses.field(default_factory=EvalConfig)
    runtime: RuntimeConfig = dataclasses.field(default_factory=RuntimeConfig)
    npu: NpuConfig = dataclasses.field(default_factory=NpuConfig)
    output: OutputConfig = dataclasses.field(default_factory=OutputConfig)


# (origin name, {dotted key: value}) in increasing precedence: a config file, then --set, then the flags
# (cli.flags.overrides; a --set and a flag that set one key to two values are refused).
Overrides = List[Tuple[str, Mapping[str, Any]]]

# Sections a resumed run may change: they do not alter what is trained.
RESUMABLE_SECTIONS = ("eval", "runtime", "npu", "output")


def sections(cfg_type=Config):
    """Yields (section name, section dataclass type) of the root config."""
    hints = typing.get_type_hints(cfg_type)
    for f in dataclasses.fields(cfg_type):
        yield f.name, hints[f.name]


def fields(section_type):
    """Yields (field, resolved type) of one section."""
    hints = typing.get_type_hints(section_type)
    for f in dataclasses.fields(section_type):
        yield f, hints[f.name]


def describe(key: str) -> str:
    """How a user names a key: its flag and dotted key, e.g. "--batch-size (train.batch_size)"."""
    section, name = key.split(".")
    for f, _ in fields(dict(sections())[section]):
        if f.name == name and f.metadata["flags"]:
            return "%s (%s)" % (f.metadata["flags"][0], key)
    return key


def to_dict(cfg: Config) -> Dict[str, Dict[str, Any]]:
    """The nested plain-JSON form of a config (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(cfg)))


def _coerce(value: Any, tp, key: str, origin: str):
    """Checks `value` against the annotation `tp`; returns it in the field's own type."""
    generic = getattr(tp, "__origin__", None)
    args = getattr(tp, "__args__", ())
    if generic is typing.Union and type(None) in args:  # Optional[X]
        if value is None:
            return None
        return _coerce(value, next(a for a in args if a is not type(None)), key, origin)
    if generic in (tuple, Tuple):
        if isinstance(value, (list, tuple)):
            if len(value) > MAX_LIST_ITEMS:
                raise UserError("%s in %s: %d items, more than the %d any setting takes"
                                % (describe(key), origin, len(value), MAX_LIST_ITEMS))
            return tuple(_coerce(v, args[0], key, origin) for v in value)
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool) and abs(value) < _HUGE:
            if not math.isfinite(float(value)):
                raise UserError("%s in %s: expected a finite number, got %s" % (describe(key), origin, shown(value)))
            return float(value)
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) < _HUGE:
            return value
    elif tp is str:
        if isinstance(value, str):
            if len(value) > MAX_TEXT_CHARS:  # a path or a name; the OS refuses longer paths, less clearly
                raise UserError("%s in %s: %s is %d characters long; at most %d"
                                % (describe(key), origin, shown(value), len(value), MAX_TEXT_CHARS))
            if "\x00" in value:  # no path or name holds one; the OS would refuse it later, less clearly
                raise UserError("%s in %s: %s holds a NUL character" % (describe(key), origin, shown(value)))
            return value
    elif isinstance(value, tp):
        return value
    raise UserError("%s in %s: expected %s, got %s" % (describe(key), origin, _type_name(tp), shown(value)))


_HUGE = 2 ** 63  # no setting needs more, and TensorFlow's integers stop there


def _type_name(tp) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def with_overrides(cfg: Config, overrides: Mapping[str, Any], origin: str) -> Config:
    """Returns `cfg` with dotted keys replaced, e.g. {"train.batch_size": 32}.

    Raises UserError naming `origin` for an unknown key, a wrong type or a value outside the
    field's choices.
    """
    by_section: Dict[str, Dict[str, Any]] = {}
    section_types = dict(sections())
    for key, value in overrides.items():
        section, _, name = key.partition(".")
        if section not in section_types:
            raise UserError("unknown configuration key %s in %s (sections: %s)"
                            % (shown(key), origin, ", ".join(section_types)))
        known = {f.name: (f, tp) for f, tp in fields(section_types[section])}
        if name not in known:
            raise UserError("unknown configuration key %s in %s (%s has: %s)"
                            % (shown(key), origin, section, ", ".join(known)))
        f, tp = known[name]
        value = _coerce(value, tp, key, origin)
        choices = f.metadata["choices"]
        if choices and value not in choices:
            raise UserError("%s in %s: %s is not one of %s" % (describe(key), origin, shown(value), ", ".join(choices)))
        by_section.setdefault(section, {})[name] = value
    return dataclasses.replace(cfg, **{
        s: dataclasses.replace(getattr(cfg, s), **changes) for s, changes in by_section.items()})


def flatten(nested: Mapping[str, Any], origin: str) -> Dict[str, Any]:
    """{"train": {"batch_size": 8}} -> {"train.batch_size": 8}."""
    flat = {}
    for section, values in nested.items():
        if not isinstance(values, Mapping):
            raise UserError("%s: %s must be a section object such as {\"batch_size\": 64}" % (origin, shown(section)))
        for name, value in values.items():
            flat["%s.%s" % (section, name)] = value
    return flat


# Keys renamed since configs were first saved: old name -> new name.
_RENAMED_KEYS = {"split.min_split_size": "split.split_above"}


def _from_legacy(flat: Dict[str, Any]) -> Dict[str, Any]:
    """Keys of a config written before their present names (_RENAMED_KEYS), or before the metrics had protocol
    names: eval.samples and kind names (is, fid, ...) in eval.metrics become protocol names (is50000, ...)."""
    flat = {_RENAMED_KEYS.get(key, key): value for key, value in flat.items()}
    samples, metrics = flat.get("eval.samples"), flat.get("eval.metrics", ("is",))
    if not isinstance(samples, int) or not isinstance(metrics, (list, tuple)) or \
            not all(isinstance(m, str) for m in metrics):
        return flat  # nothing to translate, or not what a config of ours held: the checks name the key
    flat = {k: v for k, v in flat.items() if k != "eval.samples"}
    flat["eval.metrics"] = metric_names.from_legacy(metrics, samples)
    return flat


def read_json(path: str) -> Dict[str, Any]:
    """Reads a JSON config file (nested sections); errors name the file."""
    if not os.path.isfile(path):
        raise UserError("config file %s does not exist" % path)
    data = json_input.read(path, "config file")
    if not isinstance(data, dict):
        raise UserError("config file %s must hold a JSON object of sections" % path)
    return _from_legacy(flatten(data, "config file %s" % path))


def from_dict(nested: Mapping[str, Any], origin: str) -> Config:
    """A full config from its nested JSON form (missing keys keep their defaults)."""
    return with_overrides(Config(), _from_legacy(flatten(nested, origin)), origin)


def run_dir_of(overrides: Overrides) -> str:
    """The run dir that the overrides ask for (the default's, if none does)."""
    run_dir = OutputConfig().run_dir
    for _, values in overrides:
        run_dir = values.get("output.run_dir", run_dir)
    return run_dir


def resolve(overrides: Overrides, saved: Optional[Config] = None, saved_from: str = "") -> Config:
    """The configuration of a run: the defaults, or `saved` (a resumed run's configuration, read
    from the file `saved_from`), with each layer of overrides applied in turn. Reads nothing.

    A resumed run may change only the sections in RESUMABLE_SECTIONS; any other key must repeat
    the saved value, else UserError names the key, both values and the layer that asked.
    """
    if saved is None:
        cfg = Config()
        for origin, values in overrides:
            cfg = with_overrides(cfg, values, origin)
        return cfg
    # What the layers ask for together (a later layer wins, e.g. --set over the config file), and
    # for each key the layer that has the last word.
    requested, last_word = saved, {}
    for origin, values in overrides:
        requested = with_overrides(requested, values, origin)
        last_word.update((key, origin) for key in values)
    cfg = saved
    for key, origin in last_word.items():
        section, name = key.split(".")
        new, old = getattr(getattr(requested, section), name), getattr(getattr(saved, section), name)
        if section in RESUMABLE_SECTIONS:
            cfg = with_overrides(cfg, {key: new}, origin)
        elif new != old:
            raise UserError(
                "%s is %s in %s, but the run in %s was made with %s (%s); a resumed run keeps its "
                "configuration except %s. Leave it out, or start a new --run-dir"
                % (describe(key), shown(new), origin, os.path.dirname(saved_from), shown(old), saved_from,
                   ", ".join(s + ".*" for s in RESUMABLE_SECTIONS)))
    return cfg
