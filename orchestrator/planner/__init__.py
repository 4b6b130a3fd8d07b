"""The planner: Hydra experiment configs -> a DAG of jobs -> database rows + config.yaml files.

Public API::

    cfg = compose_experiment("ensemble_ava", ["scale=demo", "cluster=local"])  # Hydra compose
    plan = plan_experiment(to_plain(cfg))           # DAG in memory, content hashes; each job's
                                                    # config checked against jobs/schema.py
    with session_scope(engine) as session:
        report = record_plan(session, plan)         # one transaction; writes config.yaml files
    plan_tree(plan) -> rich.tree.Tree               # the --dry-run display
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from orchestrator.planner.compose import (ConfigCompositionError, available_experiments, compose_experiment,
                                          configs_dir)
from orchestrator.planner.dag import Plan, PlannedJob, PlanningError, content_hash, plan_experiment
from orchestrator.planner.tree import plan_tree

_RECORDING = ("RecordReport", "record_plan", "write_config_atomic")


def __getattr__(name: str):
    """The recording half needs SQLAlchemy and the models: imported on first use only, so
    that ``submit --dry-run`` starts without them."""
    if name in _RECORDING:
        from orchestrator.planner import record

        return getattr(record, name)
    raise AttributeError(f"module 'orchestrator.planner' has no attribute {name!r}")


def to_plain(cfg: DictConfig) -> dict[str, Any]:
    """The composed config with every interpolation resolved, as plain dicts and lists."""
    return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]


__all__ = ["ConfigCompositionError", "Plan", "PlannedJob", "PlanningError", "RecordReport", "available_experiments",
           "compose_experiment", "configs_dir", "content_hash", "plan_experiment", "plan_tree", "record_plan",
           "to_plain", "write_config_atomic"]
