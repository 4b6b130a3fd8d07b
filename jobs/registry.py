"""Job kinds by name: ``get("finetune_ava") -> FinetuneAvaJob``.

The orchestrator's executor registry resolves ``jobs.<kind>.Job`` itself; this is the same
mapping for code that wants the classes (tests, tools). Modules import lazily (torch).
"""
from __future__ import annotations

import importlib

from jobs.base import RunDirJob

__all__ = ["KINDS", "UnknownJobKind", "get"]

KINDS = ("pretrain", "finetune_ava", "evaluate", "ensemble", "export")


class UnknownJobKind(LookupError):
    pass


def get(kind: str) -> type[RunDirJob]:
    if kind not in KINDS:
        raise UnknownJobKind(f"unknown job kind {kind!r}; known: {', '.join(KINDS)}")
    return importlib.import_module(f"jobs.{kind}").Job
