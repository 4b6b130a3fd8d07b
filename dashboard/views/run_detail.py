"""Run detail: what the run used (beside its estimate), its single values as numbers (with its
rank among the experiment's jobs), its curves (loss, LR schedule, throughput), per-class AP
(AVA) or the confusion of the top classes (Kinetics), and the config diff against the most
comparable other run."""

import altair as alt
import streamlit as st

from dashboard import data
from dashboard.charts import PER_CLASS_ROW_PX, per_class_ap_chart
from dashboard.files import UnsafePathError
from dashboard.formatting import duration_text, full_time
from dashboard.layout import experiment_picker, state_badge
from contract.metric_names import FRAME_MAP, LOSS, LR, THROUGHPUT, TOP1, TOP5

st.title("Run detail")

wanted = st.query_params.get("job")
job_id = int(wanted) if wanted and wanted.isdigit() else None
info = data.run_info(job_id) if job_id is not None else None
if info is None:
    if job_id is not None:
        st.warning(f"No job #{job_id} in this database.")
    experiment_id = experiment_picker()
    choices = data.job_choices(experiment_id) if experiment_id is not None else None
    if choices is None or choices.empty:
        st.info("This experiment has no jobs yet.")
        st.stop()
    names = dict(zip(choices["id"], choices["name"] + " (" + choices["kind"] + ")"))
    job_id = int(st.selectbox("Run", list(names), format_func=names.get, key="run_pick"))
    st.query_params["job"] = str(job_id)
    info = data.run_info(job_id)

st.markdown(f"### `{info.experiment}` / `{info.name}`  \n{info.kind} · {state_badge(info.state)} · job #{info.job_id}")
if info.error:
    st.error(info.error)

# --- Resources: measured, in the unit that means something for this run, beside the estimate.
attempts = data.job_attempts(info.job_id)
used = data.usage(attempts)
estimate = data.estimated_usage(job_id=info.job_id, unit=used.unit)
columns = st.columns(4)
columns[0].metric(used.label, data.hours_text(used.hours) if not attempts.empty else "—",
                  help="Allocated device time over all attempts (preempted time included).")
columns[1].metric(f"Dry-run estimate ({used.unit})", "—" if estimate is None else data.hours_text(estimate),
                  help="The planner's estimate (submit --dry-run): compute alone, queueing ignored.")
columns[2].metric("Attempts", len(attempts))
columns[3].metric("Run time", duration_text(attempts["duration_s"].sum()) if not attempts.empty else "—")
if not attempts.empty:
    with st.expander("Attempts (full timestamps)"):
        st.dataframe(attempts.assign(started_at=attempts["started_at"].map(full_time),
                                     ended_at=attempts["ended_at"].map(full_time),
                                     duration=attempts["duration_s"].map(duration_text))[
            ["attempt", "state", "node", "started_at", "ended_at", "duration", "gpus", "exit_code", "reason"]],
            hide_index=True)

# --- Metrics: one value is a number, several are a curve.
PERCENT_METRICS = {FRAME_MAP, TOP1, TOP5}
series = data.metric_series_names(info.job_id)
if series.empty:
    st.info("No metrics ingested for this run yet.")
else:
    single = series[series["points"] == 1]
    curves = series[series["points"] > 1]
    if not single.empty:
        board = data.leaderboard_table()
        board = board[board["experiment"] == info.experiment]
        columns = st.columns(min(4, len(single)))
        for index, row in enumerate(single.itertuples()):
            value = float(data.metric_curve(info.job_id, row.split, row.name)["value"].iloc[0])
            text = f"{100 * value:.2f} %" if row.name in PERCENT_METRICS else f"{value:.4g}"
            rank = None
            if row.split == "val" and row.name in PERCENT_METRICS and row.name in board:
                rank = data.value_rank(board, info.job_id, row.name)
            with columns[index % len(columns)]:
                st.metric(f"{row.split} / {row.name}", text)
                if rank is not None:
                    st.caption(f"rank {rank[0]} of {rank[1]} in {info.experiment} (members' evaluations "
                               "and the ensemble)")
    ordered = sorted(curves.itertuples(), key=lambda r: ({LOSS: 0, LR: 1, THROUGHPUT: 2}.get(r.name, 3), r.split, r.name))
    columns = st.columns(2)
    for index, row in enumerate(ordered):
        with columns[index % 2]:
            curve = data.metric_curve(info.job_id, row.split, row.name)
            title = f"{row.split} / {row.name}" + (" (downsampled)" if len(curve) < row.points else "")
            st.markdown(f"**{title}**")
            st.altair_chart(
                alt.Chart(curve).mark_line(point=len(curve) < 30)
                .encode(x=alt.X("step:Q", axis=alt.Axis(format="d")),
                        y=alt.Y("value:Q", title=row.name, scale=alt.Scale(zero=False)),
                        tooltip=["step", alt.Tooltip("value:Q", format=".4g")])
                .properties(height=220))

if info.task == "ava":
    ap = data.per_class_ap(info.job_id)
    if not ap.empty:
        st.subheader(f"Per-class AP on val ({len(ap)} classes, mean {ap['ap'].mean():.2f})")
        st.caption(f"Sorted by AP, best first; {PER_CLASS_ROW_PX} px per class so every label is readable.")
        st.altair_chart(per_class_ap_chart(ap))
else:
    predictions = data.job_artifacts(info.job_id, "predictions")
    npz = predictions[predictions["path"].str.endswith(".npz")] if not predictions.empty else predictions
    if not npz.empty:
        path = st.selectbox("Predictions", list(npz["path"]), key="confusion_file")
        try:
            confusion = data.kinetics_confusion(info.run_dir, path)
        except (UnsafePathError, OSError) as exc:
            st.warning(f"Cannot show the confusion: {exc}")
        else:
            st.subheader("Confusion among the most frequent true classes")
            st.altair_chart(alt.Chart(confusion).mark_rect().encode(
                x=alt.X("predicted:N"), y=alt.Y("true:N"), color=alt.Color("count:Q"),
                tooltip=["true", "predicted", "count"]))

st.subheader("Config diff")
others = data.job_choices(int(data.experiments().set_index("name").loc[info.experiment, "id"]))
default = data.comparable_default(info.job_id, info.name, info.kind, others)
others = others[others["id"] != info.job_id]
if default is None:
    st.caption("No other run in this experiment to compare with.")
else:
    labels = dict(zip(others["id"], others["name"] + " (" + others["kind"] + ")"))
    ids = list(labels)
    other_id = st.selectbox("Compare with", ids, index=ids.index(default), format_func=labels.get, key="diff_with",
                            help="Default: the same job for another member of this experiment.")
    other = data.run_info(int(other_id))
    diff = data.config_diff(info.config, other.config if other else {})
    names = {"left": info.name, "right": str(other.name if other else other_id)}
    if diff.empty:
        st.success("The two resolved configs are identical.")
    else:
        st.caption(f"{len(diff)} keys differ.")
        st.dataframe(diff.rename(columns=names), hide_index=True)
    with st.expander("All keys (the differing ones first)"):
        st.dataframe(data.config_diff(info.config, other.config if other else {}, only_differences=False)
                     .rename(columns=names), hide_index=True)
