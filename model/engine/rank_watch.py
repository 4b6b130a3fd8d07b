"""Which process of a distributed job died: heartbeats through the process group's store.

When one process of a job dies (``kill -9``, the OOM killer, a crashed node), the others
learn it from their next collective: gloo raises "Connection closed by peer" at once when
the dead process's sockets close, but names only an address, and a process that hangs or
whose host vanished leaves its peers waiting for the collective timeout (30 min). The job
must fail promptly, saying which rank it lost.

Every process runs a ``RankWatch`` thread that bumps its own counter in the store of the
process group (a TCPStore served by rank 0's process) every ``interval_s``. Rank 0 reads
every peer's counter: a peer whose counter has not moved for ``timeout_s`` is lost. The
other ranks read nothing but their own write: when rank 0's process dies its store goes
with it, and the write fails. So rank 0 watches N counters and the store serves
``N / interval_s`` small requests a second, whatever the job's size.

A process that fails on its own (a deterministic error of its code) first records its
message in the store (``report_failure``), so that rank 0, seeing its peer go quiet, tells a
failure of the job's code from a lost process.

The watch never touches the job's files; what to do about a lost rank is the caller's
(``on_lost``, or ``wait_for_lost`` after a failed collective).
"""
from __future__ import annotations

import datetime
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import Callable

__all__ = ["LostRank", "RankWatch"]

log = logging.getLogger(__name__)
_PREFIX = "rank_watch"


@dataclass(frozen=True)
class LostRank:
    """A process of the job that stopped answering: ``rank``, where it ran, and why we think so."""

    rank: int
    where: str
    why: str

    def describe(self, world_size: int) -> str:
        where = f" ({self.where})" if self.where else ""
        return f"rank {self.rank} of {world_size}{where} {self.why}"


class RankWatch:
    """Heartbeats of one process, and (on rank 0) the check of every peer's."""

    def __init__(self, *, host: str, port: int, rank: int, world_size: int,
                 interval_s: float = 1.0, timeout_s: float = 60.0,
                 on_lost: Callable[[LostRank], None] | None = None) -> None:
        import torch.distributed as dist

        self.rank, self.world_size = rank, world_size
        self.interval_s, self.timeout_s = interval_s, timeout_s
        self.on_lost = on_lost
        # A client connection of its own: the thread never shares a socket with the main one.
        self._store = dist.TCPStore(host, port, world_size=None, is_master=False,
                                    timeout=datetime.timedelta(seconds=max(5.0, 3 * interval_s)),
                                    wait_for_workers=False)
        self._store.set(f"{_PREFIX}/who/{rank}", f"pid {os.getpid()} on {socket.gethostname()}")
        self._lost: LostRank | None = None
        self._last_change: dict[int, tuple[int, float]] = {}
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._loop, name=f"rank-watch-{rank}", daemon=True)

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> "RankWatch":
        self._beat()
        self._thread.start()
        return self

    def stop(self) -> None:
        """End the watch (before a deliberate exit: a finished or preempted rank goes quiet)."""
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout=2 * self.interval_s + 1)

    # ------------------------------------------------------------------ queries
    @property
    def lost(self) -> LostRank | None:
        return self._lost

    def wait_for_lost(self, window_s: float, quiet_s: float | None = None) -> LostRank | None:
        """After a failed collective: the peer that has gone quiet for ``quiet_s`` (three
        heartbeats by default, far less than ``timeout_s``: a collective already failed),
        or None if every peer still answers after ``window_s``."""
        quiet_s = 3 * self.interval_s if quiet_s is None else quiet_s
        deadline = time.monotonic() + window_s
        while time.monotonic() < deadline:
            found = self._lost or self._quiet_peer(quiet_s)
            if found is not None:
                return found
            with self._changed:
                self._changed.wait(timeout=self.interval_s / 2)
        return self._lost

    def report_failure(self, message: str) -> None:
        """Record this process's own failure for rank 0 (best effort: the store may be gone)."""
        try:
            self._store.set(f"{_PREFIX}/failed/{self.rank}", message)
        except Exception as exc:  # rank 0 is gone: its peers see the store fail
            log.warning("rank %d: cannot record its failure in the store: %s", self.rank, exc)

    def reported_failures(self) -> dict[int, str]:
        """Failures the peers recorded (read on rank 0, whose process serves the store)."""
        found = {}
        for rank in range(self.world_size):
            key = f"{_PREFIX}/failed/{rank}"
            try:
                if rank != self.rank and self._store.check([key]):
                    found[rank] = self._store.get(key).decode(errors="replace")
            except Exception:
                break
        return found

    # ------------------------------------------------------------------ thread
    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            if not self._beat():
                return
            if self.rank == 0:
                quiet = self._quiet_peer(self.timeout_s)
                if quiet is not None:
                    self._declare(quiet)
                    return

    def _beat(self) -> bool:
        """Bump this rank's counter (rank 0: and read the peers'); False once a rank is lost."""
        now = time.monotonic()
        try:
            self._store.add(f"{_PREFIX}/beat/{self.rank}", 1)
            if self.rank == 0:
                for peer in range(1, self.world_size):
                    count = self._store.add(f"{_PREFIX}/beat/{peer}", 0)
                    previous = self._last_change.get(peer)
                    if previous is None or previous[0] != count:
                        self._last_change[peer] = (count, now)
        except Exception as exc:
            if self._stop.is_set():
                return False
            if self.rank != 0:
                self._declare(LostRank(0, "", f"is gone: the process group's store, served by rank "
                                              f"0's process, does not answer ({type(exc).__name__})"))
                return False
            log.warning("rank 0: heartbeat store error: %s", exc)
        with self._changed:
            self._changed.notify_all()
        return True

    def _quiet_peer(self, quiet_s: float) -> LostRank | None:
        if self.rank != 0:
            return None
        now = time.monotonic()
        for peer, (_, since) in sorted(self._last_change.items()):
            if now - since >= quiet_s:
                return LostRank(peer, self._where(peer),
                                f"stopped answering: no heartbeat for {now - since:.0f} s")
        return None

    def _where(self, rank: int) -> str:
        try:
            return self._store.get(f"{_PREFIX}/who/{rank}").decode(errors="replace")
        except Exception:
            return ""

    def _declare(self, lost: LostRank) -> None:
        if self._lost is not None or self._stop.is_set():
            return
        self._lost = lost
        log.error("rank %d: %s", self.rank, lost.describe(self.world_size))
        with self._changed:
            self._changed.notify_all()
        if self.on_lost is not None:
            self.on_lost(lost)
