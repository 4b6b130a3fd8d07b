"""Warm a freshly started dashboard server before the first person opens it.

A new Streamlit server imports pandas, SQLAlchemy, Altair and the pages' modules, opens the
engine and runs the queries only when the first session runs the app script: 3.6-5.3 s on
this project's loaded 2-core machine, against under 1 s once warm (bench/RESULTS.md). Those
imports and the `st.cache_resource`/`st.cache_data` entries belong to the server process, not
to a session, so one session that runs each page, opened here over Streamlit's own websocket
(what a browser sends: a `rerun_script` BackMsg), leaves them warm for every later visitor.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

__all__ = ["WARM_PAGES", "warm_dashboard", "DashboardWarmError"]

#: Url paths of the pages to run once ("" is the default page, the leaderboard), first visit first.
WARM_PAGES = ("", "run", "compare", "jobs", "submissions")


class DashboardWarmError(RuntimeError):
    """A warm-up session got no `script_finished` from the server in time."""


def _run_page_once(base_url: str, page: str, timeout_s: float) -> None:
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
    from websockets.sync.client import connect

    stream_url = base_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + "/_stcore/stream"
    request = BackMsg()
    request.rerun_script.query_string = ""
    request.rerun_script.page_script_hash = ""
    request.rerun_script.page_name = page
    deadline = time.monotonic() + timeout_s
    with connect(stream_url, subprotocols=["streamlit"], open_timeout=timeout_s,
                 max_size=None) as websocket:
        websocket.send(request.SerializeToString())
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise DashboardWarmError(f"page {page or '(default)'!r}: no script_finished in {timeout_s:.0f} s")
            message = ForwardMsg()
            message.ParseFromString(websocket.recv(timeout=remaining))
            if message.WhichOneof("type") == "script_finished":
                return


def warm_dashboard(base_url: str, pages: Iterable[str] = WARM_PAGES, *, timeout_s: float = 60.0) -> dict[str, float]:
    """Run each page once in a throw-away session; seconds per page (the first is the cold cost)."""
    seconds = {}
    for page in pages:
        start = time.perf_counter()
        _run_page_once(base_url, page, timeout_s)
        seconds[page or "(default)"] = time.perf_counter() - start
    return seconds
