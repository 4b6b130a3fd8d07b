"""Learning-rate schedules of the report, as pure functions of the iteration.

Why pure functions: the learning rate at iteration ``n`` is then a function of ``n`` alone,
so resuming from a checkpoint needs only the step counter (stored anyway) and a resumed run
follows exactly the curve of an uninterrupted one. ``LRSchedule.state_dict`` exists so the
checkpoint is self-describing and a resume with a *different* schedule is detected.

- Kinetics (report section 3, "Training"): half-period cosine,
  ``lr(n) = base * 0.5 * (cos(pi * n / n_max) + 1)``, with a linear warm-up.
- AVA (report section 2, "Training"): step-wise decay by 10x at given iterations, with a
  1k-iteration linear warm-up; 12k iterations, 1.5x longer for train+val.
- AVA, the report's own rule (``name="plateau"``): "reducing the learning rate 10x when
  validation error saturates". The cut points are then decided during training by
  :class:`PlateauCuts` from the val metric measured every ``eval_every`` iterations; the
  learning rate is still a pure function of (n, cut points so far), and the cut points are
  part of the checkpoint, so a resumed run follows the same curve.

The recipe's rules that turn a configured schedule into a job's are here too, each written
once: the linear learning-rate factor (``linear_lr_factor``), the 1.5x train+val stretch
(``longer_schedule``) and the longer clips' wider scale jitter (``train_jitter_scales``). The
planner calls them (they import nothing heavy) and writes their results into config.yaml.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "LRSchedule",
    "PlateauCuts",
    "ScheduleError",
    "cosine_lr",
    "linear_lr_factor",
    "linearly_scaled_lr",
    "longer_schedule",
    "step_lr",
    "stretched_steps",
    "train_jitter_scales",
]

#: The report's total mini-batch: 8 clips per GPU on 128 GPUs (section 3, "Training").
REFERENCE_GLOBAL_BATCH = 1024
#: Sec. 3: a clip spanning more than this many frames (T x tau) gets the wider scale jitter.
LONG_CLIP_FRAMES = 64


class ScheduleError(ValueError):
    """A schedule configuration that cannot be followed (names the field)."""


def _warmup(n: int, warmup_iters: int, warmup_start_lr: float, target_lr: float) -> float:
    """Linear ramp from ``warmup_start_lr`` at n=0 to ``target_lr`` at n=warmup_iters."""
    alpha = n / warmup_iters
    return warmup_start_lr + (target_lr - warmup_start_lr) * alpha


def cosine_lr(n: int, *, base_lr: float, max_iters: int, warmup_iters: int = 0,
              warmup_start_lr: float = 0.0) -> float:
    """Half-period cosine with linear warm-up (report section 3).

    During warm-up the learning rate ramps linearly towards the value the cosine curve has at
    the end of the warm-up (as PySlowFast does), so the curve is continuous.
    """
    def cosine(i: int) -> float:
        return base_lr * 0.5 * (math.cos(math.pi * i / max_iters) + 1.0)

    if n < warmup_iters:
        return _warmup(n, warmup_iters, warmup_start_lr, cosine(warmup_iters))
    return cosine(min(n, max_iters))


def step_lr(n: int, *, base_lr: float, steps: list[int], lr_decay: float = 0.1,
            warmup_iters: int = 0, warmup_start_lr: float = 0.0) -> float:
    """Step-wise decay: ``base * lr_decay**k`` after the k-th boundary (report section 2)."""
    decays = sum(1 for boundary in steps if n >= boundary)
    target = base_lr * lr_decay ** decays
    if n < warmup_iters:
        return _warmup(n, warmup_iters, warmup_start_lr, target)
    return target


def linear_lr_factor(global_batch: int, reference_batch: int = REFERENCE_GLOBAL_BATCH) -> float:
    """The linear scaling rule (Goyal et al., the report's [8]): ``global_batch / reference_batch``.

    The report's base learning rates belong to a total batch of 1024 clips ("8 clips per GPU
    (so the total mini-batch size is 1024)", Sec. 3); a run whose *effective* batch is smaller
    (fewer GPUs and no gradient accumulation up to it) scales its learning rates by this
    factor. It is at most 1: a batch larger than the recipe's is not one the report trained
    with, so its learning rate is not extrapolated upwards.
    """
    if global_batch <= 0:
        raise ScheduleError(f"schedule.global_batch must be positive, got {global_batch}")
    if reference_batch <= 0:
        raise ScheduleError(f"the reference batch of the base learning rate must be positive, got {reference_batch}")
    return min(1.0, global_batch / reference_batch)


def linearly_scaled_lr(base_lr: float, global_batch: int,
                       reference_batch: int = REFERENCE_GLOBAL_BATCH) -> float:
    """``base_lr`` for a total batch of ``global_batch`` clips: ``base_lr x linear_lr_factor``."""
    return base_lr * linear_lr_factor(global_batch, reference_batch)


def longer_schedule(max_iters: int, steps: Sequence[int], factor: float) -> tuple[int, list[int]]:
    """Stretch a schedule, its length and its step points, by ``factor``: 1.5x for the AVA
    train+val runs (Sec. 2, "by 1.5x longer than when training on train only"), 1 / 1.5 for the
    train run of a member whose stated length is its train+val one."""
    return round(max_iters * factor), stretched_steps(steps, factor)


def stretched_steps(steps: Sequence[int], factor: float) -> list[int]:
    """The step points of a schedule stretched by ``factor`` (see ``longer_schedule``): also
    the cut points a train+val run takes from its train run under the plateau rule."""
    return [round(int(s) * factor) for s in steps]


def train_jitter_scales(num_frames: int, sampling_rate: float, *, short: Sequence[int],
                        long: Sequence[int]) -> list[int]:
    """The range of the training short side: ``long`` for a clip spanning more than 64 frames,
    else ``short``.

    Sec. 3: "a shorter side sampled in [256, 340] pixels. For models that span longer temporal
    duration on the input. T x tau > 64, we increase the scale jitter to [256, 360]" (the 16x8
    model spans 128 frames). The two ranges come from the dataset's config.
    """
    return list(long) if num_frames * sampling_rate > LONG_CLIP_FRAMES else list(short)


@dataclass(frozen=True)
class LRSchedule:
    """One of the schedules, configured; ``lr_at(n)`` is the learning rate of step n
    (``lr_at(n, cuts)`` for ``plateau``: the cut points decided so far)."""

    name: str
    base_lr: float
    max_iters: int
    warmup_iters: int = 0
    warmup_start_lr: float = 0.0
    steps: list[int] = field(default_factory=list)
    lr_decay: float = 0.1
    #: ``plateau`` only: the val metric watched (higher is better), how many evaluations
    #: without an improvement of more than ``plateau_min_delta`` make a cut, and at most how
    #: many cuts.
    plateau_metric: str = "frame_map"
    plateau_patience: int = 1
    plateau_min_delta: float = 0.0
    plateau_max_cuts: int = 2

    def __post_init__(self) -> None:
        if self.name not in ("cosine", "steps", "plateau"):
            raise ScheduleError(f"schedule.name must be 'cosine', 'steps' or 'plateau', got {self.name!r}")
        if self.plateau_patience < 1 or self.plateau_max_cuts < 0 or self.plateau_min_delta < 0:
            raise ScheduleError("schedule.plateau needs patience >= 1, max_cuts >= 0 and min_delta >= 0, got "
                                f"{self.plateau_patience}, {self.plateau_max_cuts}, {self.plateau_min_delta}")
        if self.max_iters <= 0:
            raise ScheduleError(f"schedule.max_iters must be positive, got {self.max_iters}")
        if not 0 <= self.warmup_iters <= self.max_iters:
            raise ScheduleError(
                f"schedule.warmup_iters must be in [0, max_iters], got {self.warmup_iters}")
        if self.base_lr <= 0 or not math.isfinite(self.base_lr):
            raise ScheduleError(f"schedule.base_lr must be positive, got {self.base_lr}")
        if list(self.steps) != sorted(self.steps):
            raise ScheduleError(f"schedule.steps must be increasing, got {self.steps}")

    @classmethod
    def from_config(cls, schedule_cfg: Any, base_lr: float | None = None) -> "LRSchedule":
        """Build from the ``schedule:`` block of config.yaml (a mapping)."""
        get = schedule_cfg.get
        plateau = get("plateau") or {}
        return cls(
            name=str(get("name", "cosine")),
            base_lr=float(base_lr if base_lr is not None else get("base_lr")),
            max_iters=int(get("max_iters")),
            warmup_iters=int(get("warmup_iters", 0) or 0),
            warmup_start_lr=float(get("warmup_start_lr", 0.0) or 0.0),
            steps=[int(s) for s in (get("steps") or [])],
            lr_decay=float(get("lr_decay", 0.1) or 0.1),
            plateau_metric=str(plateau.get("metric", "frame_map")),
            plateau_patience=int(plateau.get("patience", 1)),
            plateau_min_delta=float(plateau.get("min_delta", 0.0)),
            plateau_max_cuts=int(plateau.get("max_cuts", 2)),
        )

    def lr_at(self, n: int, cuts: list[int] | tuple[int, ...] = ()) -> float:
        if self.name == "cosine":
            return cosine_lr(n, base_lr=self.base_lr, max_iters=self.max_iters,
                             warmup_iters=self.warmup_iters,
                             warmup_start_lr=self.warmup_start_lr)
        steps = list(cuts) if self.name == "plateau" else list(self.steps)
        return step_lr(n, base_lr=self.base_lr, steps=steps, lr_decay=self.lr_decay,
                       warmup_iters=self.warmup_iters, warmup_start_lr=self.warmup_start_lr)

    def state_dict(self) -> dict[str, Any]:
        state = asdict(self)
        state["steps"] = list(self.steps)
        if self.name != "plateau":  # the checkpoints of the fixed schedules keep their old form
            state = {k: v for k, v in state.items() if not k.startswith("plateau_")}
        return state

    def check_compatible(self, state: dict[str, Any]) -> None:
        """Refuse to resume a checkpoint written under another schedule."""
        if state != self.state_dict():
            raise ScheduleError(
                f"checkpoint was written with schedule {state}, config now says "
                f"{self.state_dict()}")


@dataclass
class PlateauCuts:
    """The report's AVA rule, "reducing the learning rate 10x when validation error saturates".

    ``observe(step, value)`` is called with the val metric (higher is better) of each
    evaluation; after ``patience`` evaluations in a row without an improvement of more than
    ``min_delta`` over the best so far, the learning rate is cut from ``step`` on (at most
    ``max_cuts`` times) and the count starts again. The state is small and goes into the
    checkpoint (``state_dict``), so a resumed run makes the same cuts.
    """

    patience: int = 1
    min_delta: float = 0.0
    max_cuts: int = 2
    best: float | None = None
    stale: int = 0
    cuts: list[int] = field(default_factory=list)

    @classmethod
    def of(cls, schedule: LRSchedule) -> "PlateauCuts":
        return cls(patience=schedule.plateau_patience, min_delta=schedule.plateau_min_delta,
                   max_cuts=schedule.plateau_max_cuts)

    def observe(self, step: int, value: float) -> bool:
        """Record one evaluation; True when it cuts the learning rate from ``step`` on."""
        if not math.isfinite(value):
            raise ScheduleError(f"plateau rule: the val metric at step {step} is {value}, not a number")
        if self.best is None or value > self.best + self.min_delta:
            self.best, self.stale = value, 0
            return False
        self.stale += 1
        if self.stale < self.patience or len(self.cuts) >= self.max_cuts:
            return False
        self.cuts.append(step)
        self.stale = 0
        return True

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "stale": self.stale, "cuts": list(self.cuts)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = state["best"]
        self.stale = int(state["stale"])
        self.cuts = [int(c) for c in state["cuts"]]
