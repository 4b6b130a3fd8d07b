"""Layout pieces shared by the pages: state colours, the experiment picker, pagination.

No data access here beyond what `dashboard.data` returns.
"""

from __future__ import annotations

import math
import numbers
import re

import pandas as pd
import streamlit as st

from contract.states import JobState
from dashboard import data

__all__ = ["STATE_COLOURS", "STATE_FILL", "state_badge", "experiment_picker", "paginate", "markdown_table",
           "fit_tables_to_width"]

# Streamlit markdown colours. Infrastructure interruptions (PREEMPTED, TIMEOUT, NODE_FAIL: the
# job will be resumed) and REQUEUED are kept apart from FAILED (a deterministic error).
STATE_COLOURS: dict[str, str] = {
    JobState.PLANNED: "gray", JobState.SUBMITTED: "gray", JobState.PENDING: "gray", JobState.RUNNING: "blue",
    JobState.PREEMPTED: "orange", JobState.TIMEOUT: "orange", JobState.NODE_FAIL: "orange", JobState.REQUEUED: "violet",
    JobState.COMPLETED: "green", JobState.REUSED: "green", JobState.FAILED: "red", JobState.CANCELLED: "gray",
}
# Graph node fills (hex) with the same meaning.
STATE_FILL: dict[str, str] = {
    JobState.PLANNED: "#e5e7eb", JobState.SUBMITTED: "#e5e7eb", JobState.PENDING: "#e5e7eb", JobState.RUNNING: "#93c5fd",
    JobState.PREEMPTED: "#fdba74", JobState.TIMEOUT: "#fdba74", JobState.NODE_FAIL: "#fdba74", JobState.REQUEUED: "#c4b5fd",
    JobState.COMPLETED: "#86efac", JobState.REUSED: "#bbf7d0", JobState.FAILED: "#fca5a5", JobState.CANCELLED: "#d1d5db",
}


def state_badge(state: str) -> str:
    return f":{STATE_COLOURS.get(state, 'gray')}[**{state}**]"


def experiment_picker(label: str = "Experiment", *, key: str = "experiment") -> int | None:
    """A select box of experiments, remembered in the URL (`?experiment=<id>`)."""
    table = data.experiments()
    if table.empty:
        return None
    ids = [int(i) for i in table["id"]]
    names = dict(zip(ids, table["name"]))
    wanted = st.query_params.get("experiment")
    index = ids.index(int(wanted)) if wanted and wanted.isdigit() and int(wanted) in ids else 0
    chosen = st.selectbox(label, ids, index=index, format_func=lambda i: f"{names[i]} (#{i})", key=key)
    st.query_params["experiment"] = str(chosen)
    return int(chosen)


def paginate(frame: pd.DataFrame, *, key: str, page_size: int = 25) -> pd.DataFrame:
    """The rows of the chosen page; the page number widget appears only when needed."""
    pages = max(1, math.ceil(len(frame) / page_size))
    if pages == 1:
        return frame
    page = st.number_input(f"Page (of {pages}, {len(frame)} rows)", min_value=1, max_value=pages,
                           value=1, step=1, key=key)
    start = (int(page) - 1) * page_size
    return frame.iloc[start:start + page_size]


_MARKDOWN_SPECIAL = re.compile(r"[\\`*_{}\[\]<>|#+!~$]")


#: Zero-width space: a line-break opportunity the browser may take and shows as nothing.
BREAK_OPPORTUNITY = "\u200b"


def markdown_table(frame: pd.DataFrame, *, float_format: str = "{:g}", break_at_underscores: bool = False) -> str:
    """A table as one Markdown block: one render in the browser, where st.table renders each
    cell as its own Markdown element and st.dataframe loads a canvas grid (each costs about a
    second of a busy machine's browser time for a 25-row page). NaN shows as "—"; Markdown
    characters in text are escaped (a job name is never emphasis or a link); integers print
    as integers, other numbers with `float_format`. With `break_at_underscores`, a long
    identifier (`sf16x8_ctx_iou09_16k_j340`) may wrap after each underscore, so the table fits
    the window without cutting words anywhere else."""
    def cell(value) -> str:
        if value is None or (not isinstance(value, str) and pd.isna(value)):
            return "—"
        if isinstance(value, numbers.Integral):
            text = str(int(value))
        elif isinstance(value, numbers.Real):
            text = float_format.format(float(value))
        else:
            text = _MARKDOWN_SPECIAL.sub(r"\\\g<0>", str(value))
            if break_at_underscores:
                text = text.replace("\\_", "\\_" + BREAK_OPPORTUNITY)
        return text

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


# Markdown tables at their natural width overflow the main column of a 1400 px window (the
# leaderboard cut off its last columns): a smaller font and tighter cells; long names
# ("sf16x8_ctx_iou09_16k_j340") wrap at their underscores (`markdown_table(break_at_underscores=True)`).
_FIT_TABLES_CSS = """<style>
[data-testid="stMarkdownContainer"] table { width: 100%; font-size: 0.82rem; }
[data-testid="stMarkdownContainer"] th, [data-testid="stMarkdownContainer"] td { padding: 0.3rem 0.45rem; }
</style>"""


def fit_tables_to_width() -> None:
    """Make this page's Markdown tables fit the window (see `_FIT_TABLES_CSS`)."""
    st.html(_FIT_TABLES_CSS)
