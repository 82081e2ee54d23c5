"""python -m splitgan_keras.bench: how fast training, class splitting and evaluation run here.

On the reference configuration (width 128, critic batch 64, generator batch 128, 5 critic steps)
with synthetic uint8 data, after warm-up, it reports median and spread of: seconds per training
iteration, per critic step and per generator step; the split step over 50000 images (feature
pass and k-means apart); generator sampling and Inception throughput (images/s); peak RSS. Each
time comes with the floating-point operations it performs, counted from the traced graph, and
the GFLOP/s achieved against a matmul ceiling measured in the same run. For the iteration and
each step it also reports the seconds to the first result (tracing, and with --xla compiling) and
the graph's operation count, bodies of called functions included (`--compile-only`: those
alone, with the second call's time). `--tiny` measures the per-iteration host overhead on a
model where compute is negligible.
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
from typing import Optional

import tensorflow as tf

from splitgan_keras import cpu_backend, files, runtime as runtime_lib
from splitgan_keras.cli import flags
from splitgan_keras.bench.common import (BENCH_DEFAULTS, bench_config, fit_iterations, summary,
                                         sync, synthetic, time_calls)
from splitgan_keras.data import pipeline
from splitgan_keras.artefacts import sampling
from splitgan_keras.evaluate.metrics import inception
from splitgan_keras.split import features as features_lib, rule as rule_lib
from splitgan_keras.train import build


def graph_flops(concrete_function) -> float:
    """Floating-point operations of one call, from TensorFlow's per-op statistics (convolutions and
    matmuls, their gradients included; ops inside tf.cond branches are not seen, so callers time
    and count the two training steps separately)."""
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return float(tf.compat.v1.profiler.profile(concrete_function.graph, options=options).total_float_ops)


def graph_ops(concrete_function) -> int:
    """Operations of one call's graph, the bodies of the functions it calls (loops, conditions)
    included: what a graph compiler (XLA, the NPU's graph engine) has to compile."""
    graph_def = concrete_function.graph.as_graph_def()
    return len(graph_def.node) + sum(len(f.node_def) for f in graph_def.library.function)


def first_call(fn) -> float:
    """Seconds to the first result of a tf.function: tracing, compiling (with XLA) and one run."""
    start = time.perf_counter()
    sync(fn())
    return time.perf_counter() - start


def matmul_ceiling(dtype: tf.DType, n: int = 4096, repeats: int = 10) -> float:
    """GFLOP/s of the fastest of `repeats` n x n matmuls in `dtype`: the machine's practical
    ceiling for dense compute (the fastest, because a ceiling is what the machine can reach; on a
    shared machine the median wanders with its neighbours)."""
    a = tf.cast(tf.random.stateless_normal([n, n], seed=[1, 2]), dtype)
    product = tf.function(lambda x: tf.matmul(x, x))
    times = time_calls(lambda: product(a), repeats, warmup=2)
    return 2.0 * n ** 3 / min(times) / 1e9


def _inception_network(handle: Optional[str]):
    """The real module when given; otherwise Keras InceptionV3 with random weights: the same size
    (about 5.7 GFLOP per 299x299 image), so the throughput is representative."""
    if handle:
        return inception.InceptionNetwork(handle), "tfgan module %s" % handle
    model = tf.keras.applications.InceptionV3(weights=None, include_top=True, classes=1008)

    def module(images):
        logits = model(images)
        return {inception.LOGITS: logits, inception.POOL: logits}  # shapes do not matter here, only the work

    return (inception.InceptionNetwork("keras InceptionV3 (random weights)", module=module),
            "stand-in Keras InceptionV3 of the real size (random weights)")


def run(args) -> dict:
    cfg = bench_config(args)
    runtime = runtime_lib.setup(cfg)
    # The convolutions run in the policy's compute dtype, so that is the ceiling they are held to;
    # float32 and, where it is cheap (the CPU), bfloat16 are measured too, for comparison.
    compute_dtype = tf.keras.mixed_precision.global_policy().compute_dtype
    dtypes = {"float32", compute_dtype} | ({"bfloat16"} if runtime.device == "cpu" else set())
    ceilings = {name: matmul_ceiling(tf.as_dtype(name), args.ceiling_size) for name in sorted(dtypes)}
    ceiling = ceilings[compute_dtype]
    size = cfg.model.image_size
    data = synthetic(max(2048, cfg.train.batch_size * cfg.train.n_critic), size)
    gan = build.build_gan(cfg, data, runtime)
    inputs = next(iter(pipeline.iteration_inputs(data.images, cfg.train)))
    gan.iteration.assign(1)  # past iteration 0, where the generator step changes nothing

    jit = cfg.runtime.xla or None
    critic_step = tf.function(lambda: gan.critic_step(*gan.critic_inputs(inputs, 0)), jit_compile=jit)
    generator_step = tf.function(lambda: gan.generator_step(*gan.generator_inputs(inputs)), jit_compile=jit)
    iteration = tf.function(lambda: gan.iteration_step(inputs), jit_compile=cfg.runtime.xla or None)
    compiled = {name: {"first_call_s": first_call(fn), "ops": graph_ops(fn.get_concrete_function())}
                for name, fn in (("iteration", iteration), ("critic_step", critic_step),
                                 ("generator_step", generator_step))}
    report = {"config": {"width": cfg.model.width, "batch_size": cfg.train.batch_size,
                         "generator_batch": cfg.train.batch_size * cfg.train.gen_batch_multiple,
                         "n_critic": cfg.train.n_critic, "image_size": size, "tiny": bool(args.tiny)},
              "runtime": runtime.describe(), "cpu_kernels": cpu_backend.describe(),
              "versions": {"tensorflow": tf.__version__, "python": platform.python_version()},
              "cpu_count": os.cpu_count(), "matmul_ceiling_gflops": ceilings, "compiled": compiled}
    if args.compile_only:
        for fn, c in zip((iteration, critic_step, generator_step), compiled.values()):
            c["second_call_s"] = time_calls(fn, 1, 0)[0]  # the first call's compile time is the difference
        return dict(report, results={}, peak_rss_gib={"training": _peak_rss_gib()})
    flops = {"critic": graph_flops(critic_step.get_concrete_function()),
             "generator": graph_flops(generator_step.get_concrete_function())}
    flops["iteration"] = cfg.train.n_critic * flops["critic"] + flops["generator"]
    results = {"iteration_s": summary(time_calls(iteration, args.repeats, args.warmup), flops["iteration"], ceiling),
               "critic_step_s": summary(time_calls(critic_step, args.repeats, args.warmup), flops["critic"], ceiling),
               "generator_step_s": summary(time_calls(generator_step, args.repeats, args.warmup), flops["generator"],
                                            ceiling)}
    results["fit_iteration_s"] = fit_iterations(cfg, data, runtime, gan, args.fit_iterations, args.repeats, ceiling,
                                                flops["iteration"])
    peak_rss = {"training": _peak_rss_gib()}
    if not args.tiny and args.split_images:
        results.update(_split_step(cfg, gan, args.split_images, ceiling))
        peak_rss["split"] = _peak_rss_gib()
    if not args.tiny and not args.skip_eval:
        results.update(_evaluation_throughput(gan, args.inception, args.eval_images, ceiling))
        peak_rss["evaluation"] = _peak_rss_gib()
    return dict(report, results=results, peak_rss_gib=peak_rss)


def _peak_rss_gib() -> float:
    """The process's peak resident memory so far; read after each phase, it tells which phase set it."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20  # Linux reports KiB


def _split_step(cfg, gan, n: int, ceiling: float) -> dict:
    """The split step on n synthetic images in 10 classes: the feature pass, then the k-means plan."""
    data = synthetic(n, cfg.model.image_size)
    feature_pass = features_lib.FeaturePass(gan.critic, seed=0)
    feature_pass(data.images[:feature_pass.batch], 0)  # trace
    per_batch = graph_flops(feature_pass.traced(data.images.shape[1:]))
    start = time.perf_counter()
    features = feature_pass(data.images, 0)
    feature_seconds = time.perf_counter() - start
    start = time.perf_counter()
    rule_lib.TwoMeansRule(2000, 0).plan(features_lib.normalize(features, cfg.train.batch_size), data.labels, 10)
    kmeans_seconds = time.perf_counter() - start
    batches = -(-n // feature_pass.batch)
    return {"split_feature_pass_s": summary([feature_seconds], per_batch * batches, ceiling),
            "split_kmeans_s": summary([kmeans_seconds], None, ceiling),
            "split_step_s": summary([feature_seconds + kmeans_seconds], per_batch * batches, ceiling),
            "split_images": n}


def _evaluation_throughput(gan, inception_handle: Optional[str], n: int, ceiling: float) -> dict:
    source = sampling.GeneratorSource(gan.generator)
    sampling.uniform_samples(source, 200, 0)  # trace
    start = time.perf_counter()
    images, _ = sampling.uniform_samples(source, n, 1)
    sample_seconds = time.perf_counter() - start
    network, description = _inception_network(inception_handle)
    network.outputs(images[:network.batch])  # trace (or load)
    start = time.perf_counter()
    network.outputs(images)
    inception_seconds = time.perf_counter() - start
    per_batch = graph_flops(network.traced(images.shape[1:]))
    generator_flops = graph_flops(source.traced(sampling.SAMPLE_BATCH))
    rate = lambda seconds: {"median": n / seconds, "unit": "images/s", "runs": 1}  # noqa: E731
    sampling_rate, inception_rate = rate(sample_seconds), rate(inception_seconds)
    sampling_rate.update(gflops_per_s=generator_flops / sampling.SAMPLE_BATCH * n / sample_seconds / 1e9)
    inception_rate.update(gflops_per_s=per_batch / network.batch * n / inception_seconds / 1e9, network=description)
    for r in (sampling_rate, inception_rate):
        r["fraction_of_ceiling"] = r["gflops_per_s"] / ceiling
    return {"sampling_images_per_s": sampling_rate, "inception_images_per_s": inception_rate}


def format_table(report: dict) -> str:
    lines = ["%s | %d CPUs, %s | matmul ceilings %s" % (
        report["runtime"], report["cpu_count"], report["cpu_kernels"],
        ", ".join("%s %.0f GFLOP/s" % item for item in sorted(report["matmul_ceiling_gflops"].items()))),
        "%-26s %10s %18s %9s %9s %6s" % ("quantity", "median", "min..max", "GFLOP", "GFLOP/s", "ceil")]
    for key, r in report["results"].items():
        if not isinstance(r, dict):
            continue
        spread = "%.3g..%.3g" % (r["min"], r["max"]) if "min" in r else ""
        lines.append("%-26s %10.4g %18s %9s %9s %6s" % (
            key, r["median"], spread, "%.1f" % r["gflop"] if "gflop" in r else "",
            "%.0f" % r["gflops_per_s"] if "gflops_per_s" in r else "",
            "%.0f%%" % (100 * r["fraction_of_ceiling"]) if "fraction_of_ceiling" in r else ""))
    for name, c in report["compiled"].items():
        then = " (then %.3g s)" % c["second_call_s"] if "second_call_s" in c else ""
        lines.append("%-26s %10.4g %18s%s" % ("first_call_s." + name, c["first_call_s"], "%d ops" % c["ops"], then))
    for phase, gib in report["peak_rss_gib"].items():
        lines.append("%-26s %10.3f" % ("peak_rss_gib." + phase, gib))
    return "\n".join(lines)


BENCH_SETTINGS = ("model.width", "train.batch_size", "train.n_critic", "runtime.device", "runtime.precision",
                  "runtime.xla", "runtime.iterations_per_call", "runtime.threads")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m splitgan_keras.bench", description=__doc__.split("\n\n")[0])
    # The settings it measures, as train.py takes them (the config table); --set reaches the others.
    flags.add_config_flags(p, BENCH_SETTINGS, BENCH_DEFAULTS)
    p.add_argument("--repeats", type=int, default=5, help="timed calls per quantity (default 5)")
    p.add_argument("--warmup", type=int, default=2, help="untimed calls first (default 2)")
    p.add_argument("--split-images", type=int, default=50000, help="images of the split step (0: skip it)")
    p.add_argument("--eval-images", type=int, default=2000, help="images for the sampling/Inception throughput")
    p.add_argument("--skip-eval", action="store_true", help="skip the sampling and Inception throughput")
    p.add_argument("--inception", metavar="DIR", help="tfgan's Inception module (default: a same-size stand-in)")
    p.add_argument("--fit-iterations", type=int, default=10,
                   help="iterations per timed window of the one Model.fit (default 10)")
    p.add_argument("--tiny", action="store_true", help="host overhead: width 8, 16x16, batch 4; training only")
    p.add_argument("--compile-only", action="store_true",
                   help="only the first and second call of the iteration and of each step (compile times, op counts)")
    p.add_argument("--ceiling-size", type=int, default=4096, help="side of the matmul that measures the ceilings")
    p.add_argument("--out", default="bench.json", help="JSON report (default: bench.json)")
    p.add_argument("--replicas", type=int, default=1,
                   help="N > 1: instead, the scaling of training over N worker processes of one core each against one "
                        "process with all N cores (replicas.py)")
    p.add_argument("--role", choices=("single", "worker"), help=argparse.SUPPRESS)  # replicas.py's own processes
    p.add_argument("--evaluation-memory", type=int, metavar="N",
                   help="instead: the memory of --evaluation-metrics at N samples and N real images "
                        "(evaluation_memory.py)")
    p.add_argument("--evaluation-metrics", metavar="A,B,...", default="is{n},fid{n}_train,kid{n}_train,pr10000_train",
                   help="with --evaluation-memory: the metrics ({n}: N; default %(default)s)")
    return p


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    args = parser().parse_args(argv)
    if args.replicas > 1 or args.role:
        from splitgan_keras.bench import replicas
        return replicas.main(args, argv)
    if args.evaluation_memory:
        from splitgan_keras.bench import evaluation_memory
        report = evaluation_memory.run(args.evaluation_memory,
                                       args.evaluation_metrics.format(n=args.evaluation_memory).split(","))
        files.write_json(args.out, report)
        print(evaluation_memory.format_table(report))
        return 0
    report = run(args)
    files.write_json(args.out, report)
    print(format_table(report))
    print("wrote %s" % args.out)
    return 0
