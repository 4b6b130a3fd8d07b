"""``python -m orchestrator submit EXPERIMENT [hydra overrides...]``.

Compose (Hydra) -> plan (DAG + content hashes) -> record (one transaction, config.yaml
files) -> submit and watch. ``--dry-run`` prints the DAG with each job's resources and
what the submission will cost (GPU-hours, wall time, disk: ``orchestrator.cost``) and writes
nothing. Problems that can be seen before anything is written (unknown experiment or
override, ``cluster=slurm`` without ``sbatch``) exit 2 with one line and leave the database
untouched. ``--wait`` (default at demo scale) watches until every job is done. Flags may stand before,
between or after the overrides, as on a Hydra command line.
"""

from __future__ import annotations

import argparse
import sys
import time

from contract.exit_codes import ExitCode
from orchestrator.commands.context import CommandError, add_database_arguments, open_engine, report_error
from orchestrator.commands.watch import add_watch_options, watch_experiment


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("experiment", help="an experiment of configs/experiment/ (e.g. ensemble_ava)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. scale=demo cluster=slurm cluster.partition=gpu")
    parser.add_argument("--dry-run", action="store_true", help="print the DAG and resources; write nothing")
    wait = parser.add_mutually_exclusive_group()
    wait.add_argument("--wait", dest="wait", action="store_true", default=None,
                      help="watch until every job is done (default at scale=demo)")
    wait.add_argument("--no-wait", dest="wait", action="store_false", help="submit the ready jobs and return")
    wait.add_argument("--record-only", action="store_true", help="record the plan, submit nothing")
    add_watch_options(parser)
    add_database_arguments(parser, runs_root=False)


def run(args: argparse.Namespace) -> int:
    try:
        return _submit(args)
    except CommandError as error:
        return report_error(error)


def _estimate(plan):
    """The plan's cost estimate (orchestrator.cost); a missing or bad cost input is bad input."""
    from orchestrator.cost import CostInputError, estimate_plan

    try:
        return estimate_plan(plan)
    except CostInputError as error:
        raise CommandError(f"cost estimate: {error}") from error


def _estimates_to_record(plan) -> dict[str, dict] | None:
    """Each job's estimate, for ``status`` to show beside what the job used. A cost input the
    estimate lacks does not stop a submission: it is said on stderr and nothing is stored."""
    try:
        estimate = _estimate(plan)
    except CommandError as error:
        print(f"warning: {error}; recording the plan without estimates", file=sys.stderr)
        return None
    return {job.job: job.to_record() for job in estimate.jobs}


def _render_cost(plan) -> str:
    from orchestrator.cost import render_estimate

    return render_estimate(_estimate(plan))


def _submit(args: argparse.Namespace) -> int:
    from rich.console import Console

    from orchestrator.executors import (ClusterSettings, SchedulerUnavailableError, require_backend_available,
                                        resolve_backend)
    from orchestrator.planner import (ConfigCompositionError, PlanningError, compose_experiment, plan_experiment,
                                      plan_tree, to_plain)

    try:
        cfg = to_plain(compose_experiment(args.experiment, args.overrides))
        plan = plan_experiment(cfg)
        settings = ClusterSettings.from_mapping(cfg.get("cluster") or {})
    except (ConfigCompositionError, PlanningError, ValueError) as error:
        raise CommandError(str(error)) from error
    console = Console(stderr=False)
    if args.dry_run:
        console.print(plan_tree(plan))
        console.print(f"executor: cluster.executor={settings.backend}"
                      + (f", partition={settings.partition}" if settings.partition else ""))
        print(_render_cost(plan))
        return ExitCode.OK
    backend = resolve_backend(settings)
    try:
        require_backend_available(backend)
    except SchedulerUnavailableError as error:
        raise CommandError(str(error)) from error

    engine = open_engine(args, plan.runs_root, create=True)
    from orchestrator.db import session_scope
    from orchestrator.planner import record_plan

    estimates = _estimates_to_record(plan)
    began = time.perf_counter()
    try:
        with session_scope(engine) as session:
            report = record_plan(session, plan, estimates=estimates)
    except ValueError as error:
        raise CommandError(str(error)) from error
    print(f"recorded {plan.experiment} (scale={plan.scale}, executor={backend}): {len(plan.jobs)} jobs, "
          f"{report.count('new')} new, {report.count('replanned')} re-planned, {report.count('kept')} kept, "
          f"{report.count('reused')} reused, in {time.perf_counter() - began:.2f} s; runs in {plan.runs_root}",
          file=sys.stderr)
    if args.record_only:
        return ExitCode.OK
    if (cfg.get("scale") or {}).get("generate_data"):
        from orchestrator.planner.demo_data import DemoDataError, ensure_demo_datasets

        try:
            ensure_demo_datasets(plan, echo=lambda line: print(line, file=sys.stderr))
        except DemoDataError as error:
            raise CommandError(str(error), 1) from error
    wait = args.wait if args.wait is not None else plan.scale == "demo"
    status = watch_experiment(engine, plan.experiment, cfg.get("cluster") or {}, once=not wait,
                              poll_interval_s=args.poll_interval, timeout_s=args.timeout, quiet=args.quiet,
                              backend=backend)
    if wait and status == ExitCode.OK:
        from orchestrator.commands.finish_report import report_finished_experiment

        status = report_finished_experiment(engine, plan.experiment, plan.runs_root)
    return status
