"""The estimate as the plain lines ``submit --dry-run`` prints under the DAG.

Plain text, not a rich table: the lines are read in terminals of any width, pasted into
tickets and grepped (``| grep ^total``), and a wrapped table cell would break all three.
"""

from __future__ import annotations

from orchestrator.cost.estimate import PlanEstimate
from orchestrator.durations import format_duration

__all__ = ["format_bytes", "format_duration", "format_hours", "render_estimate"]


def format_bytes(count: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(count) < 1000 or unit == "TB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    raise AssertionError("unreachable")


def format_hours(hours: float) -> str:
    """Device-hours with the precision that matters at their size."""
    if hours >= 100:
        return f"{hours:,.0f}"
    if hours >= 1:
        return f"{hours:.1f}"
    return f"{hours:.3f}"


def render_estimate(estimate: PlanEstimate) -> str:
    jobs = estimate.jobs
    measured = sum(1 for job in jobs if "measured" in job.rate_source)
    computing = sum(1 for job in jobs if job.rate_source)
    name_width = max([len(job.job) for job in jobs] + [3])
    on_gpus = any(job.unit == "GPU-h" for job in jobs)
    hardware = f"{estimate.gpu_type} GPUs" if on_gpus else "CPU cores only"
    lines = [f"cost estimate ({hardware}; rates measured for {measured} of {computing} computing jobs, "
             f"assumed for the rest; queueing ignored):",
             f"  {'job':<{name_width}}  {'device-hours':>16}  {'devices':>8}  {'wall':>8}  {'disk':>9}  work"]
    for job in jobs:
        devices = f"{job.devices} {'GPU' if job.unit == 'GPU-h' else 'CPU'}"
        hours = f"{format_hours(job.device_hours)} {job.unit}"
        wall = format_duration(job.wall_s)
        note = f" [{job.rate_source}]" if job.rate_source else ""
        if job.requeues:
            note += f" [> {job.timeout_min}-min limit: {job.requeues} requeue(s) from checkpoints]"
        lines.append(f"  {job.job:<{name_width}}  {hours:>16}  {devices:>8}  {wall:>8}  "
                     f"{format_bytes(job.disk_bytes):>9}  {job.work}{note}")
    path = " -> ".join(estimate.critical_path)
    slots = ""
    if estimate.slots_bound_s > estimate.critical_path_s:
        slots = (f"; the jobs' walls over cluster.max_parallel={estimate.max_parallel} slots take longer: "
                 f"{format_duration(estimate.slots_bound_s)}")
    lines.append(f"critical path {format_duration(estimate.critical_path_s)}: {path}{slots}")
    lines.append(f"total: {format_hours(estimate.gpu_hours)} GPU-hours + {format_hours(estimate.core_hours)} CPU "
                 f"core-hours; wall {format_duration(estimate.wall_s)} ({hardware}, queueing ignored); "
                 f"disk {format_bytes(estimate.disk_bytes)} (checkpoints + predictions)")
    return "\n".join(lines)
