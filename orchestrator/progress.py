"""The watcher's live display: jobs done/total, running jobs with step/total and ETA."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from orchestrator.durations import format_duration
from orchestrator.poll_summary import PollSummary


def format_eta(seconds: float | None) -> str:
    """The display's ETA column: `format_duration`, "-" where there is no estimate yet."""
    return "-" if seconds is None else format_duration(seconds)


def render_summary(experiment: str, summary: PollSummary) -> Group:
    header = Text.assemble(
        (f"{experiment}: ", "bold"), (f"{summary.done}/{summary.total} done", "green"),
        f", {summary.active} running, {summary.queued} queued, {summary.waiting} waiting",
        (f", {len(summary.failed)} failed" if summary.failed else "", "red"),
        (f", {summary.cancelled} cancelled" if summary.cancelled else "", "yellow"),
        ("  (another watcher holds the lease: observing only)" if not summary.lease_held else "", "dim"))
    table = Table(show_edge=False, pad_edge=False, box=None)
    for column in ("job", "state", "step", "ETA"):
        table.add_column(column)
    for job in summary.running:
        step = f"{job.step}/{job.total}" if job.step is not None and job.total else "-"
        state = f"{job.state}?" if job.uncertain else job.state
        table.add_row(job.name, state, step, format_eta(job.eta_s))
    failures = [Text(f"FAILED {name}: {error}", style="red") for name, error in summary.failed]
    return Group(header, table, *failures)
