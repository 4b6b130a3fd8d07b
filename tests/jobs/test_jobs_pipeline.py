"""The jobs chained as the planner chains them, on generated data: pretrain -> finetune_ava ->
evaluate (val with "++" views, test) -> ensemble (val scored, test) -> export (validated AVA
submission + manifest); Kinetics evaluate -> ensemble -> export (JSON). Few iterations: this
checks the files and their formats, not accuracy (test_jobs_learning.py does that)."""
import csv
import json

import numpy as np
import pytest
import torch

from model.engine.precision import cpu_kind
from orchestrator.executors.registry import job_entry
from tests.jobs.demo_setup import planned_configs, shrink, write_run_dir

torch.set_num_threads(1)
FAST = dict(model="slowfast_8x8_r50_tiny", frames=2, alpha=4, crop=32)


def _run(kind, run_dir):
    result = job_entry(kind)(run_dir)()
    assert json.loads((run_dir / "result.json").read_text()) == result
    assert json.loads((run_dir / "status.json").read_text())["state"] == "completed"
    return result


@pytest.mark.slow
def test_ava_chain_to_a_validated_submission(tmp_path, kinetics_root, ava_root):
    cfgs = planned_configs("ensemble_ava", tmp_path / "plan")
    pre = shrink(cfgs["pretrain.k600.slowfast_8x8"], iters=2, warmup=0, **FAST)
    pre["data"]["root"] = str(kinetics_root)
    pre_dir = write_run_dir(tmp_path / "pretrain", pre)
    pre_result = _run("pretrain", pre_dir)
    checkpoint = pre_dir / pre_result["checkpoint"]
    assert checkpoint.name == "step_000002.pt"
    assert (pre_result["device"], pre_result["world_size"]) == (f"cpu ({cpu_kind()})", 1)

    ft = shrink(cfgs["finetune_ava.train.sf8x8"], iters=4, warmup=1, checkpoint_every=2, **FAST)
    ft["data"]["root"] = str(ava_root)
    ft_dir = write_run_dir(tmp_path / "finetune", ft, init_checkpoint=checkpoint)
    trained = ft_dir / _run("finetune_ava", ft_dir)["checkpoint"]
    assert trained.name == "step_000004.pt"
    lines = [json.loads(x) for x in (ft_dir / "metrics.jsonl").read_text().splitlines()]
    assert {("train", "loss"), ("train", "lr")} <= {(m["split"], m["name"]) for m in lines}

    evaluations = {}
    for split, tta in (("val", [40, 48]), ("val", [40]), ("test", [40])):
        ev = shrink(cfgs[f"evaluate.{split}.sf8x8"], **FAST)
        ev["data"].update(root=str(ava_root), tta_scales=tta, tta_flip=len(tta) > 1)
        name = f"{split}_{len(tta)}"
        ev_dir = write_run_dir(tmp_path / f"evaluate_{name}", ev, checkpoint=trained)
        result = _run("evaluate", ev_dir)
        assert result["device"] == f"cpu ({cpu_kind()})"
        evaluations[name] = ev_dir / result["predictions"]
        rows = list(csv.reader(evaluations[name].open()))
        assert len(rows[0]) == 8 and len(rows) % 80 == 0  # every box scored for all 80 classes
        assert {int(r[6]) for r in rows} == set(range(1, 81))
        if split == "val":
            assert 0.0 <= result["metrics"]["frame_map"] <= 1.0
            assert any(k.startswith("ap/") for k in result["metrics"])
            assert len(result["views"]) == (2 * len(tta) if len(tta) > 1 else 1)
        else:
            assert result["metrics"] == {}  # test predictions have no labels

    cfg = json.loads(json.dumps(cfgs["ensemble.val"]))
    cfg["data"]["root"] = str(ava_root)
    ens_val = write_run_dir(tmp_path / "ensemble_val", cfg,
                            predictions={"single": str(evaluations["val_1"]),
                                         "plus": str(evaluations["val_2"])})
    assert "frame_map" in _run("ensemble", ens_val)["metrics"]

    cfg = json.loads(json.dumps(cfgs["ensemble.test"]))
    cfg["data"]["root"] = str(ava_root)
    ens_test = write_run_dir(tmp_path / "ensemble_test", cfg,
                             predictions={"sf8x8": str(evaluations["test_1"])})
    ens_predictions = ens_test / _run("ensemble", ens_test)["predictions"]

    cfg = json.loads(json.dumps(cfgs["export.test"]))
    cfg["data"]["root"] = str(ava_root)
    export_dir = write_run_dir(tmp_path / "export", cfg,
                               predictions={"ensemble": str(ens_predictions)},
                               member_predictions={"sf8x8": str(evaluations["test_1"])})
    result = _run("export", export_dir)
    assert result["valid"] and result["covered"] == result["expected"] > 0
    manifest = json.loads((export_dir / "manifest.json").read_text())
    member = manifest["members"]["sf8x8"]
    assert member["checkpoint"] == str(trained) and len(member["checkpoint_sha256"]) == 64
    submission = export_dir / result["submission"]
    ids = {int(r[6]) for r in csv.reader(submission.open())}
    assert len(ids) <= 60  # only the evaluated classes go to the server


@pytest.mark.slow
def test_kinetics_evaluate_ensemble_export(tmp_path, kinetics_root):
    cfgs = planned_configs("kinetics_challenge", tmp_path / "plan")
    pre = shrink(cfgs["pretrain.k600.slowfast_8x8"], iters=1, warmup=0, **FAST)
    pre["data"]["root"] = str(kinetics_root)
    pre_dir = write_run_dir(tmp_path / "pretrain", pre)
    checkpoint = pre_dir / _run("pretrain", pre_dir)["checkpoint"]
    predictions = {}
    for split in ("val", "test"):
        ev = shrink(cfgs[f"evaluate.{split}.sf8x8"], **FAST)
        ev["model"]["num_classes"] = 6
        ev["data"].update(root=str(kinetics_root), test_num_clips=2, test_num_crops=3)
        ev_dir = write_run_dir(tmp_path / f"evaluate_{split}", ev, checkpoint=checkpoint)
        result = _run("evaluate", ev_dir)
        assert result["views_per_video"] == 6
        predictions[split] = ev_dir / result["predictions"]
        with np.load(predictions[split]) as npz:
            np.testing.assert_allclose(npz["probs"].sum(1), 1.0, rtol=1e-6)
            assert npz["probs"].shape == (len(npz["video_ids"]), 6)
        if split == "val":
            assert set(result["metrics"]) >= {"top1", "top5", "challenge_error"}
    cfg = json.loads(json.dumps(cfgs["ensemble.test"]))
    cfg["data"]["root"] = str(kinetics_root)
    ens = write_run_dir(tmp_path / "ensemble", cfg, predictions={"a": str(predictions["test"]),
                                                                 "b": str(predictions["test"])})
    ens_predictions = ens / _run("ensemble", ens)["predictions"]
    cfg = json.loads(json.dumps(cfgs["export.test"]))
    cfg["data"]["root"] = str(kinetics_root)
    export_dir = write_run_dir(tmp_path / "export", cfg, predictions={"ensemble": str(ens_predictions)},
                               member_predictions={"a": str(predictions["test"])})
    result = _run("export", export_dir)
    assert result["valid"] and result["submission"].endswith(".json")
    document = json.loads((export_dir / result["submission"]).read_text())
    assert all(len(v) == 5 for v in document["results"].values())
