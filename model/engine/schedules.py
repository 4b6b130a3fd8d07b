"""Learning-rate schedules of the report, as pure functions of the iteration.

Why pure functions: the learning rate at iteration ``n`` is then a function of ``n`` alone,
so resuming from a checkpoint needs only the step counter (stored anyway) and a resumed run
follows exactly the curve of an uninterrupted one. ``LRSchedule.state_dict`` exists so the
checkpoint is self-describing and a resume with a *different* schedule is detected.

- Kinetics (report section 3, "Training"): half-period cosine,
  ``lr(n) = base * 0.5 * (cos(pi * n / n_max) + 1)``, with a linear warm-up.
- AVA (report section 2, "Training"): step-wise decay by 10x at given iterations, with a
  1k-iteration linear warm-up; 12k iterations, 1.5x longer for train+val.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "LRSchedule",
    "ScheduleError",
    "cosine_lr",
    "linearly_scaled_lr",
    "longer_schedule",
    "step_lr",
]

#: The report's total mini-batch: 8 clips per GPU on 128 GPUs (section 3, "Training").
REFERENCE_GLOBAL_BATCH = 1024


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


def linearly_scaled_lr(base_lr: float, global_batch: int,
                       reference_batch: int = REFERENCE_GLOBAL_BATCH) -> float:
    """The linear scaling rule (Goyal et al., the report's [8]): lr proportional to batch.

    The report's base learning rates are for a total batch of 1024 clips. When a run uses a
    smaller *effective* batch (fewer GPUs and no gradient accumulation) the learning rate is
    scaled by ``global_batch / 1024``. With gradient accumulation up to 1024 clips no scaling
    happens (the factor is 1).
    """
    if global_batch <= 0:
        raise ScheduleError(f"schedule.global_batch must be positive, got {global_batch}")
    return base_lr * global_batch / reference_batch


def longer_schedule(max_iters: int, steps: list[int], factor: float) -> tuple[int, list[int]]:
    """Stretch a step schedule by ``factor`` (1.5x for AVA train+val, report section 2)."""
    return round(max_iters * factor), [round(s * factor) for s in steps]


@dataclass(frozen=True)
class LRSchedule:
    """One of the two schedules, configured; ``lr_at(n)`` is the learning rate of step n."""

    name: str
    base_lr: float
    max_iters: int
    warmup_iters: int = 0
    warmup_start_lr: float = 0.0
    steps: list[int] = field(default_factory=list)
    lr_decay: float = 0.1

    def __post_init__(self) -> None:
        if self.name not in ("cosine", "steps"):
            raise ScheduleError(f"schedule.name must be 'cosine' or 'steps', got {self.name!r}")
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
        return cls(
            name=str(get("name", "cosine")),
            base_lr=float(base_lr if base_lr is not None else get("base_lr")),
            max_iters=int(get("max_iters")),
            warmup_iters=int(get("warmup_iters", 0) or 0),
            warmup_start_lr=float(get("warmup_start_lr", 0.0) or 0.0),
            steps=[int(s) for s in (get("steps") or [])],
            lr_decay=float(get("lr_decay", 0.1) or 0.1),
        )

    def lr_at(self, n: int) -> float:
        if self.name == "cosine":
            return cosine_lr(n, base_lr=self.base_lr, max_iters=self.max_iters,
                             warmup_iters=self.warmup_iters,
                             warmup_start_lr=self.warmup_start_lr)
        return step_lr(n, base_lr=self.base_lr, steps=list(self.steps), lr_decay=self.lr_decay,
                       warmup_iters=self.warmup_iters, warmup_start_lr=self.warmup_start_lr)

    def state_dict(self) -> dict[str, Any]:
        state = asdict(self)
        state["steps"] = list(self.steps)
        return state

    def check_compatible(self, state: dict[str, Any]) -> None:
        """Refuse to resume a checkpoint written under another schedule."""
        if state != self.state_dict():
            raise ScheduleError(
                f"checkpoint was written with schedule {state}, config now says "
                f"{self.state_dict()}")
