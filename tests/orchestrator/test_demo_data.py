"""The demo datasets a plan reads are generated side by side, each marked complete on its own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from orchestrator.planner import demo_data
from orchestrator.planner.dag import Plan, PlannedJob


def _plan(tmp_path: Path, roots: dict[str, Path], seeds: dict[str, object]) -> Plan:
    jobs = [PlannedJob(name=f"finetune_ava.{name}", kind="finetune_ava",
                       config={"data": {"dataset": "ava", "root": str(root), "generate_seed": seeds[name]},
                               "model": {"num_classes": 8}})
            for name, root in roots.items()]
    return Plan(experiment="demo", task="ava", scale="demo", runs_root=tmp_path, config={}, jobs=jobs)


def test_one_failing_generator_names_its_root_and_the_other_dataset_is_still_complete(tmp_path) -> None:
    roots = {"good": tmp_path / "data" / "good", "bad": tmp_path / "data" / "bad"}
    plan = _plan(tmp_path, roots, {"good": 0, "bad": "not-a-seed"})
    lines: list[str] = []
    with pytest.raises(demo_data.DemoDataError, match=f"generating {roots['bad']} failed: .*not-a-seed"):
        demo_data.ensure_demo_datasets(plan, echo=lines.append)
    assert lines == [f"generating demo dataset {roots['good']} ...", f"generating demo dataset {roots['bad']} ..."]
    marker = json.loads((roots["good"] / demo_data.MARKER).read_text())
    assert marker == {"arguments": ["--kind", "ava", "--seed", "0"]}
    assert any(roots["good"].rglob("*.mp4"))
    assert not (roots["bad"] / demo_data.MARKER).exists()
    # Complete datasets are kept; only the failed one is generated again.
    (roots["good"] / "kept").write_text("x")
    fixed = _plan(tmp_path, roots, {"good": 0, "bad": 1})
    assert demo_data.ensure_demo_datasets(fixed, echo=lines.append) == [roots["bad"]]
    assert (roots["good"] / "kept").exists() and (roots["bad"] / demo_data.MARKER).exists()
