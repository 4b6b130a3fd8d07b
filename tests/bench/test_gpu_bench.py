"""bench/gpu.py --tiny: the GPU benchmark's code paths, run on the CPU so the script cannot rot.

The figures themselves mean nothing here (tiny twins, 64 px, two steps); what is checked is
that every section ran, that its rows are consistent with the plan, and that the JSON and the
Markdown section agree.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_gpu_bench_tiny_runs_every_section_and_writes_json_and_markdown(tmp_path: Path) -> None:
    out = tmp_path / "results"
    completed = subprocess.run(
        [sys.executable, str(REPO / "bench" / "gpu.py"), "--tiny", "--out", str(out)],
        capture_output=True, text=True, timeout=600, check=False)
    assert completed.returncode == 0, completed.stderr[-3000:]
    data = json.loads((out / "gpu.json").read_text())
    ours = [r for r in data["train"] if r["impl"] == "ours"]
    # 1 variant x context on/off x 3 modes on the AVA head, plus the Kinetics consumer.
    assert len([r for r in ours if r["task"] == "ava"]) == 6
    assert {(r["nl_context"], r["mode"]) for r in ours if r["task"] == "ava"} == {
        (ctx, mode) for ctx in (False, True)
        for mode in ("fp32", "bf16", "bf16+channels_last_3d")}
    assert [r["task"] for r in ours].count("kinetics") == 1
    for row in data["train"] + data["inference"]:
        assert row["clips_per_s"] > 0 and row["step_s"] > 0
        assert row["clips_per_s"] == pytest.approx(row["batch"] / row["step_s"], rel=0.02)
        assert row["macs_per_clip"] > 0
    # The context branch costs multiply-adds: the FLOP count must see it.
    ctx = {r["nl_context"]: r["macs_per_clip"] for r in ours if r["task"] == "ava"}
    assert ctx[True] > ctx[False]
    assert {(r["task"], r["mode"]) for r in data["inference"]} == {
        (task, mode) for task in ("kinetics", "ava") for mode in ("fp32", "bf16+channels_last_3d")}
    assert [r["workers"] for r in data["data"]] == [0, 2]
    consumer = next(r for r in ours if r["task"] == "kinetics")["clips_per_s"]
    for row in data["data"]:
        assert row["clips"] > 0 and row["consumed_clips_s"] == consumer
        assert row["fed"] == (row["clips_per_s"] >= consumer)
    # The peer is optional here (PySlowFast is not a project dependency): either it was
    # measured or the reason it was not is recorded; nothing disappears silently.
    peer_rows = [r for r in data["train"] if r["impl"] == "pyslowfast"]
    assert peer_rows or any("peer" in s["what"] for s in data["skipped"])
    markdown = (out / "gpu.md").read_text()
    assert markdown.startswith("<!-- section: gpu -->")
    for row in data["train"] + data["inference"]:
        assert f"| {row['clips_per_s']} |" in markdown


def test_gpu_bench_refuses_to_run_without_a_gpu_unless_tiny(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, str(REPO / "bench" / "gpu.py"), "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=120, check=False)
    assert completed.returncode == 2
    assert "no CUDA device is visible" in completed.stderr
