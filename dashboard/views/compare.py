"""Compare runs: several jobs of one experiment side by side, the view MLflow and W&B users
reach for first. Their training curves overlaid (an evaluation is drawn with its training
job's curves) and their per-class AP side by side, with where the ensemble gains over its best
member and where it loses."""

import altair as alt
import pandas as pd
import streamlit as st

from dashboard import data
from dashboard.charts import PER_CLASS_ROW_PX, PER_CLASS_STEP
from dashboard.layout import experiment_picker
from contract.metric_names import LOSS, TRAIN_SPLIT

st.title("Compare runs")
experiment_id = experiment_picker()
jobs = data.comparable_jobs(experiment_id) if experiment_id is not None else pd.DataFrame()
if jobs.empty:
    st.info("No run of this experiment has metrics yet.")
    st.stop()

names = dict(zip((int(i) for i in jobs["id"]), jobs["name"]))
chosen = st.multiselect("Runs", list(names), default=data.default_selection(jobs), key="compare_jobs",
                        format_func=lambda i: f"{names[i]} (#{i})",
                        help="Default: the members' val evaluations and the val ensemble.")
if not chosen:
    st.info("Pick runs to compare.")
    st.stop()


def short(job_id: int) -> str:
    """A legend label: the member (the part that differs between the chosen jobs) and the id."""
    return f"{names[job_id].rsplit('.', 1)[-1] if names[job_id].count('.') >= 2 else names[job_id]} #{job_id}"


# --- Training curves, overlaid.
st.subheader("Training curves")
sources = data.training_sources(chosen)
if not sources:
    st.caption("None of these runs has training curves (an ensemble has none of its own).")
else:
    series = data.metric_series_names(next(iter(sources.values())))
    options = sorted(series.loc[(series["split"] == TRAIN_SPLIT) & (series["points"] > 1), "name"])
    metric = st.selectbox("Series", options, index=options.index(LOSS) if LOSS in options else 0, key="compare_series")
    curves = []
    for job_id, source in sources.items():
        curve = data.metric_curve(source, TRAIN_SPLIT, metric)
        if not curve.empty:
            curves.append(curve.assign(run=short(job_id), source=names.get(source, str(source))))
    if curves:
        frame = pd.concat(curves, ignore_index=True)
        st.altair_chart(alt.Chart(frame).mark_line()
                        .encode(x=alt.X("step:Q", axis=alt.Axis(format="d")),
                                y=alt.Y("value:Q", title=metric, scale=alt.Scale(zero=False)),
                                color=alt.Color("run:N", title=None, legend=alt.Legend(labelLimit=320)),
                                tooltip=["run", "source", "step", alt.Tooltip("value:Q", format=".4g")])
                        .properties(height=320))
    missing = [short(j) for j in chosen if j not in sources]
    if missing:
        st.caption("No training curves: " + ", ".join(missing))

# --- Per-class AP, side by side.
ap = data.per_class_ap_table(chosen)
if not ap.empty:
    st.subheader("Per-class AP on val (%)")
    wide = ap.pivot_table(index="name", columns="job_id", values="ap", aggfunc="first")
    ensembles = [j for j in chosen if j in wide.columns and names[j].startswith("ensemble")]
    members = [j for j in chosen if j in wide.columns and j not in ensembles]
    order_by = ensembles[0] if ensembles else wide.columns[0]
    wide = wide.sort_values(order_by, ascending=False)
    classes = list(wide.index)
    ap = ap.assign(run=ap["job_id"].map(short))
    runs = [short(j) for j in chosen if j in wide.columns]
    st.caption(f"{len(classes)} classes sorted by {short(order_by)}'s AP; one cell per run and class.")
    heat = alt.Chart(ap).encode(x=alt.X("run:N", sort=runs, title=None,
                                       axis=alt.Axis(labelAngle=-90, labelOverlap=False, labelLimit=260, orient="top")),
                                y=alt.Y("name:N", sort=classes, title=None,
                                        axis=alt.Axis(labelOverlap=False, labelLimit=320, labelFontSize=12)))
    st.altair_chart((heat.mark_rect().encode(color=alt.Color("ap:Q", title="AP (%)", scale=alt.Scale(scheme="blues")),
                                             tooltip=["run", "name", alt.Tooltip("ap:Q", format=".2f")])
                     + heat.mark_text(fontSize=11).encode(text=alt.Text("ap:Q", format=".1f")))
                    .properties(height=PER_CLASS_STEP, width=alt.Step(80)))
    if ensembles and members:
        ensemble = ensembles[0]
        best = wide[members].max(axis=1)
        gains = pd.DataFrame({"name": wide.index, "gain": wide[ensemble] - best,
                              "best member": wide[members].idxmax(axis=1).map(short)})
        gains["direction"] = gains["gain"].map(lambda g: "ensemble gains" if g >= 0 else "ensemble loses")
        st.subheader(f"Where the ensemble gains and loses (AP of {short(ensemble)} minus the best member's)")
        st.caption(f"Gains on {int((gains['gain'] > 0).sum())} of {len(gains)} classes; "
                   f"mean change {gains['gain'].mean():+.2f} AP points. {PER_CLASS_ROW_PX} px per class.")
        st.altair_chart(alt.Chart(gains).mark_bar()
                        .encode(x=alt.X("gain:Q", title="AP points vs the best member"),
                                y=alt.Y("name:N", sort=classes, title=None,
                                        axis=alt.Axis(labelOverlap=False, labelLimit=320, labelFontSize=12)),
                                color=alt.Color("direction:N", title=None,
                                                scale=alt.Scale(domain=["ensemble gains", "ensemble loses"],
                                                                range=["#16a34a", "#dc2626"])),
                                tooltip=["name", "best member", alt.Tooltip("gain:Q", format="+.2f")])
                        .properties(height=PER_CLASS_STEP))
