"""Whether a configuration makes sense: each setting within its limits, and the cross-field
checks of a run's Config and of an eval.py job. Each failure is a UserError naming the flag."""
from __future__ import annotations

import dataclasses
import os
import re

from splitgan_keras import dataset_names, inception_module, metric_names
from splitgan_keras.config import Config, describe, sections
from splitgan_keras.errors import UserError
from splitgan_keras.eval_job import EvalJob

MAX_BUILTIN_BYTES = 8 * 2 ** 30  # the built-in dataset's images, uint8 in memory
SAMPLE_FILE = re.compile(r"class\d+_\d+\.png")  # eval.py --out DIR's files: a folder of only these may be replaced


def _check_limits(section, name_of) -> None:
    """Raises UserError for a field of `section` outside its limits; name_of(field) names it."""
    for f in dataclasses.fields(section):
        value, limits = getattr(section, f.name), f.metadata.get("limits")  # None: a nested section
        if limits and value is not None and not limits[0] <= value <= limits[1]:
            raise UserError("%s must lie in %s..%s, got %s" % (
                name_of(f), format_number(limits[0]), format_number(limits[1]), format_number(value)))


def format_number(value) -> str:
    """A limit or value as the messages show it: 7, 1e+06, 0.5."""
    return "%d" % value if isinstance(value, int) else "%g" % value


def validate_evaluation(job: EvalJob) -> None:
    """Cross-field checks of an eval.py job. Raises UserError naming the flag."""
    _check_limits(job, lambda f: f.metadata["flags"][0] if f.metadata["flags"] else f.name)
    for flag, path in (("--grid", job.grid), ("--json", job.json_path), ("--class-chart", job.class_chart)):
        if path is not None and os.path.isdir(path):
            raise UserError("%s %s is a folder; name the file to write" % (flag, path))
    if job.out is not None and os.path.isdir(job.out):
        others = sorted(name for name in os.listdir(job.out) if not SAMPLE_FILE.fullmatch(name))
        if others:
            raise UserError("--out %s is a folder that holds other files (%s), which writing the samples there would "
                            "replace; name a new or empty folder, or FILE.npz" % (job.out, ", ".join(others[:5])))
    if job.export_to is not None and os.path.exists(job.export_to) and not _replaceable_export(job.export_to):
        raise UserError("--export-to %s exists and is not an exported generator, which would be replaced whole; "
                        "name a new folder" % job.export_to)
    if (job.samples is None) != (job.out is None):
        raise UserError("--samples N and --out FILE.npz|DIR go together")
    if job.classes and job.samples is None:
        raise UserError("--classes %s chooses the classes of --samples N --out FILE.npz|DIR; add them"
                        % ",".join(map(str, job.classes)))
    if len(set(job.classes)) != len(job.classes) or any(c < 0 for c in job.classes):
        raise UserError("--classes must list distinct class numbers from 0, got %s" % ",".join(map(str, job.classes)))
    if job.samples is not None and job.samples < 1:
        raise UserError("--samples must be at least 1, got %d" % job.samples)
    if job.per_class < 1:
        raise UserError("--per-class must be at least 1, got %d" % job.per_class)
    metrics = metric_names.parse_all(job.metrics)
    if job.eval.inception and metric_names.INCEPTION in metric_names.needed(metrics):
        inception_module.check_folder(job.eval.inception)  # before TensorFlow loads
    if job.real is not None and (not metrics or job.grid or job.out or job.export_to):
        raise UserError("--real %s scores real images with --metrics, and only that (no --grid, --samples/--out or "
                        "--export-to)" % job.real)
    if job.class_chart is not None and not any(m.kind.class_table for m in metrics):
        raise UserError("--class-chart draws the figures of a per-class metric; add one to --metrics, e.g. %s"
                        % metric_names.IFID.example())


def _replaceable_export(path: str) -> bool:
    """An earlier export (a SavedModel folder) or an empty folder: what --export-to may replace."""
    return os.path.isdir(path) and (not os.listdir(path) or os.path.isfile(os.path.join(path, "saved_model.pb")))


