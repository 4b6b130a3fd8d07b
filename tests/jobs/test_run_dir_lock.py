"""One live process per run directory (jobs/run_dir_lock.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

from jobs.run_dir_lock import exclusive_run_dir
from model.engine.reporting import read_metrics
from tests.jobs.demo_setup import ROOT, planned_configs, shrink, write_run_dir


def test_a_second_holder_waits_until_the_first_lets_go(tmp_path):
    entered = threading.Event()

    def second() -> None:
        with exclusive_run_dir(tmp_path, "second"):
            entered.set()

    with exclusive_run_dir(tmp_path, "first"):
        thread = threading.Thread(target=second)
        thread.start()
        assert not entered.wait(0.5), "the second holder got in while the first held the lock"
    assert entered.wait(5), "the second holder never got in"
    thread.join()


def test_two_processes_started_on_one_run_directory_train_it_once(tmp_path, kinetics_root):
    """As after a watcher killed between the scheduler's answer and the database commit: the
    job is submitted again while the first submission runs."""
    cfg = planned_configs("kinetics_challenge", tmp_path / "plan")["pretrain.k600.slowfast_8x8"]
    cfg = shrink(cfg, model="slowfast_8x8_r50_tiny", frames=2, crop=32, iters=16, warmup=1, checkpoint_every=4)
    cfg["data"]["root"] = str(kinetics_root)
    cfg["job"]["log_every"] = 1
    run_dir = write_run_dir(tmp_path / "run", cfg)
    command = [sys.executable, "-m", "jobs.pretrain", "--run-dir", str(run_dir)]
    first = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (run_dir / "status.json").exists():
        assert first.poll() is None and time.monotonic() < deadline, "the first process did not start"
        time.sleep(0.05)
    second = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    first_err = first.communicate(timeout=300)[1]
    assert first.returncode == 0, first_err
    assert second.returncode == 0, second.stderr
    assert "another process is running" in second.stderr
    assert "already done" in second.stderr  # it found the first one's result, and ran nothing
    keys = [(line["step"], line["split"], line["name"]) for line in read_metrics(run_dir / "metrics.jsonl")]
    assert keys and len(keys) == len(set(keys))
    status = json.loads((run_dir / "status.json").read_text())
    assert (status["state"], status["attempt"]) == ("completed", 1)
