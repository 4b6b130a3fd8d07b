"""Whether a process of this host has ended: one answer for every part that watches another
process by pid (the watcher lease's takeover, the warm interpreter's owner).

A zombie counts as gone. `kill(pid, 0)` alone reports a zombie as alive, and a parent that
never reaps (or is itself stuck) would keep a dead process "running" for as long as it lasts.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["process_is_gone"]


def process_is_gone(pid: int) -> bool:
    """True when no process ``pid`` runs on this host, or it is a zombie (state Z or X).

    A live pid, or one this process may not signal, is not gone: a caller that acts on
    "gone" (takes over a lease, stops a server) must never act on a process that runs.
    """
    try:  # Linux: the third field of /proc/<pid>/stat is the state
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[-1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True
    except OSError:
        pass
    try:  # no /proc (macOS): signal 0 tests for existence only
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass
    return False
