"""scripts/train_npu_8p.sh with stand-in ranks: a signal reaches every rank and each checkpoints
before anything is killed; a failing rank stops the others with SIGTERM first; a rank that
ignores SIGTERM is killed after the grace period."""
import os
import select
import signal
import subprocess
import time

import pytest

from conftest import ROOT, write_rank_table

# A rank that says it is ready, then trains until SIGTERM, then "checkpoints" and exits 3 (as
# train.py does). STANDIN_FAIL_RANK fails once the test says go; STANDIN_STUBBORN_RANK ignores
# SIGTERM.
STANDIN_RANK = r"""#!/usr/bin/env bash
rank=$RANK_ID
if [[ ${STANDIN_STUBBORN_RANK:-} == "$rank" ]]; then
    trap '' TERM
else
    trap 'kill "$idle" 2>/dev/null; echo "$rank saved" > "$STANDIN_DIR/ckpt_$rank"; exit 3' TERM
fi
echo "$HCCL_CONNECT_TIMEOUT $HCCL_EXEC_TIMEOUT" > "$STANDIN_DIR/hccl_$rank"
echo "ready $rank $$" > "$READY_FIFO"
if [[ ${STANDIN_FAIL_RANK:-} == "$rank" ]]; then
    read -r go < "$GO_FIFO"
    exit 1
fi
sleep 1000 &
idle=$!
wait "$idle"
"""


class _Job:
    def __init__(self, tmp_path, ranks=3, **env_vars):
        self.tmp, self.ranks = tmp_path, ranks
        standin = tmp_path / "standin_rank.sh"
        standin.write_text(STANDIN_RANK)
        standin.chmod(0o755)
        rank_table = write_rank_table(tmp_path / "hccl.json")
        self.ready_fifo, self.go_fifo = str(tmp_path / "ready"), str(tmp_path / "go")
        os.mkfifo(self.ready_fifo)
        os.mkfifo(self.go_fifo)
        self.ready_fd = os.open(self.ready_fifo, os.O_RDWR)  # a writer of its own: no EOF between ranks
        env = dict(os.environ, PYTHON=str(standin), RANK_TABLE_FILE=str(rank_table), RANK_SIZE=str(ranks),
                   LOG_DIR=str(tmp_path / "logs"), READY_FIFO=self.ready_fifo, GO_FIFO=self.go_fifo,
                   STANDIN_DIR=str(tmp_path), **env_vars)
        self.process = subprocess.Popen(["bash", os.path.join(ROOT, "scripts", "train_npu_8p.sh"), "--run-dir", "x"],
                                        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def wait_until_ready(self, timeout=60):
        """The pids of the ranks, once every one has said it is ready."""
        text, deadline = "", time.monotonic() + timeout
        while text.count("\n") < self.ranks:
            readable, _, _ = select.select([self.ready_fd], [], [], max(0.0, deadline - time.monotonic()))
            assert readable, "the ranks did not start: %r" % text
            text += os.read(self.ready_fd, 4096).decode()
        return {int(rank): int(pid) for _, rank, pid in (line.split() for line in text.splitlines())}

    def finish(self, timeout=60):
        out, err = self.process.communicate(timeout=timeout)
        os.close(self.ready_fd)
        return self.process.returncode, err

    def saved(self, rank):
        path = self.tmp / ("ckpt_%d" % rank)
        return path.read_text().strip() if path.exists() else None


def _gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_signal_to_the_launcher_reaches_every_rank_which_checkpoints(tmp_path, signum):
    job = _Job(tmp_path)
    job.wait_until_ready()
    job.process.send_signal(signum)
    status, err = job.finish()
    assert status == 3, err
    assert [job.saved(r) for r in range(3)] == ["%d saved" % r for r in range(3)]
    assert "killing" not in err


def test_every_rank_gets_hccls_own_timeouts(tmp_path):
    job = _Job(tmp_path, ranks=2, HCCL_EXEC_TIMEOUT="3400")
    job.wait_until_ready()
    job.process.send_signal(signal.SIGTERM)
    assert job.finish()[0] == 3
    # HCCL_CONNECT_TIMEOUT at the launcher's default, HCCL_EXEC_TIMEOUT as the user set it
    assert [(tmp_path / ("hccl_%d" % r)).read_text().split() for r in (0, 1)] == [["600", "3400"]] * 2


def test_a_failing_rank_stops_the_others_with_sigterm_first(tmp_path):
    job = _Job(tmp_path, STANDIN_FAIL_RANK="1")
    job.wait_until_ready()
    with open(job.go_fifo, "w") as go:
        go.write("go\n")
    status, err = job.finish()
    assert status == 1 and "a rank failed with status 1; stopping the others with SIGTERM (rank 1" in err
    assert job.saved(0) == "0 saved" and job.saved(2) == "2 saved" and job.saved(1) is None


def test_a_rank_that_ignores_sigterm_is_killed_after_the_grace_period(tmp_path):
    job = _Job(tmp_path, ranks=2, STANDIN_STUBBORN_RANK="1", STOP_GRACE="2")
    pids = job.wait_until_ready()
    job.process.send_signal(signal.SIGTERM)
    status, err = job.finish()
    assert status == 3 and job.saved(0) == "0 saved" and job.saved(1) is None
    assert "ranks still running 2s after SIGTERM (the launcher got SIGTERM; STOP_GRACE); killing them" in err
    assert _gone(pids[1])


@pytest.mark.parametrize("name, value, message", [
    ("RANK_SIZE", "abc", "must be a whole number, got 'abc'"), ("STOP_GRACE", "-1", "must be a whole number"),
    ("FIRST_DEVICE", "1e3", "must be a whole number"), ("HCCL_CONNECT_TIMEOUT", "2m", "must be a whole number")])
def test_bad_launcher_settings_are_one_line(tmp_path, name, value, message):
    rank_table = tmp_path / "hccl.json"
    rank_table.write_text("{}")
    result = subprocess.run(["bash", os.path.join(ROOT, "scripts", "train_npu_8p.sh")], cwd=ROOT, text=True,
                            capture_output=True, timeout=60,
                            env=dict(os.environ, RANK_TABLE_FILE=str(rank_table), **{name: value}))
    assert result.returncode == 2 and result.stderr.startswith("error: %s %s" % (name, message))
    assert result.stderr.count("\n") == 1
