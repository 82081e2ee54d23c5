"""python -m splitgan_keras.bench --replicas N: how training scales over N worker processes.

On the benchmark's configuration (the reference one by default; the same global batches either
way) it times Model.fit in one process that may use N cores, then in N processes of one core
each that form one MultiWorkerMirroredStrategy job on localhost (TF_CONFIG), and reports both
throughputs, the scaling efficiency (N processes' iterations/s over the one process's: 1.0 means
N replicas use the N cores as well as one process does) and the all-reduce time per iteration
(the averaged gradients of the generator step and of each critic step).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from typing import Callable, List

import tensorflow as tf

from splitgan_keras import files, launch, runtime as runtime_lib
from splitgan_keras.bench import common
from splitgan_keras.train import build

WORKER_TIMEOUT_S = 3 * 3600


def _all_reduce_seconds(runtime, gan, repeats: int, warmup: int) -> dict:
    """Median seconds of one all-reduce of the generator's and of the critic's gradients."""
    replicas = runtime.replicas
    result = {}
    for name, network in (("generator", gan.generator), ("critic", gan.critic)):
        shapes = [(v.shape, v.dtype) for v in network.trainable_variables]

        def gradients(shapes=shapes):  # made on each replica's device, as the training step's are
            return replicas.mean([tf.ones(shape, dtype) for shape, dtype in shapes])

        reduce = tf.function(lambda gradients=gradients: replicas.strategy.run(gradients))
        times = common.time_calls(reduce, repeats, warmup)
        result[name] = sorted(times)[len(times) // 2]
    return result


def measure(args) -> dict:
    """This process's part: fit seconds per iteration (and, as a worker, all-reduce seconds)."""
    cfg = common.bench_config(args)
    runtime = runtime_lib.setup(cfg)
    data = common.synthetic(max(2048, cfg.train.batch_size * cfg.train.n_critic), cfg.model.image_size)
    gan = build.build_gan(cfg, data, runtime)
    fit = common.fit_iterations(cfg, data, runtime, gan, args.fit_iterations, args.repeats, 1.0, None)
    report = {"fit_iteration_s": fit["median"], "fit_iteration_min_s": fit["min"], "replicas": runtime.replicas.count,
              "cores": sorted(os.sched_getaffinity(0)), "runtime": runtime.describe()}
    if runtime.replicas.count > 1:
        seconds = _all_reduce_seconds(runtime, gan, args.repeats, args.warmup)
        report["all_reduce_s"] = seconds
        report["all_reduce_s_per_iteration"] = seconds["generator"] + cfg.train.n_critic * seconds["critic"]
    return report


def _child_args(argv: List[str], role: str, out: str) -> List[str]:
    """The benchmark's own command line as one of its processes (the last --out wins)."""
    return [sys.executable, "-m", "splitgan_keras.bench"] + argv + ["--role", role, "--out", out]


def _pinned(cores: List[int]) -> Callable[[], None]:
    """Restricts a child process to `cores` before it runs Python, so every thread it starts
    inherits them (sched_setaffinity binds the calling thread only). Measured: a one-core
    MultiWorkerMirrored worker pinned from inside, after importing TensorFlow, ran at half the
    speed of one started pinned."""
    return lambda: os.sched_setaffinity(0, set(cores))


def _run_children(commands: List[List[str]], envs: List[dict], cores: List[List[int]]) -> None:
    processes = [subprocess.Popen(c, env=e, preexec_fn=_pinned(k)) for c, e, k in zip(commands, envs, cores)]
    try:
        for p in processes:
            status = p.wait(timeout=WORKER_TIMEOUT_S)
            if status:
                raise SystemExit("a benchmark process failed (exit %d): %s" % (status, " ".join(p.args)))
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.wait()


def scaling(args, argv: List[str]) -> dict:
    n = args.replicas
    if len(os.sched_getaffinity(0)) < n:
        raise SystemExit("--replicas %d needs %d cores, this process may use %d" % (n, n, len(os.sched_getaffinity(0))))
    cores = sorted(os.sched_getaffinity(0))[:n]
    with tempfile.TemporaryDirectory(prefix="splitgan-bench-") as tmp:
        single = os.path.join(tmp, "single.json")
        _run_children([_child_args(argv, "single", single)], [dict(os.environ)], [cores])
        hosts = ["localhost:%d" % p for p in launch.free_ports(n)]
        outs = [os.path.join(tmp, "worker%d.json" % i) for i in range(n)]
        envs = [dict(os.environ, TF_CONFIG=json.dumps(
            {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": i}})) for i in range(n)]
        _run_children([_child_args(argv, "worker", out) for out in outs], envs, [[core] for core in cores])
        one = json.load(open(single))
        workers = [json.load(open(out)) for out in outs]
    slowest = max(w["fit_iteration_s"] for w in workers)  # the job runs at its slowest worker's pace
    return {"config": vars(args), "one_process": one, "workers": workers,
            "one_process_iterations_per_s": 1.0 / one["fit_iteration_s"],
            "workers_iterations_per_s": 1.0 / slowest,
            "scaling_efficiency": one["fit_iteration_s"] / slowest,
            "all_reduce_s_per_iteration": max(w["all_reduce_s_per_iteration"] for w in workers)}


def format_report(report: dict) -> str:
    n = len(report["workers"])
    share = report["all_reduce_s_per_iteration"] * report["workers_iterations_per_s"]
    return "\n".join([
        "one process, %d cores:       %.3f s/iteration (%.3f it/s)" % (
            n, report["one_process"]["fit_iteration_s"], report["one_process_iterations_per_s"]),
        "%d worker processes, 1 core each: %.3f s/iteration (%.3f it/s)" % (
            n, 1.0 / report["workers_iterations_per_s"], report["workers_iterations_per_s"]),
        "scaling efficiency %.2f (target >= 0.85); all-reduce %.4f s per iteration (%.1f%% of it)" % (
            report["scaling_efficiency"], report["all_reduce_s_per_iteration"], 100 * share)])


def main(args, argv: List[str]) -> int:
    """args: bench's parsed flags; argv: its command line (forwarded to the processes it starts)."""
    if args.role:  # one of the processes started below, pinned to its cores
        files.write_json(args.out, measure(args))
        return launch.end_process(0)
    report = scaling(args, argv)
    files.write_json(args.out, report)
    print(format_report(report))
    print("wrote %s" % args.out)
    return 0
