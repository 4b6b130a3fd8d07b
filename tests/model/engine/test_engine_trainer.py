"""The loop in-process: files it writes, accumulation, NaN and empty-data failures,
a preemption checkpoint taken in the middle of a step."""
import json

import pytest
import torch

from model.engine.checkpoint import CheckpointStore
from model.engine.reporting import NONDETERMINISTIC_NAMES, deterministic_view, read_metrics
from model.engine.trainer import EmptyDatasetError, NonFiniteLossError
from tests.model.engine.tiny_training import build_trainer, classification_step

torch.set_num_threads(1)


def test_run_writes_metrics_status_checkpoints_and_tensorboard(tmp_path):
    trainer = build_trainer(tmp_path, max_iters=6, checkpoint_every=3, eval_every=3)
    final = trainer.run()
    lines = read_metrics(tmp_path / "metrics.jsonl")
    assert set(lines[0]) == {"step", "split", "name", "value", "time", "attempt"}
    names = {(m["split"], m["name"]) for m in lines}
    assert {("train", "loss"), ("train", "lr")} <= names
    assert {("train", n) for n in NONDETERMINISTIC_NAMES} <= names
    assert ("val", "top1") in names and set(final) == {"top1"}
    lrs = [m["value"] for m in lines if m["name"] == "lr"]
    assert lrs[0] == pytest.approx(0.01)  # warm-up start of the tiny schedule
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["step"] == 6 and status["total_steps"] == 6
    assert CheckpointStore(tmp_path / "checkpoints").steps() == [6, 3]
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))


def test_gradient_accumulation_equals_the_large_batch(tmp_path):
    """16 clips as 2 x 8 accumulated == 16 clips at once (no BN, no dropout: same maths)."""
    kw = dict(max_iters=3, global_batch=16, dropout=0.0, bn=False, eval_every=0)
    accumulated = build_trainer(tmp_path / "a", per_process_batch=8, **kw)
    accumulated.run()
    whole = build_trainer(tmp_path / "b", per_process_batch=16, bn_group=16, **kw)
    whole.run()
    assert accumulated.accum == 2 and whole.accum == 1
    for (name, a), (_, b) in zip(accumulated.core.state_dict().items(),
                                 whole.core.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)


def test_nan_loss_stops_with_the_step_lr_and_last_checkpoint(tmp_path):
    trainer = build_trainer(tmp_path, max_iters=10, checkpoint_every=2, eval_every=0)

    def poisoned(model, batch, precision):
        loss, n = classification_step(model, batch, precision)
        return (loss * float("nan") if trainer.step == 5 else loss), n

    trainer.step_fn = poisoned
    with pytest.raises(NonFiniteLossError) as err:
        trainer.run()
    assert err.value.step == 5 and err.value.checkpoint.name == "step_000004.pt"
    assert "step 5" in str(err.value) and "lr" in str(err.value)
    assert CheckpointStore(tmp_path / "checkpoints").steps()[0] == 4  # nothing lost


def test_empty_split_is_a_clear_error(tmp_path):
    trainer = build_trainer(tmp_path, n=10, per_process_batch=8, global_batch=16)
    with pytest.raises(EmptyDatasetError, match="10 samples"):
        trainer.run()


class Preempted(Exception):
    pass


def preempt_during_step(trainer, step: int) -> None:
    """Run ``trainer`` until, inside step ``step``'s forward, ``checkpoint_now`` is called (as
    submitit's signal handler would) and the process stops."""
    def step_then_preempt(model, batch, precision):
        out = classification_step(model, batch, precision)
        if trainer.step == step:
            trainer.checkpoint_now()
            raise Preempted
        return out

    trainer.step_fn = step_then_preempt
    with pytest.raises(Preempted):
        trainer.run()


def test_preemption_checkpoint_mid_step_resumes_exactly(tmp_path):
    """``checkpoint_now`` called during a forward (as submitit's signal handler would)."""
    kw = dict(max_iters=8, checkpoint_every=100, eval_every=4)
    reference = build_trainer(tmp_path / "ref", **kw)
    reference.run()

    interrupted = build_trainer(tmp_path / "int", **kw)
    preempt_during_step(interrupted, 5)  # BN stats of step 5 already updated when it checkpoints
    assert json.loads((tmp_path / "int" / "status.json").read_text())["state"] == "checkpointed"
    resumed = build_trainer(tmp_path / "int", **kw)
    resumed.run()
    for name, value in reference.core.state_dict().items():
        assert torch.equal(value, resumed.core.state_dict()[name]), name
    assert deterministic_view(read_metrics(tmp_path / "int" / "metrics.jsonl")) == \
        deterministic_view(read_metrics(tmp_path / "ref" / "metrics.jsonl"))


def _plateau_trainer(run_dir, scripted):
    """Steps schedule decided by the report's rule; the val metric is scripted per step so the
    cuts are known: stalls at steps 6 and 12 (patience 1)."""
    from model.engine.schedules import LRSchedule

    schedule = LRSchedule("plateau", base_lr=0.2, max_iters=15, warmup_iters=2, warmup_start_lr=0.01,
                          lr_decay=0.1, plateau_metric="top1", plateau_patience=1)
    trainer = build_trainer(run_dir, max_iters=15, checkpoint_every=100, eval_every=3, schedule=schedule)
    trainer.evaluate = lambda model, step: {"top1": scripted[step]}
    return trainer


def test_plateau_cuts_follow_the_val_metric_and_survive_an_exact_resume(tmp_path):
    scripted = {3: 0.40, 6: 0.40, 9: 0.50, 12: 0.45, 15: 0.55}
    reference = _plateau_trainer(tmp_path / "ref", scripted)
    reference.run()
    assert reference.plateau.cuts == [6, 12]
    lrs = {r["step"]: r["value"] for r in read_metrics(tmp_path / "ref" / "metrics.jsonl")
           if r["name"] == "lr" and r["split"] == "train"}
    # metrics are written after the step: the lr of step n-1 is logged at step n.
    assert lrs[6] == pytest.approx(0.2) and lrs[7] == pytest.approx(0.02)
    assert lrs[13] == pytest.approx(0.002)

    interrupted = _plateau_trainer(tmp_path / "int", scripted)
    preempt_during_step(interrupted, 10)  # after the first cut, before the second
    state, _ = CheckpointStore(tmp_path / "int" / "checkpoints", 2).load_latest(map_location="cpu")
    assert state["plateau"] == {"best": 0.5, "stale": 0, "cuts": [6]}
    resumed = _plateau_trainer(tmp_path / "int", scripted)
    resumed.run()
    assert resumed.plateau.cuts == [6, 12]
    for name, value in reference.core.state_dict().items():
        assert torch.equal(value, resumed.core.state_dict()[name]), name
    assert deterministic_view(read_metrics(tmp_path / "int" / "metrics.jsonl")) == \
        deterministic_view(read_metrics(tmp_path / "ref" / "metrics.jsonl"))


def test_plateau_without_evaluation_is_refused(tmp_path):
    from model.engine.schedules import LRSchedule

    schedule = LRSchedule("plateau", base_lr=0.2, max_iters=6)
    with pytest.raises(ValueError, match="eval_every > 0"):
        build_trainer(tmp_path, max_iters=6, eval_every=0, schedule=schedule)
