"""Charts more than one page draws: the per-class AP bars (run detail, compare).

A horizontal bar per class with its label-map name on the axis. The chart grows with the
number of classes: its height is a Vega-Lite *step* of `PER_CLASS_ROW_PX` per class (60
classes at paper scale are 1320 px). A fixed pixel height is not kept: Streamlit sized the
8-class chart of a demo run to about 95 px, 12 px per 12 px label, and the labels overlapped.
Vega's `labelOverlap` is off because it would drop labels rather than say that they do not fit.
"""

from __future__ import annotations

import altair as alt
import pandas as pd

__all__ = ["PER_CLASS_ROW_PX", "PER_CLASS_STEP", "per_class_ap_chart"]

PER_CLASS_ROW_PX = 22  # a 12 px label with room above and below
_LABEL_PX = 320         # long label-map names ("take (an object) from (a person)") whole


PER_CLASS_STEP = alt.Step(PER_CLASS_ROW_PX)


def per_class_ap_chart(ap: pd.DataFrame) -> alt.Chart:
    """`ap`: action_id, name, ap (percent), already in the order to draw (best first)."""
    return (alt.Chart(ap).mark_bar()
            .encode(x=alt.X("ap:Q", title="AP (%)"),
                    y=alt.Y("name:N", sort=list(ap["name"]), title=None,
                            axis=alt.Axis(labelOverlap=False, labelLimit=_LABEL_PX, labelFontSize=12)),
                    tooltip=["action_id", "name", alt.Tooltip("ap:Q", format=".2f")])
            .properties(height=PER_CLASS_STEP))
