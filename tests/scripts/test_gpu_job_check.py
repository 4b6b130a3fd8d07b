"""scripts/gpu_job_check.py on the CPU: the chain it runs on a GPU machine, kept working here.

``prepare`` plans ensemble_ava at scale=demo and generates its data; ``run`` runs the planned
pretrain -> finetune_ava -> evaluate jobs as ``python -m jobs.<kind>``. Here they run on the
CPU (no CUDA visible), and every job must complete and say so in its result.json.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from model.engine.precision import cpu_kind

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "gpu_job_check.py"


@pytest.mark.slow
def test_the_demo_chain_runs_as_jobs_from_a_prepared_folder(tmp_path: Path) -> None:
    prepared = subprocess.run([sys.executable, str(SCRIPT), "prepare", str(tmp_path / "check")],
                              cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    assert prepared.returncode == 0, prepared.stderr[-3000:]
    # The folder must work from another place (the GPU machine's path differs): move it.
    moved = tmp_path / "elsewhere"
    (tmp_path / "check").rename(moved)
    ran = subprocess.run([sys.executable, str(SCRIPT), "run", str(moved)], cwd=REPO,
                         capture_output=True, text=True, timeout=900, check=False)
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert "cuda visible: False; all jobs completed" in ran.stdout
    runs = moved / "runs"
    results = {d.name: json.loads((d / "result.json").read_text()) for d in runs.iterdir()}
    assert set(results) == {"pretrain.k600.slowfast_8x8", "finetune_ava.train.sf8x8",
                            "evaluate.val.sf8x8"}
    assert all(r["device"] == f"cpu ({cpu_kind()})" for r in results.values())
    finetune = results["finetune_ava.train.sf8x8"]
    assert finetune["init_checkpoint"]["path"] == str(
        runs / "pretrain.k600.slowfast_8x8" / results["pretrain.k600.slowfast_8x8"]["checkpoint"])
    evaluation = results["evaluate.val.sf8x8"]
    assert evaluation["checkpoint"] == str(runs / "finetune_ava.train.sf8x8" / finetune["checkpoint"])
    assert 0.0 < evaluation["metrics"]["frame_map"] <= 1.0
