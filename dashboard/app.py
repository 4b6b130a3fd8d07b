"""The orchestrator dashboard: `python -m orchestrator dashboard` (or `streamlit run dashboard/app.py`).

A read-only view of the orchestrator database. Before any page runs, the database is checked:
an empty, un-migrated or unreachable database gets a page saying what to run, not a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path

_REPO_ROOT = str(Path(__file__).resolve().parents[1])
if _REPO_ROOT not in sys.path:  # `streamlit run dashboard/app.py` puts only dashboard/ on the path
    sys.path.insert(0, _REPO_ROOT)

import streamlit as st  # noqa: E402

from dashboard import data  # noqa: E402
from dashboard.readonly import DatabaseState  # noqa: E402

st.set_page_config(page_title="SlowFast orchestrator", page_icon=":material/insights:", layout="wide")

if data.status().state is DatabaseState.READY:
    st.navigation([
        st.Page("views/leaderboard.py", title="Leaderboard", icon=":material/leaderboard:", default=True),
        st.Page("views/jobs.py", title="Jobs", icon=":material/account_tree:", url_path="jobs"),
        st.Page("views/run_detail.py", title="Run detail", icon=":material/monitoring:", url_path="run"),
        st.Page("views/compare.py", title="Compare runs", icon=":material/compare_arrows:", url_path="compare"),
        st.Page("views/submissions.py", title="Submissions", icon=":material/upload_file:",
                url_path="submissions"),
    ]).run()
else:
    st.navigation([st.Page("views/database_status.py", title="Database", icon=":material/database:")]).run()