def validate(cfg: Config) -> None:
    """Cross-field checks, before anything is built. Raises UserError naming the flag."""
    m, d, t, s, o = cfg.model, cfg.data, cfg.train, cfg.split, cfg.output

    def need(ok: bool, key: str, what: str):
        if not ok:
            raise UserError("%s %s" % (describe(key), what))

    need(m.width >= 1, "model.width", "must be at least 1, got %d" % m.width)
    need(m.image_size >= 8 and m.image_size % 8 == 0, "model.image_size",
         "must be a positive multiple of 8 (three 2x upsamplings from image_size/8), got %d" % m.image_size)
    dataset = dataset_names.spec(d.dataset)
    if dataset.data_dir:
        need(d.data_dir is not None, "data.data_dir",
             "is required for --dataset %s: %s" % (d.dataset, dataset.data_dir))
    else:
        readers = " or ".join(spec.name for spec in dataset_names.reading_files())
        need(d.data_dir is None, "data.data_dir",
             "%s is for --dataset %s, and --dataset is %s: add --dataset %s, or leave --data-dir out to train on %s"
             % (d.data_dir, readers, d.dataset, readers, dataset.help))
    if dataset.image_size is not None:
        need(m.image_size == dataset.image_size, "model.image_size",
             "must be %d for --dataset %s (%s), got %d" % (dataset.image_size, d.dataset, dataset.help, m.image_size))
    need(d.builtin_size >= 1, "data.builtin_size", "must be at least 1, got %d" % d.builtin_size)
    need(t.iterations >= 1, "train.iterations", "must be at least 1, got %d" % t.iterations)
    need(t.n_critic >= 1, "train.n_critic", "must be at least 1, got %d" % t.n_critic)
    need(t.bn_groups >= 1, "train.bn_groups", "must be at least 1, got %d" % t.bn_groups)
    need(t.gen_batch_multiple >= 1, "train.gen_batch_multiple", "must be at least 1")
    need(t.batch_size >= 1 and t.batch_size % t.bn_groups == 0, "train.batch_size",
         "must be a positive multiple of train.bn_groups=%d (the critic's fakes are generated in %d groups), "
         "got %d" % (t.bn_groups, t.bn_groups, t.batch_size))
    need(t.learning_rate > 0, "train.learning_rate", "must be positive")
    need(t.adam_epsilon > 0, "train.adam_epsilon", "must be positive (Adam divides by it), got %g" % t.adam_epsilon)
    need(0 <= t.ema_decay < 1, "train.ema_decay", "must lie in [0, 1) (0: off), got %g" % t.ema_decay)
    need(0 <= t.adam_beta1 < 1 and 0 <= t.adam_beta2 < 1, "train.adam_beta2", "Adam betas must lie in [0, 1)")
    need(list(s.split_at) == sorted(set(s.split_at)) and all(0 <= i for i in s.split_at), "split.split_at",
         "must list distinct iterations in increasing order, got %s" % list(s.split_at))
    need(all(i < t.iterations for i in s.split_at), "split.split_at",
         "%s lies beyond the run (--iterations %d: iterations 0..%d)" % (list(s.split_at), t.iterations, t.iterations - 1))
    need(s.split_above >= 1, "split.split_above", "must be at least 1 (k-means needs two images)")
    e = cfg.eval
    need(e.every >= 0, "eval.every", "must be 0 or more")
    need(bool(e.metrics), "eval.metrics", "must name at least one metric, e.g. is50k")
    try:
        metric_names.parse_all(e.metrics)
    except UserError as error:
        raise UserError("%s: %s" % (describe("eval.metrics"), error))
    if d.builtin_labels != "colour":
        need(d.dataset == "builtin", "data.builtin_labels", "is for --dataset builtin, and --dataset is %s" % d.dataset)
        need(not s.unsupervised, "data.builtin_labels",
             "%s makes no sense with --unsupervised, which ignores the labels" % d.builtin_labels)
    for key in ("checkpoint_every", "sample_every", "log_every"):
        need(getattr(o, key) >= 0, "output." + key, "must be 0 or more")
    need(cfg.runtime.replicas >= 0, "runtime.replicas", "must be 0 (automatic) or more, got %d" % cfg.runtime.replicas)
    need(cfg.runtime.threads >= 0, "runtime.threads", "must be 0 (TensorFlow's default) or more, got %d"
         % cfg.runtime.threads)
    need(cfg.runtime.collective_timeout >= 1, "runtime.collective_timeout", "must be at least 1 second")
    r = cfg.runtime.replicas
    if r > 1:  # an automatic count (GPUs, TF_CONFIG, RANK_SIZE) is checked once it is known (runtime.py)
        need(t.batch_size % r == 0, "train.batch_size", "%d does not divide evenly over %d replicas (--replicas)"
             % (t.batch_size, r))
    k = cfg.runtime.iterations_per_call
    need(k >= 1, "runtime.iterations_per_call", "must be at least 1, got %d" % k)
    if k > 1:  # callbacks see only the last iteration of each call
        for key, value in (("train.iterations", t.iterations), ("output.checkpoint_every", o.checkpoint_every),
                           ("output.sample_every", o.sample_every), ("output.log_every", o.log_every),
                           ("eval.every", e.every)):
            need(value % k == 0, key, "must be a multiple of --iterations-per-call %d, got %d" % (k, value))
        need(all((i + 1) % k == 0 for i in s.split_at), "split.split_at",
             "must end calls of --iterations-per-call %d (each split iteration + 1 a multiple of it), got %s"
             % (k, list(s.split_at)))
    need(not (cfg.npu.data_dump and cfg.npu.overflow_dump), "npu.overflow_dump",
         "cannot be used with --data-dump: the adapter's data dump and overflow dump are exclusive (Huawei's dump "
         "options); ask for one")
    need(o.keep_checkpoints >= 1, "output.keep_checkpoints", "must be at least 1")
    need(o.samples_per_class >= 1, "output.samples_per_class", "must be at least 1")
    for name, _ in sections():
        _check_limits(getattr(cfg, name), lambda f: describe("%s.%s" % (name, f.name)))
    need(d.dataset != "builtin" or d.builtin_size * m.image_size ** 2 * 3 <= MAX_BUILTIN_BYTES, "data.builtin_size",
         "%d images of %dx%d would take %.1f GiB; the built-in dataset is held in memory, at most %d GiB"
         % (d.builtin_size, m.image_size, m.image_size, d.builtin_size * m.image_size ** 2 * 3 / 2 ** 30,
            MAX_BUILTIN_BYTES // 2 ** 30))
