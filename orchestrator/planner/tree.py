"""``submit --dry-run``: the DAG as a rich tree, with each job's resources.

A DAG is not a tree: a job is drawn under its first dependency and lists the others
("also needs ..."), so every job appears exactly once.
"""

from __future__ import annotations

from rich.tree import Tree

from orchestrator.planner.dag import Plan, PlannedJob


def describe_resources(resources: dict) -> str:
    gpus = f"{resources['nodes']}x{resources['gpus_per_node']} GPU" if resources["gpus_per_node"] else \
        f"{resources['nodes']} node{'s' if resources['nodes'] > 1 else ''}, CPU"
    return f"{gpus}, {resources['cpus_per_task']} CPU/task, {resources['mem_gb']} GB, {resources['timeout_min']} min"


def plan_tree(plan: Plan, outcomes: dict[str, str] | None = None) -> Tree:
    root = Tree(f"[bold]{plan.experiment}[/] (scale={plan.scale}, {len(plan.jobs)} jobs, runs in {plan.runs_root})")
    nodes: dict[str, Tree] = {}
    for job in plan.jobs:
        parent = nodes[job.dependencies[0]] if job.dependencies else root
        nodes[job.name] = parent.add(_label(job, outcomes))
    return root


def _label(job: PlannedJob, outcomes: dict[str, str] | None) -> str:
    extra = job.dependencies[1:]
    also = f" [dim](also needs {len(extra)}: {', '.join(extra[:3])}{' ...' if len(extra) > 3 else ''})[/]" if extra else ""
    schedule = job.config.get("schedule") or {}
    iters = f", {schedule['max_iters']} its" if job.kind in ("pretrain", "finetune_ava") and schedule else ""
    state = f" [yellow]{outcomes[job.name]}[/]" if outcomes and job.name in outcomes else ""
    return (f"[cyan]{job.name}[/] [magenta]{job.kind}[/]{iters} — {describe_resources(job.resources)}"
            f" [dim]#{job.content_hash[:8]}[/]{state}{also}")
