"""Job kinds -> the callables that run them on a compute node.

A job kind is a name such as ``finetune_ava``; its code lives in ``jobs/<kind>.py`` and
exposes ``Job``, a callable class built from the run directory (``Job(run_dir)()`` runs the
job, ``checkpoint()`` makes it resumable under submitit). Importing ``jobs.*`` pulls in
torch, so the import happens lazily, only when a job of that kind is submitted.

An explicit ``"package.module:Attribute"`` entry point is accepted too, and
``register_job_kind(name, callable)`` adds a kind for the current process: both let a site plug
in its own job kinds (and the test suite its small counter jobs) without editing ``jobs/``.
Only the watcher's process resolves kinds: the compute node receives the pickled job object.
"""

from __future__ import annotations

import importlib
import re
from typing import Any, Callable

_KIND_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_ENTRY_POINT = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


class UnknownJobKindError(LookupError):
    """The kind names no importable job module / attribute."""


class JobKindImportError(UnknownJobKindError):
    """The job module exists but raised while being imported (its code is broken)."""


_REGISTERED: dict[str, Callable[..., Any]] = {}


def register_job_kind(kind: str, entry: Callable[..., Any]) -> None:
    """Make ``kind`` (a short name, stored in the database) resolve to ``entry`` in this process."""
    if not _KIND_NAME.match(kind):
        raise ValueError(f"job kind {kind!r} must match {_KIND_NAME.pattern}")
    _REGISTERED[kind] = entry


def is_builtin_kind(kind: str) -> bool:
    """A kind of this project's ``jobs`` package (not registered here, not an entry point)."""
    return bool(_KIND_NAME.match(kind)) and kind not in _REGISTERED


def job_entry(kind: str) -> Callable[..., Any]:
    """Return the callable that builds a runnable job from a run directory.

    ``job_entry("pretrain")`` -> ``jobs.pretrain.Job``;
    ``job_entry("my_pkg.toy:Counter")`` -> ``my_pkg.toy.Counter``.
    """
    if kind in _REGISTERED:
        return _REGISTERED[kind]
    if _ENTRY_POINT.match(kind):
        module_name, attribute = kind.split(":", 1)
    elif _KIND_NAME.match(kind):
        module_name, attribute = f"jobs.{kind}", "Job"
    else:
        raise UnknownJobKindError(f"job kind {kind!r} is neither a kind name nor 'module:Attribute'")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and (module_name == error.name or module_name.startswith(error.name + ".")):
            raise UnknownJobKindError(f"job kind {kind!r}: no module {module_name!r}") from error
        raise JobKindImportError(f"job kind {kind!r}: importing {module_name} failed: {error}") from error
    except Exception as error:  # broken job code must fail that job, not the watcher
        raise JobKindImportError(
            f"job kind {kind!r}: importing {module_name} failed: {type(error).__name__}: {error}") from error
    entry = getattr(module, attribute, None)
    if entry is None or not callable(entry):
        raise UnknownJobKindError(f"job kind {kind!r}: {module_name} has no callable {attribute!r}")
    return entry
