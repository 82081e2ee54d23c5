"""Data-parallel training: R replicas compute what one device computes (MirroredStrategy over the
two logical CPU devices conftest makes), resume across replica counts, and clear refusals."""
import json
import os

import numpy as np
import tensorflow as tf

from conftest import TINY, train_cli
from splitgan_keras import parity

# Six iterations across a split (after iteration 2) on the tiny model.
SPLIT_RUN = TINY + ["--iterations", 6, "--split-at", 2, "--min-split-size", 3]
# Replicas average their gradients in another order than one device sums them. Where a gradient
# entry is near zero, that rounding can flip the sign of Adam's normalised update, so a weight may
# move by up to one step (the learning rate, 2e-4) differently; everything else agrees to float32.
WEIGHT_ATOL = 3e-4


def _checkpoint(run_dir, number):
    reader = tf.train.load_checkpoint(os.path.join(str(run_dir), "checkpoints", "ckpt-%d" % number))
    return {n: reader.get_tensor(n) for n in reader.get_variable_to_shape_map()
            if not n.startswith(("save_counter", "_CHECKPOINTABLE"))}


def _assert_same_run(a, b):
    assert a.keys() == b.keys()
    for name in a:
        if "example_labels" in name or "class_state" in name or "iteration" in name:
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)  # the split decided the same
        else:
            np.testing.assert_allclose(a[name], b[name], rtol=0, atol=WEIGHT_ATOL, err_msg=name)


def test_two_replicas_train_what_one_device_trains_across_a_split(tmp_path, capsys):
    assert train_cli(SPLIT_RUN + ["--run-dir", tmp_path / "one"], capsys)[0] == 0
    status, out, err = train_cli(SPLIT_RUN + ["--run-dir", tmp_path / "two", "--replicas", 2], capsys)
    assert status == 0, err
    assert "2 replicas (MirroredStrategy" in out and "split after iteration 2: 10 -> 20 classes" in out
    one, two = _checkpoint(tmp_path / "one", 6), _checkpoint(tmp_path / "two", 6)
    _assert_same_run(one, two)
    records = [json.loads((tmp_path / r / "splits" / "iteration_0000002" / "hierarchy.json").read_text())
               for r in ("one", "two")]
    assert records[0]["classes"] == records[1]["classes"]


def test_parity_records_of_one_and_two_replicas_agree_at_fp32_tolerance(tmp_path, capsys):
    common = TINY + ["--iterations", 4, "--parity-iterations", 4]
    for n in (1, 2):
        assert train_cli(common + ["--run-dir", tmp_path / str(n), "--replicas", n,
                                   "--parity-record", tmp_path / ("%d.json" % n)], capsys)[0] == 0
    a, b = (parity.read(str(tmp_path / ("%d.json" % n))) for n in (1, 2))
    assert (a["replicas"], b["replicas"]) == (1, 2)
    rows, notes, ok = parity.compare(a, b, None, None)
    assert ok and max(r.largest for r in rows) < 1e-4, parity.format_report("1", a, "2", b, rows, notes, ok)
    assert "2 replica(s)" in parity.format_report("1", a, "2", b, rows, notes, ok)


def test_resume_with_another_replica_count(tmp_path, capsys):
    assert train_cli(SPLIT_RUN + ["--run-dir", tmp_path / "straight"], capsys)[0] == 0
    run = tmp_path / "moved"
    assert train_cli(SPLIT_RUN + ["--run-dir", run, "--replicas", 2, "--stop-at", 4], capsys)[0] == 0
    status, out, err = train_cli(["--run-dir", run, "--resume", "--replicas", 1], capsys)
    assert status == 0, err
    _assert_same_run(_checkpoint(tmp_path / "straight", 6), _checkpoint(run, 6))


def test_batches_that_do_not_divide_over_the_replicas_are_refused(tmp_path, capsys):
    status, out, err = train_cli(TINY + ["--run-dir", tmp_path / "r", "--iterations", 2, "--batch-size", 6,
                                         "--replicas", 4], capsys)
    assert status == 2 and "--batch-size (train.batch_size) 6 does not divide evenly over 4 replicas" in err
    status, out, err = train_cli(TINY + ["--run-dir", tmp_path / "s", "--iterations", 2, "--batch-size", 6,
                                         "--replicas", 3], capsys)
    assert status == 2 and "--replicas 3 on the CPU needs 3 logical CPU devices" in err
    assert not (tmp_path / "r").exists() and not (tmp_path / "s").exists()
