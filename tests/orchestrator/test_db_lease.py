"""Two watchers never hold the same lease at once; a dead watcher's lease expires, or is taken
over at once on its own host when its process is gone."""

from __future__ import annotations

import datetime as dt
import threading

from orchestrator.db.lease import acquire_lease, experiment_lease_key, release_lease, renew_lease
from orchestrator.db.types import utcnow

KEY = experiment_lease_key("ensemble_ava")


def test_a_held_lease_excludes_others_until_released(engine):
    assert acquire_lease(engine, KEY, "watcher-a")
    assert not acquire_lease(engine, KEY, "watcher-b")
    assert acquire_lease(engine, KEY, "watcher-a")  # re-entrant for the owner
    assert renew_lease(engine, KEY, "watcher-a")
    assert not renew_lease(engine, KEY, "watcher-b")
    assert not release_lease(engine, KEY, "watcher-b")
    assert release_lease(engine, KEY, "watcher-a")
    assert acquire_lease(engine, KEY, "watcher-b")


def test_an_expired_lease_can_be_taken_over_and_the_old_owner_loses_it(engine):
    start = utcnow()
    assert acquire_lease(engine, KEY, "dead", ttl=dt.timedelta(seconds=30), now=start)
    later = start + dt.timedelta(seconds=31)
    assert acquire_lease(engine, KEY, "alive", now=later)
    assert not renew_lease(engine, KEY, "dead", now=later)


def test_concurrent_acquirers_get_exactly_one_winner(engine):
    winners: list[str] = []
    barrier = threading.Barrier(4)

    def contend(owner: str) -> None:
        barrier.wait()
        if acquire_lease(engine, KEY, owner):
            winners.append(owner)

    threads = [threading.Thread(target=contend, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1


def test_a_killed_watchers_lease_is_taken_over_at_once_on_its_host(engine):
    """kill -9 leaves the row behind; its pid is gone, so a restarted watcher need not wait the TTL."""
    import socket
    import subprocess
    import sys

    from orchestrator.db.lease import process_owner

    dead_pid = subprocess.Popen([sys.executable, "-c", "pass"])
    dead_pid.wait()
    dead = f"{socket.gethostname()}:{dead_pid.pid}:deadbeef"
    assert acquire_lease(engine, KEY, dead)
    assert acquire_lease(engine, KEY, process_owner())


def test_a_live_or_remote_owner_is_left_to_expire(engine):
    import os
    import socket

    live_here = f"{socket.gethostname()}:{os.getppid()}:cafe0001"
    assert acquire_lease(engine, KEY, live_here)
    assert not acquire_lease(engine, KEY, "other")
    assert release_lease(engine, KEY, live_here)
    remote = "some-other-host:1:cafe0002"  # its pid cannot be checked from here
    assert acquire_lease(engine, KEY, remote)
    assert not acquire_lease(engine, KEY, "other")
