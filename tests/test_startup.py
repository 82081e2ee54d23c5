"""A several-process job whose peer never comes: the start-up ends within its timeout with a line
naming the task, and SIGTERM ends it at once (startup.py)."""
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from conftest import ROOT, TINY
from splitgan_keras import launch, startup
from splitgan_keras.artefacts import rundir


class _Ending:
    """Stands in for ending the process: records the status and the line."""

    def __init__(self):
        self.called = threading.Event()
        self.status = self.line = None

    def __call__(self, status, line):
        self.status, self.line = status, line
        self.called.set()


def test_the_deadline_names_the_task_whose_port_is_silent():
    silent_port = launch.free_ports(1)[0]
    ending = _Ending()
    with startup.bounded([("worker", 1, "localhost:%d" % silent_port)], 0.5, end=ending):
        assert ending.called.wait(60)
    assert ending.status == 2
    assert ending.line.startswith("error: the job did not start within 0.5 s (runtime.collective_timeout)")
    assert "worker 1 (localhost:%d) did not answer" % silent_port in ending.line


def test_a_signal_during_the_start_is_taken_by_the_watcher_and_restored_afterwards():
    ending = _Ending()
    handled = []
    previous = signal.signal(signal.SIGTERM, lambda *_: handled.append("after"))
    try:
        with startup.bounded([("worker", 1, "localhost:%d" % launch.free_ports(1)[0])], 60, end=ending):
            os.kill(os.getpid(), signal.SIGTERM)  # blocked here: only the watcher can take it
            assert ending.called.wait(60)
        assert ending.status == 3 and ending.line.startswith("stopped by SIGTERM while waiting")
        assert not handled
        os.kill(os.getpid(), signal.SIGTERM)  # after the start: the process's own handler again
        assert handled == ["after"]
    finally:
        signal.signal(signal.SIGTERM, previous)


def _lonely_worker(tmp_path, timeout):
    hosts = ["localhost:%d" % p for p in launch.free_ports(2)]
    env = dict(os.environ, TF_CONFIG=json.dumps({"cluster": {"worker": hosts}, "task": {"type": "worker", "index": 0}}))
    args = TINY + ["--run-dir", tmp_path / "run", "--iterations", 2, "--set", "runtime.collective_timeout=%d" % timeout]
    process = subprocess.Popen([sys.executable, os.path.join(ROOT, "train.py")] + [str(a) for a in args], cwd=ROOT,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return process, hosts[1]


@pytest.mark.slow
def test_a_job_whose_peer_never_comes_ends_at_its_timeout_naming_the_peer(tmp_path):
    process, missing = _lonely_worker(tmp_path, 10)
    for line in process.stdout:
        if line.startswith("waiting up to 10 s"):
            started = time.monotonic()
            break
    out, err = process.communicate(timeout=120)
    assert process.returncode == 2, err[-2000:]
    assert time.monotonic() - started < 60
    assert err.strip().splitlines()[-1].startswith("error: the job did not start within 10 s")
    assert "worker 1 (%s) did not answer" % missing in err
    assert not rundir.holds_run(str(tmp_path / "run"))  # nothing written


def test_sigterm_ends_a_job_that_waits_for_its_peer(tmp_path):
    process, missing = _lonely_worker(tmp_path, 600)
    for line in process.stdout:
        if line.startswith("waiting up to 600 s"):
            break
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 3, err[-2000:]
    assert "stopped by SIGTERM while waiting for the job's other tasks to start (worker 1 (%s) did not answer)" \
        % missing in err
