"""The benchmark command runs and reports what it promises (speed itself is not tested here)."""
import json
import os

import pytest

from splitgan_keras import cpu_backend
from splitgan_keras.bench import single as bench


@pytest.mark.slow
def test_bench_reports_times_flops_and_memory(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert bench.main(["--tiny", "--repeats", "1", "--warmup", "1", "--fit-iterations", "2", "--ceiling-size", "512",
                       "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    results = report["results"]
    assert {"iteration_s", "critic_step_s", "generator_step_s", "fit_iteration_s"} <= set(results)
    for key in ("iteration_s", "critic_step_s", "generator_step_s"):
        assert results[key]["median"] > 0 and results[key]["gflop"] > 0 and results[key]["gflops_per_s"] > 0
    n_critic = report["config"]["n_critic"]
    assert abs(results["iteration_s"]["gflop"] - n_critic * results["critic_step_s"]["gflop"]
               - results["generator_step_s"]["gflop"]) < 1e-6
    ceilings = report["matmul_ceiling_gflops"]
    assert set(ceilings) == {"float32", "bfloat16"} and min(ceilings.values()) > 0  # the policy's, and bf16 on CPU
    assert list(report["peak_rss_gib"]) == ["training"] and report["peak_rss_gib"]["training"] > 0
    assert "iteration_s" in capsys.readouterr().out
    assert all(c["first_call_s"] > 0 and c["ops"] > 100 for c in report["compiled"].values())
    assert report["compiled"]["iteration"]["ops"] > report["compiled"]["critic_step"]["ops"]
    assert report["cpu_kernels"] == cpu_backend.describe()  # the package's choice (tests import it first)


def test_bench_compile_only_reports_first_and_second_calls(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert bench.main(["--tiny", "--compile-only", "--ceiling-size", "256", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["results"] == {} and set(report["compiled"]) == {"iteration", "critic_step", "generator_step"}
    for c in report["compiled"].values():
        assert c["first_call_s"] > c["second_call_s"] > 0  # the first traces
    assert "(then " in capsys.readouterr().out


def test_graph_flops_counts_a_matmul():
    import tensorflow as tf
    f = tf.function(lambda a, b: tf.matmul(a, b))
    flops = bench.graph_flops(f.get_concrete_function(tf.zeros([8, 16]), tf.zeros([16, 4])))
    assert flops == 2 * 8 * 16 * 4


@pytest.mark.slow
def test_bench_scaling_over_two_worker_processes(tmp_path, capsys):
    out = tmp_path / "scaling.json"
    assert bench.main(["--replicas", "2", "--tiny", "--repeats", "1", "--warmup", "1", "--fit-iterations", "2",
                       "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert [w["replicas"] for w in report["workers"]] == [2, 2] and report["one_process"]["replicas"] == 1
    cores = sorted(os.sched_getaffinity(0))[:2]  # one each for the workers, both for the one process
    assert sorted(w["cores"][0] for w in report["workers"]) == cores and report["one_process"]["cores"] == cores
    assert report["scaling_efficiency"] > 0 and report["all_reduce_s_per_iteration"] > 0
    assert "scaling efficiency" in capsys.readouterr().out
