"""The report's schedules, checked against their formulas at points computed by hand."""
import math

import pytest

from model.engine.schedules import (LRSchedule, PlateauCuts, ScheduleError, cosine_lr, linear_lr_factor,
                                    linearly_scaled_lr, longer_schedule, step_lr, stretched_steps,
                                    train_jitter_scales)


def test_cosine_follows_the_half_period_formula():
    # lr(n) = base * 0.5 * (cos(pi n / n_max) + 1): base at 0, base/2 at n_max/2, 0 at n_max.
    assert cosine_lr(0, base_lr=0.8, max_iters=100) == pytest.approx(0.8)
    assert cosine_lr(50, base_lr=0.8, max_iters=100) == pytest.approx(0.4)
    assert cosine_lr(25, base_lr=0.8, max_iters=100) == pytest.approx(0.4 * (1 + math.sqrt(0.5)))
    assert cosine_lr(100, base_lr=0.8, max_iters=100) == pytest.approx(0.0, abs=1e-12)


def test_cosine_warmup_is_linear_and_continuous():
    kw = dict(base_lr=0.8, max_iters=100, warmup_iters=10, warmup_start_lr=0.0)
    end = 0.8 * 0.5 * (math.cos(math.pi * 10 / 100) + 1)
    assert cosine_lr(0, **kw) == 0.0
    assert cosine_lr(5, **kw) == pytest.approx(end / 2)
    assert cosine_lr(10, **kw) == pytest.approx(end)


def test_steps_decay_tenfold_after_1k_linear_warmup():
    # AVA: 1k-iteration warm-up, then x0.1 at each boundary.
    kw = dict(base_lr=0.1, steps=[8000, 10000], lr_decay=0.1, warmup_iters=1000,
              warmup_start_lr=0.001)
    assert step_lr(0, **kw) == pytest.approx(0.001)
    assert step_lr(500, **kw) == pytest.approx(0.001 + (0.1 - 0.001) * 0.5)
    assert step_lr(1000, **kw) == pytest.approx(0.1)
    assert step_lr(7999, **kw) == pytest.approx(0.1)
    assert step_lr(8000, **kw) == pytest.approx(0.01)
    assert step_lr(11999, **kw) == pytest.approx(0.001)


def test_train_plus_val_runs_one_and_a_half_times_longer():
    assert longer_schedule(12000, [8000, 10000], 1.5) == (18000, [12000, 15000])
    # A train run's plateau cuts, carried over to its train+val run.
    assert stretched_steps([6000, 10001], 1.5) == [9000, 15002]


def test_linear_scaling_of_the_base_lr():
    assert linearly_scaled_lr(0.8, 1024) == pytest.approx(0.8)
    assert linearly_scaled_lr(0.8, 64) == pytest.approx(0.05)
    with pytest.raises(ScheduleError):
        linearly_scaled_lr(0.8, 0)


def test_the_linear_factor_is_the_batch_ratio_and_never_above_one():
    assert linear_lr_factor(1024, 1024) == 1.0
    assert linear_lr_factor(256, 1024) == 0.25
    assert linear_lr_factor(8) == 8 / 1024  # the report's 1024-clip batch by default
    assert linear_lr_factor(2048, 1024) == 1.0  # not extrapolated above the recipe's batch
    with pytest.raises(ScheduleError, match="global_batch"):
        linear_lr_factor(0, 1024)


def test_clips_longer_than_64_frames_get_the_wider_jitter():
    ranges = dict(short=[256, 340], long=[256, 360])
    assert train_jitter_scales(8, 8, **ranges) == [256, 340]     # 8x8: 64 frames, not more
    assert train_jitter_scales(32, 2, **ranges) == [256, 340]    # Fast 32x2: 64 frames
    assert train_jitter_scales(16, 8, **ranges) == [256, 360]    # 16x8: 128 frames (Sec. 3)


def test_schedule_config_errors_name_the_field():
    with pytest.raises(ScheduleError, match="schedule.name"):
        LRSchedule("linear", base_lr=0.1, max_iters=10)
    with pytest.raises(ScheduleError, match="warmup_iters"):
        LRSchedule("cosine", base_lr=0.1, max_iters=10, warmup_iters=20)


def test_resume_with_another_schedule_is_refused():
    a = LRSchedule("steps", base_lr=0.1, max_iters=100, steps=[50])
    b = LRSchedule("steps", base_lr=0.1, max_iters=150, steps=[75])
    a.check_compatible(LRSchedule.from_config(a.state_dict()).state_dict())
    with pytest.raises(ScheduleError):
        b.check_compatible(a.state_dict())


def test_plateau_cuts_when_the_val_metric_stops_improving():
    # Sec. 2: "reducing the learning rate 10x when validation error saturates".
    cuts = PlateauCuts(patience=2, min_delta=0.001, max_cuts=2)
    # improves, improves, stalls twice (the second stall cuts at 4000), improves, stalls twice
    # (cut at 7000), stalls twice more: no third cut (max_cuts).
    for step, value in [(1000, 0.20), (2000, 0.25), (3000, 0.2505), (4000, 0.24), (5000, 0.27),
                        (6000, 0.27), (7000, 0.26), (8000, 0.26), (9000, 0.26)]:
        cuts.observe(step, value)
    assert cuts.cuts == [4000, 7000] and cuts.best == 0.27
    schedule = LRSchedule("plateau", base_lr=0.1, max_iters=10000, lr_decay=0.1)
    assert schedule.lr_at(3999, cuts.cuts) == pytest.approx(0.1)
    assert schedule.lr_at(4000, cuts.cuts) == pytest.approx(0.01)
    assert schedule.lr_at(9999, cuts.cuts) == pytest.approx(0.001)
    assert schedule.lr_at(9999) == pytest.approx(0.1)  # no cut decided: the base rate


def test_plateau_state_round_trips_and_refuses_a_missing_metric():
    cuts = PlateauCuts(patience=1)
    cuts.observe(10, 0.5)
    cuts.observe(20, 0.4)
    restored = PlateauCuts(patience=1)
    restored.load_state_dict(cuts.state_dict())
    assert restored == cuts and restored.cuts == [20]
    with pytest.raises(ScheduleError, match="not a number"):
        cuts.observe(30, float("nan"))


def test_plateau_config_and_the_fixed_schedules_checkpoint_form():
    schedule = LRSchedule.from_config({"name": "plateau", "base_lr": 0.8, "max_iters": 100,
                                       "plateau": {"metric": "frame_map", "patience": 3, "min_delta": 0.002,
                                                   "max_cuts": 1}})
    assert (schedule.plateau_patience, schedule.plateau_min_delta, schedule.plateau_max_cuts) == (3, 0.002, 1)
    assert PlateauCuts.of(schedule) == PlateauCuts(patience=3, min_delta=0.002, max_cuts=1)
    # A steps schedule's checkpoint state has no plateau fields (checkpoints written before the
    # rule existed still resume).
    assert not any(k.startswith("plateau") for k in LRSchedule("steps", base_lr=0.1, max_iters=10).state_dict())
    with pytest.raises(ScheduleError, match="patience >= 1"):
        LRSchedule("plateau", base_lr=0.1, max_iters=10, plateau_patience=0)
