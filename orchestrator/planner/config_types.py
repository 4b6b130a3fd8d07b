"""The types of the config fields a user sets on the command line, checked before planning.

Hydra turns ``scale.batch_size=abc`` into the string ``'abc'`` and ``scale.base_lr=0.1`` (a
per-task mapping) into a number; without this check the planner fails deep inside with
``invalid literal for int()`` or an ``AttributeError`` traceback that names no field. Each
entry says what the field must hold; ``check_config_types`` raises one ``PlanningError``
naming the first field that does not, with the value given.

Only the groups a user overrides (the top level, ``scale``, ``cluster``) are listed: models,
datasets and schedules are files of the project, checked by tests/configs.

This checks the planner's *input*, with ranges (``>= 1``) and per-task mappings; what the
planner *writes*, each job's config.yaml, is checked against its schema, ``jobs/schema.py``
(``dag._check_schema``). A value of the wrong type here would fail inside the resolver, before
any config.yaml exists, so the two checks do not overlap.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["FieldType", "FIELD_TYPES", "check_config_types"]


@dataclass(frozen=True)
class FieldType:
    expected: str                  # what the value must be, for the message
    holds: Callable[[Any], bool]
    per_key: bool = False          # a mapping (per task / dataset) whose every value must hold
    example: str = ""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


TEXT = FieldType("a string", lambda v: isinstance(v, str))
FLAG = FieldType("true or false", lambda v: isinstance(v, bool))
INT = FieldType("an integer", _is_int)
COUNT = FieldType("an integer >= 0", lambda v: _is_int(v) and v >= 0)
POSITIVE_INT = FieldType("an integer >= 1", lambda v: _is_int(v) and v >= 1)
POSITIVE_NUMBER = FieldType("a number > 0", lambda v: _is_number(v) and v > 0)
PER_TASK_NUMBER = FieldType("a number > 0", POSITIVE_NUMBER.holds, per_key=True, example="{kinetics: 0.1, ava: 0.1}")
PER_DATASET_COUNT = FieldType("an integer >= 1", POSITIVE_INT.holds, per_key=True, example="{kinetics600: 6}")
BACKOFF = FieldType("a list of seconds >= 0, e.g. [5, 15, 60]",
                    lambda v: isinstance(v, list) and all(_is_number(x) and x >= 0 for x in v))

_RESOURCES = {"nodes": POSITIVE_INT, "gpus_per_node": COUNT, "cpus_per_task": POSITIVE_INT,
              "mem_gb": POSITIVE_NUMBER, "timeout_min": POSITIVE_INT, "tasks_per_node": POSITIVE_INT}

#: dotted field -> what it must hold. ``null`` is always allowed (it means "not set").
FIELD_TYPES: dict[str, FieldType] = {
    "seed": INT,
    "runs_root": TEXT,
    "scale.name": TEXT,
    "scale.model_suffix": TEXT,
    "scale.spatial_factor": POSITIVE_NUMBER,
    "scale.iters_factor": PER_TASK_NUMBER,
    "scale.min_warmup_iters": COUNT,
    "scale.global_batch": POSITIVE_INT,
    "scale.base_lr": PER_TASK_NUMBER,
    "scale.batch_size": POSITIVE_INT,
    "scale.num_workers": COUNT,
    "scale.checkpoint_every": COUNT,
    "scale.eval_every": COUNT,
    "scale.generate_data": FLAG,
    "scale.data_seed": INT,
    "scale.num_classes": PER_DATASET_COUNT,
    "scale.frame_aspect": POSITIVE_NUMBER,
    **{f"scale.{name}": kind for name, kind in _RESOURCES.items()},
    "cluster.executor": TEXT,
    "cluster.signal_delay_s": COUNT,
    "cluster.max_parallel": POSITIVE_INT,
    "cluster.max_resubmits": COUNT,
    "cluster.resubmit_backoff_s": BACKOFF,
    "cluster.poll_interval_s": POSITIVE_NUMBER,
    "cluster.gpu_type": TEXT,
    **{f"cluster.{name}": kind for name, kind in _RESOURCES.items()},
}


def _lookup(cfg: Mapping[str, Any], dotted: str) -> Any:
    node: Any = cfg
    for part in dotted.split("."):
        if not isinstance(node, Mapping):
            return None
        node = node.get(part)
    return node


def _problem(dotted: str, value: Any, kind: FieldType) -> str | None:
    """The message for the first wrong value of one field, or None when it is right."""
    if not kind.per_key:
        return None if kind.holds(value) else f"{dotted}={value!r} must be {kind.expected}"
    if not isinstance(value, Mapping):
        return f"{dotted}={value!r} must be a mapping, e.g. {dotted}={kind.example}"
    for key, item in value.items():
        if not kind.holds(item):
            return f"{dotted}.{key}={item!r} must be {kind.expected}"
    return None


def check_config_types(cfg: Mapping[str, Any]) -> None:
    """Raise ``PlanningError`` naming the first field of ``FIELD_TYPES`` whose value has the
    wrong type or range, e.g. ``scale.batch_size='abc' must be an integer >= 1``."""
    from orchestrator.planner.dag import PlanningError

    for group in ("scale", "cluster"):
        if not isinstance(cfg.get(group) or {}, Mapping):
            raise PlanningError(f"{group}={cfg[group]!r} is not a config group: pick one of configs/{group}/")
    for dotted, kind in FIELD_TYPES.items():
        value = _lookup(cfg, dotted)
        if value is not None:
            problem = _problem(dotted, value, kind)
            if problem:
                raise PlanningError(problem)
