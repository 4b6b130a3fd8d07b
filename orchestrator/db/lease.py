"""Watcher leases: at most one live owner per key, so two watchers never double-submit.

The lease is a row, taken with one conditional UPDATE (atomic on SQLite and PostgreSQL):
it succeeds when the row is free, expired, or already ours. A watcher renews it every poll
and releases it on exit; if it dies, the lease expires after `ttl` and another may take over.
Each function runs its own short transaction on the given engine, independent of any
session the caller has open.

A watcher killed outright (kill -9, OOM killer) cannot release its lease, and waiting the
whole `ttl` would stall the watcher restarted after it for minutes. Owners built by
`process_owner` name their host and pid, so a watcher on the same host takes over at once
from an owner whose process is gone (a compare-and-set on that exact owner, so two
restarted watchers still get one winner). Owners on other hosts, or whose pid is alive
(possibly recycled by another program), are left to expire: never a false takeover.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid

from sqlalchemy import Engine, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from contract.processes import process_is_gone
from orchestrator.db.models import WatcherLease
from orchestrator.db.types import utcnow

__all__ = ["acquire_lease", "renew_lease", "release_lease", "experiment_lease_key", "process_owner",
           "owner_process_is_gone", "DEFAULT_TTL"]

DEFAULT_TTL = dt.timedelta(minutes=5)


def experiment_lease_key(experiment_name: str) -> str:
    return f"experiment:{experiment_name}"


def process_owner() -> str:
    """A lease owner for this process: ``host:pid:token`` (token: two objects in one process differ)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_process_is_gone(owner: str) -> bool:
    """True only when ``owner`` (as built by `process_owner`) names a process of *this* host
    that no longer runs (or is a zombie). Anything else -- another host, a foreign owner
    format, a live pid -- is False: the lease is then left to expire."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    return process_is_gone(pid)


def _insert_if_absent(engine: Engine):
    dialect_insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
    return dialect_insert(WatcherLease).on_conflict_do_nothing(index_elements=["key"])


def acquire_lease(engine: Engine, key: str, owner: str, *, ttl: dt.timedelta = DEFAULT_TTL,
                  now: dt.datetime | None = None) -> bool:
    """Take (or re-take) the lease `key` for `owner`. True if `owner` now holds it."""
    now = now or utcnow()
    expired_marker = now - dt.timedelta(seconds=1)
    with engine.begin() as connection:
        # Make the row exist (already expired) so that the UPDATE below decides everything.
        connection.execute(_insert_if_absent(engine).values(
            key=key, owner=owner, acquired_at=now, expires_at=expired_marker))
        taken = connection.execute(
            update(WatcherLease)
            .where(WatcherLease.key == key,
                   or_(WatcherLease.owner == owner, WatcherLease.expires_at < now))
            .values(owner=owner, acquired_at=now, expires_at=now + ttl))
        if taken.rowcount == 1:
            return True
        holder = connection.scalar(select(WatcherLease.owner).where(WatcherLease.key == key))
        if holder is None or not owner_process_is_gone(holder):
            return False
        taken = connection.execute(
            update(WatcherLease)
            .where(WatcherLease.key == key, WatcherLease.owner == holder)
            .values(owner=owner, acquired_at=now, expires_at=now + ttl))
        return taken.rowcount == 1


def renew_lease(engine: Engine, key: str, owner: str, *, ttl: dt.timedelta = DEFAULT_TTL,
                now: dt.datetime | None = None) -> bool:
    """Extend a lease `owner` still holds (and has not lost by expiry). False if lost."""
    now = now or utcnow()
    with engine.begin() as connection:
        renewed = connection.execute(
            update(WatcherLease)
            .where(WatcherLease.key == key, WatcherLease.owner == owner, WatcherLease.expires_at >= now)
            .values(expires_at=now + ttl))
        return renewed.rowcount == 1


def release_lease(engine: Engine, key: str, owner: str) -> bool:
    """Give the lease back. False if `owner` did not hold it."""
    with engine.begin() as connection:
        released = connection.execute(
            delete(WatcherLease).where(WatcherLease.key == key, WatcherLease.owner == owner))
        return released.rowcount == 1
