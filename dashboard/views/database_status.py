"""Shown instead of the pages when the database is empty, not migrated, too new or unreachable."""

import streamlit as st

from dashboard import data
from dashboard.readonly import SUBMIT_COMMAND, UPGRADE_COMMAND, DatabaseState

status = data.status()
st.title("SlowFast orchestrator")
if status.state is DatabaseState.EMPTY:
    st.info("No experiments yet. Start the AVA ensemble (the demo scale runs on a laptop):")
    st.code(SUBMIT_COMMAND, language="bash")
elif status.state is DatabaseState.NOT_MIGRATED:
    st.warning("The database schema is not at the version this dashboard needs. Migrate it:")
    st.code(UPGRADE_COMMAND, language="bash")
elif status.state is DatabaseState.TOO_NEW:
    st.error("The database was migrated by a newer orchestrator than this dashboard. "
             "Upgrade the orchestrator package.")
elif status.state is DatabaseState.UNREACHABLE:
    st.warning("No orchestrator database could be opened. Submit an experiment to create one, "
               "or point `ORCH_DB_URL` / `--db-url` at an existing one:")
    st.code(SUBMIT_COMMAND, language="bash")
st.caption(f"Database: `{status.where}`" + (f" — {status.detail}" if status.detail else ""))
