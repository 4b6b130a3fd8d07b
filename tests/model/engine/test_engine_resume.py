"""Exact resume: real processes killed with SIGKILL at random steps, then resumed, end with
bit-identical weights and the same metrics.jsonl (deterministic fields) as an uninterrupted
run. One thread per process: with more, float sums may be reordered between runs."""
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from model.engine.checkpoint import CheckpointStore
from model.engine.reporting import deterministic_view, read_metrics

SCRIPT = Path(__file__).with_name("tiny_training.py")
ROOT = Path(__file__).resolve().parents[3]
MAX_ITERS = 16
ARGS = ["--max-iters", str(MAX_ITERS), "--checkpoint-every", "4", "--num-workers", "1"]
KILLS = 10


def _start(run_dir: Path) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, str(SCRIPT), str(run_dir), *ARGS], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _step(run_dir: Path) -> int:
    try:
        return json.loads((run_dir / "status.json").read_text())["step"]
    except (FileNotFoundError, ValueError, KeyError):
        return -1


def _run_to_end(run_dir: Path) -> None:
    proc = _start(run_dir)
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err


def _kill_at(run_dir: Path, step: int) -> int:
    """Start (or resume) and SIGKILL once the run reaches ``step``; returns the step seen."""
    proc = _start(run_dir)
    while _step(run_dir) < step and proc.poll() is None:
        time.sleep(0.005)
    seen = _step(run_dir)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return seen


def _final(run_dir: Path):
    state, _ = CheckpointStore(run_dir / "checkpoints").load_latest()
    assert state["step"] == MAX_ITERS
    return state["model"], deterministic_view(read_metrics(run_dir / "metrics.jsonl"))


@pytest.mark.slow
def test_sigkill_at_random_steps_then_resume_is_bit_exact(tmp_path):
    _run_to_end(tmp_path / "reference")
    ref_model, ref_metrics = _final(tmp_path / "reference")
    assert len(ref_metrics) > MAX_ITERS  # a train loss/lr per step plus evaluations

    seed = int.from_bytes(os.urandom(4), "little")
    rng = random.Random(seed)
    for trial in range(1):
        run_dir = tmp_path / f"killed{trial}"
        # The reliability drill: ten kills at distinct random steps of one run.
        kill_steps = sorted(rng.sample(range(1, MAX_ITERS), KILLS))
        seen = [_kill_at(run_dir, step) for step in kill_steps]
        _run_to_end(run_dir)
        model, metrics = _final(run_dir)
        context = f"kill seed {seed}, trial {trial}, killed at steps {seen}"
        for name, tensor in ref_model.items():
            assert torch.equal(tensor, model[name]), f"{name} differs ({context})"
        assert metrics == ref_metrics, context
        attempts = {m["attempt"] for m in read_metrics(run_dir / "metrics.jsonl")}
        assert len(attempts) >= 2, context  # the resumed attempts did write their metrics
        steps = [(m["step"], m["split"], m["name"]) for m in read_metrics(run_dir / "metrics.jsonl")]
        assert len(steps) == len(set(steps)), f"duplicated metric lines ({context})"
