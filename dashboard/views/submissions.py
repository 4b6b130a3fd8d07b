"""Submissions: exported test-server files, their validation, their manifest, a download."""

import json

import streamlit as st

from dashboard import data
from dashboard.files import UnsafePathError
from dashboard.layout import experiment_picker



def _present(value) -> bool:
    return isinstance(value, str) and bool(value)


st.title("Submissions")
experiment_id = experiment_picker()
table = data.submissions_of(experiment_id) if experiment_id is not None else None
if table is None or table.empty:
    st.info("No submission exported for this experiment yet.")
    st.stop()

for row in table.itertuples():
    with st.container(border=True):
        verdict = ":green[**valid**]" if row.ok else ":red[**invalid**]"
        st.markdown(f"#### `{row.path}`  \n{row.format} · {verdict} · exported {row.created_at:%Y-%m-%d %H:%M} UTC")
        if _present(row.sha256):
            st.caption(f"sha256 {row.sha256}")
        try:
            payload = data.submission_bytes(row.path)
        except (UnsafePathError, OSError) as exc:
            st.warning(f"Not downloadable: {exc}")
        else:
            st.download_button("Download", payload, file_name=row.path.rsplit("/", 1)[-1],
                               mime="application/json" if row.path.endswith(".json") else "text/csv",
                               key=f"download_{row.id}", on_click="ignore", icon=":material/download:")
        left, right = st.columns(2)
        with left:
            st.markdown("**Validation**")
            st.json(row.validation or {}, expanded=not row.ok)
        with right:
            st.markdown("**Manifest**")
            manifest = row.members or {}
            if _present(row.manifest_path):
                try:
                    manifest = data.manifest_of(row.manifest_path)
                except (UnsafePathError, OSError) as exc:
                    st.caption(f"Manifest file not readable ({exc}); showing the recorded members.")
            members = data.members_table(manifest)
            if not members.empty:
                st.dataframe(members, hide_index=True)
            st.json(json.loads(json.dumps(manifest, default=str)), expanded=False)
