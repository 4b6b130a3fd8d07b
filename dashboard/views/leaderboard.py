"""Leaderboard: our AVA runs by val frame-mAP, our Kinetics runs by the challenge metric,
each beside the report's published numbers (marked as such, never ranked with ours)."""

import pandas as pd
import streamlit as st

from dashboard import data
from dashboard.layout import fit_tables_to_width, markdown_table, paginate
from dashboard.queries.leaderboard import SCORE_COLUMNS

st.title("Leaderboard")
fit_tables_to_width()
table = data.leaderboard_table()
published = data.published()


def _options(column: str) -> list[str]:
    return sorted(v for v in table[column].dropna().unique() if v)


columns = st.columns(4)
tasks = columns[0].multiselect("Task", _options("task"), key="f_task")
datasets = columns[1].multiselect("Dataset version", _options("dataset"), key="f_dataset")
models = columns[2].multiselect("Model", _options("model"), key="f_model")
scales = columns[3].multiselect("Scale", _options("scale"), key="f_scale")

shown = table
for column, chosen in (("task", tasks), ("dataset", datasets), ("model", models), ("scale", scales)):
    if chosen:
        shown = shown[shown[column].isin(chosen)]


AS_PRINTED = "{!r}"  # the report's numbers as it prints them: 29.0, 18.95


def _ranked(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    out.insert(0, "rank", range(1, len(out) + 1))
    return out


def _percent(frame: pd.DataFrame) -> pd.DataFrame:
    """The read model's fractions as the percent the report prints."""
    return frame.assign(**{column: 100.0 * frame[column] for column in SCORE_COLUMNS if column in frame})


def _ranked_table(frame: pd.DataFrame) -> None:
    """Our scores with two decimals (the report prints one), in a table that fits the window:
    the experiment column only when the rows come from several experiments."""
    if frame["experiment"].nunique() <= 1:
        frame = frame.drop(columns=["experiment"])
    st.markdown(markdown_table(_percent(frame), float_format="{:.2f}", break_at_underscores=True))


ava = shown[shown["task"] == "ava"]
kinetics = shown[shown["task"] == "kinetics"]
if not tasks or "ava" in tasks:
    st.subheader("AVA: val frame-mAP@0.5 (%)")
    if ava.empty:
        st.info("No AVA evaluation recorded for these filters.")
    else:
        page = paginate(_ranked(ava), key="ava_page")
        # The single-scale twin of a "++" member is ranked with the rest but feeds no ensemble.
        in_ensemble = page["in_ensemble"].map({True: "yes", False: "no"}).where(page["kind"] != "ensemble", "—")
        # The twin's long label is said once, in the column it explains.
        twin_of = page["tta"].str.extract(r"single-scale twin of (\S+)", expand=False)
        tta = page["tta"].str.replace(r", single-scale twin of .*$", "", regex=True)
        in_ensemble = in_ensemble.where(twin_of.isna(), "no: single-scale twin of " + twin_of.fillna(""))
        _ranked_table(page.assign(in_ensemble=in_ensemble, tta=tta)[
            ["rank", "job_id", "frame_map", "experiment", "member", "model", "dataset", "tta", "in_ensemble",
             "scale", "state"]].rename(columns={"tta": "test-time aug.", "in_ensemble": "in ensemble"}))
    reference = published[published["task"] == "ava"]
    with st.expander("Published: Table 2 of the report (not our runs)", expanded=True):
        st.markdown(markdown_table(reference[["source", "model", "dataset", "frame_map", "test_map"]]
                                   .rename(columns={"frame_map": "val mAP", "test_map": "test mAP"}),
                                   float_format=AS_PRINTED))

if not tasks or "kinetics" in tasks:
    st.subheader("Kinetics: top-1 / top-5 (%) and challenge error (mean of top-1 and top-5 error)")
    if kinetics.empty:
        st.info("No Kinetics evaluation recorded for these filters.")
    else:
        page = paginate(_ranked(kinetics), key="kinetics_page")
        _ranked_table(page[["rank", "job_id", "challenge_error", "top1", "top5", "experiment", "member",
                            "model", "dataset", "scale", "state"]])
    reference = published[published["task"] == "kinetics"]
    with st.expander("Published: Sec. 3 / Table 3 of the report (not our runs)", expanded=True):
        st.markdown(markdown_table(reference[["source", "model", "dataset", "top1", "top5", "challenge_error"]],
                                   float_format=AS_PRINTED))

if not shown.empty:
    st.subheader("Open a run")
    ids = [int(i) for i in shown["job_id"]][:500]
    labels = dict(zip(shown["job_id"], shown["experiment"] + " / " + shown["job"]))
    chosen = st.selectbox("Run", ids, format_func=lambda i: f"{labels[i]} (#{i})", key="open_run")
    st.page_link("views/run_detail.py", label=f"Open run #{chosen}", icon=":material/open_in_new:",
                 query_params={"job": str(chosen)})
