"""Run detail: curves (loss, LR schedule, throughput, eval metrics), per-class AP (AVA) or the
confusion of the top classes (Kinetics), and the config diff against another run."""

import altair as alt
import streamlit as st

from dashboard import data
from dashboard.files import UnsafePathError
from dashboard.layout import experiment_picker, state_badge
from dashboard.metric_names import LOSS, LR, THROUGHPUT

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

series = data.metric_series_names(info.job_id)
if series.empty:
    st.info("No metrics ingested for this run yet.")
else:
    ordered = sorted(series.itertuples(), key=lambda r: ({LOSS: 0, LR: 1, THROUGHPUT: 2}.get(r.name, 3), r.split, r.name))
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
        chart = (alt.Chart(ap).mark_bar()
                 .encode(x=alt.X("ap:Q", title="AP (%)"),
                         y=alt.Y("name:N", sort="-x", title=None,
                                 axis=alt.Axis(labelOverlap=False, labelLimit=260)),
                         tooltip=["action_id", "name", alt.Tooltip("ap:Q", format=".2f")])
                 .properties(height=18 * len(ap)))
        st.altair_chart(chart)
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
others = others[others["id"] != info.job_id]
if others.empty:
    st.caption("No other run in this experiment to compare with.")
else:
    labels = dict(zip(others["id"], others["name"]))
    other_id = st.selectbox("Compare with", list(labels), format_func=labels.get, key="diff_with")
    other = data.run_info(int(other_id))
    diff = data.config_diff(info.config, other.config if other else {})
    if diff.empty:
        st.success("The two resolved configs are identical.")
    else:
        st.dataframe(diff.rename(columns={"left": info.name, "right": labels[other_id]}), hide_index=True)
