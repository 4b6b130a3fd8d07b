"""Two processes (gloo, CPU) with 4 clips each and BN synchronised over both == one process
with the same 8-clip batch; the two processes' parameters stay identical."""
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from model.engine.checkpoint import CheckpointStore

SCRIPT = Path(__file__).with_name("tiny_training.py")
ROOT = Path(__file__).resolve().parents[3]
COMMON = ["--max-iters", "6", "--global-batch", "8", "--bn-group", "8", "--dropout", "0"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "SLURM_JOB_ID")}
    return {**env, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT), **extra}


@pytest.mark.slow
def test_two_gloo_processes_match_one_process_with_the_same_global_batch(tmp_path):
    port = str(_free_port())
    procs = [subprocess.Popen(
        [sys.executable, str(SCRIPT), str(tmp_path / "ddp"), *COMMON, "--per-process-batch", "4"],
        env=_env(RANK=str(r), LOCAL_RANK=str(r), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1",
                 MASTER_PORT=port), stderr=subprocess.PIPE, text=True) for r in (0, 1)]
    single = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path / "single"), *COMMON,
         "--per-process-batch", "8"], env=_env(), stderr=subprocess.PIPE, text=True, timeout=240)
    assert single.returncode == 0, single.stderr
    for p in procs:
        _, err = p.communicate(timeout=240)
        assert p.returncode == 0, err

    rank0 = torch.load(tmp_path / "ddp" / "final_rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "ddp" / "final_rank1.pt", weights_only=True)
    reference, _ = CheckpointStore(tmp_path / "single" / "checkpoints").load_latest()
    moved = 0
    initial = _initial_params()
    for name, value in rank0.items():
        assert torch.equal(value, rank1[name]), f"ranks diverged on {name}"
        torch.testing.assert_close(value, reference["model"][name], rtol=1e-4, atol=1e-5,
                                   msg=f"2 processes != 1 process on {name}")
        if name in initial and not torch.allclose(initial[name], value):
            moved += 1
    assert moved >= 3  # the comparison is about trained weights, not the initial ones


def _initial_params():
    sys.path.insert(0, str(ROOT))
    from tests.model.engine.tiny_training import TinyNet
    torch.manual_seed(7)
    return dict(TinyNet(0.0).state_dict())
