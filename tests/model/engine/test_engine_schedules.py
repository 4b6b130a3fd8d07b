"""The report's schedules, checked against their formulas at points computed by hand."""
import math

import pytest

from model.engine.schedules import (LRSchedule, ScheduleError, cosine_lr, linearly_scaled_lr,
                                    longer_schedule, step_lr)


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


def test_linear_scaling_of_the_base_lr():
    assert linearly_scaled_lr(0.8, 1024) == pytest.approx(0.8)
    assert linearly_scaled_lr(0.8, 64) == pytest.approx(0.05)
    with pytest.raises(ScheduleError):
        linearly_scaled_lr(0.8, 0)


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
