"""Jobs: one experiment's DAG with live states, its attempts, and the device-hours it used
(GPU-hours, or CPU core-hours for a CPU run) beside the dry-run estimate."""

from collections import defaultdict

import pandas as pd
import streamlit as st

from contract.states import FINISHED_STATES, INTERRUPTED_STATES, JobState
from dashboard import data
from dashboard.formatting import duration_text, local_time
from dashboard.layout import STATE_FILL, experiment_picker, paginate, state_badge
from orchestrator.views.status import corrupt_lines_message

MAX_GRAPH_NODES = 200  # above this the graph is unreadable; the tree still shows every job
# States that mean a run was cut short and resumed (distinct from FAILED, which is final).
INTERRUPTION_STATES = INTERRUPTED_STATES | {JobState.REQUEUED}

st.title("Jobs")
experiment_id = experiment_picker()
auto_refresh = st.toggle("Auto-refresh every 5 s", value=True, key="auto_refresh")


def _children(jobs: pd.DataFrame, edges: list[tuple[int, int]]) -> tuple[list[int], dict[int, list[int]]]:
    children: dict[int, list[int]] = defaultdict(list)
    has_parent = set()
    for job_id, parent_id in edges:
        children[parent_id].append(job_id)
        has_parent.add(job_id)
    roots = [int(i) for i in jobs["id"] if int(i) not in has_parent]
    return roots, {k: sorted(v) for k, v in children.items()}


def _tree_lines(jobs: pd.DataFrame, edges: list[tuple[int, int]]) -> list[str]:
    """Indented tree, depth first; a job with several parents is listed once in full, then
    referenced ("↑ see above") under its other parents."""
    by_id = jobs.set_index("id")
    roots, children = _children(jobs, edges)
    lines, seen = [], set()

    def visit(job_id: int, depth: int) -> None:
        row = by_id.loc[job_id]
        indent = "&nbsp;" * 4 * depth + ("└ " if depth else "")
        progress = ""
        if pd.notna(row["progress_step"]) and pd.notna(row["progress_total"]):
            progress = f" — step {int(row['progress_step'])}/{int(row['progress_total'])}"
        if job_id in seen:
            lines.append(f"{indent}`{row['name']}` ↑ see above")
            return
        seen.add(job_id)
        lines.append(f"{indent}`{row['name']}` ({row['kind']}) {state_badge(row['state'])}{progress}")
        for child in children.get(job_id, []):
            visit(child, depth + 1)

    for root in roots:
        visit(root, 0)
    return lines


def _graph(jobs: pd.DataFrame, edges: list[tuple[int, int]]) -> str:
    nodes = [f'  j{int(r.id)} [label="{r.name}\\n{r.state}", fillcolor="{STATE_FILL.get(r.state, "#ffffff")}"];'
             for r in jobs.itertuples()]
    links = [f"  j{parent} -> j{child};" for child, parent in edges]
    return "\n".join(["digraph dag {", "  rankdir=LR;",
                      '  node [shape=box, style="rounded,filled", fontname="sans-serif", fontsize=10];',
                      *nodes, *links, "}"])


@st.fragment(run_every=5 if auto_refresh else None)
def live_view(experiment_id: int) -> None:
    jobs = data.experiment_jobs(experiment_id)
    edges = data.job_edges(experiment_id)
    attempts = data.experiment_attempts(experiment_id)
    counts = jobs["state"].value_counts()
    used = data.usage(attempts)
    estimate = data.estimated_usage(experiment_id=experiment_id, unit=used.unit)
    columns = st.columns(5)
    columns[0].metric("Jobs", len(jobs))
    columns[1].metric("Completed", int(sum(counts.get(state, 0) for state in FINISHED_STATES)))
    columns[2].metric("Failed", int(counts.get(JobState.FAILED, 0)))
    columns[3].metric(used.label, data.hours_text(used.hours),
                      help="Sum over attempts of run time x allocated GPUs (or CPU cores where no GPU was "
                           "allocated), preempted time included.")
    if estimate is not None:
        columns[4].metric(f"Dry-run estimate ({used.unit})", data.hours_text(estimate),
                          help="The planner's estimate (submit --dry-run): compute alone, queueing ignored.")
    st.caption(" · ".join(f"{state_badge(s)} {n}" for s, n in counts.items()))

    st.subheader("DAG")
    if len(jobs) <= MAX_GRAPH_NODES and not jobs.empty:
        st.graphviz_chart(_graph(jobs, edges))
    with st.expander("As a tree", expanded=len(jobs) > MAX_GRAPH_NODES):
        st.markdown("  \n".join(_tree_lines(jobs, edges)) or "No jobs.")
    failed = jobs[jobs["error"].notna()]
    for row in failed.itertuples():
        st.error(f"`{row.name}`: {row.error}")
    for row in jobs[jobs["metrics_corrupt_lines"] > 0].itertuples():
        st.warning(f"`{row.name}`: {corrupt_lines_message(row.metrics_corrupt_lines, row.metrics_corrupt_first)}")

    st.subheader("Attempts")
    if attempts.empty:
        st.info("No attempt submitted yet.")
        return
    interrupted = attempts[attempts["history"].str.contains("|".join(sorted(INTERRUPTION_STATES)), regex=True)]
    if not interrupted.empty:
        st.markdown("**Interrupted and resumed**  \n" + "  \n".join(
            f"`{row.job}` attempt {row.attempt}: {row.history}" for row in interrupted.itertuples()))
    # Local times to the second and durations people read; the full instants are on the run page.
    view = attempts.assign(started=attempts["started_at"].map(local_time), ended=attempts["ended_at"].map(local_time),
                           duration=attempts["duration_s"].map(duration_text))
    page = paginate(view, key="attempts_page", page_size=100)[[
        "job", "attempt", "state", "executor", "scheduler_id", "node", "started", "ended",
        "duration", "gpus", "exit_code", "reason", "resumed_from_step", "history"]]
    st.dataframe(page.style.map(lambda state: f"background-color: {STATE_FILL.get(state, '#ffffff')}",
                                subset=["state"]), hide_index=True)


if experiment_id is None:
    st.info("No experiment yet.")
else:
    live_view(experiment_id)
