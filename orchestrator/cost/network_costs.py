"""Multiply-adds per view and parameters of the project's networks, counted once.

The counts come from ``model.nets.info.network_cost`` (torch's FlopCounterMode on the meta
device: no memory, no weights), which costs ~0.1-0.7 s per network and view on a 2-core
machine and needs torch. The paper-scale ``ensemble_ava`` asks for ~25 (variant, task, view
size) combinations, ~8 s of counting, so they are cached per
(variant, task, nl_context, height, width):

* in the process, and all view sizes of one network are counted from one build (``prefetch``);
* on disk, in ``$ORCH_CACHE_DIR`` (default ``$XDG_CACHE_HOME/slowfast-orchestrator``, else
  ``~/.cache/slowfast-orchestrator``) as ``network_costs.json``, keyed by a fingerprint of
  ``model/nets/*.py`` and the installed torch version: a change to a network's code or to the
  counter starts a fresh cache. An unwritable cache folder only costs the counting again.

torch is imported on the first count only: the CLI's start-up stays free of it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path

__all__ = ["NetworkKey", "macs_of_view", "parameters_of", "prefetch"]

# (variant, task, nl_context)
NetworkKey = tuple[str, str, bool]

LOGGER = logging.getLogger(__name__)
_MACS: dict[tuple[NetworkKey, int, int], float] = {}
_PARAMS: dict[tuple[NetworkKey, int], int] = {}
_NUM_CLASSES = {"kinetics": 600, "ava": 80}
_NETS_DIR = Path(__file__).resolve().parents[2] / "model" / "nets"
_disk_loaded: list[bool] = [False]


def _cache_file() -> Path:
    base = os.environ.get("ORCH_CACHE_DIR")
    if base:
        return Path(base) / "network_costs.json"
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "slowfast-orchestrator" / "network_costs.json"


@lru_cache(maxsize=1)
def _fingerprint() -> str:
    """What the counts depend on: the networks' code and the counter's (torch) version."""
    from importlib.metadata import PackageNotFoundError, version

    digest = hashlib.sha256()
    for source in sorted(_NETS_DIR.glob("*.py")):
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    try:
        digest.update(version("torch").encode())
    except PackageNotFoundError:
        pass
    return digest.hexdigest()


def _load_disk_cache() -> None:
    if _disk_loaded[0]:
        return
    _disk_loaded[0] = True
    try:
        document = json.loads(_cache_file().read_text())
    except (OSError, ValueError):
        return
    if not isinstance(document, dict) or document.get("fingerprint") != _fingerprint():
        return
    for key, value in (document.get("macs") or {}).items():
        variant, task, context, height, width = key.split("|")
        _MACS[((variant, task, context == "1"), int(height), int(width))] = float(value)
    for key, value in (document.get("params") or {}).items():
        variant, task, context, classes = key.split("|")
        _PARAMS[((variant, task, context == "1"), int(classes))] = int(value)


def _save_disk_cache() -> None:
    macs = {f"{v}|{t}|{int(c)}|{h}|{w}": value for ((v, t, c), h, w), value in _MACS.items()}
    params = {f"{v}|{t}|{int(c)}|{k}": value for ((v, t, c), k), value in _PARAMS.items()}
    path = _cache_file()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}")
        temporary.write_text(json.dumps({"fingerprint": _fingerprint(), "macs": macs, "params": params}))
        temporary.replace(path)  # atomic: a concurrent reader sees the old or the new file
    except OSError as error:
        LOGGER.debug("network cost cache %s not written: %s", path, error)


def _count(network: NetworkKey, views: list[tuple[int, int]], num_classes: int | None = None) -> None:
    from model.nets.info import network_cost

    variant, task, nl_context = network
    classes = num_classes or _NUM_CLASSES[task]
    params, gmacs = network_cost(variant, task=task, views=views, nl_context=nl_context,
                                 num_classes=classes)
    _PARAMS[(network, classes)] = params
    for view, value in zip(views, gmacs):
        _MACS[(network, *view)] = value * 1e9
    _save_disk_cache()


def prefetch(requests: Iterable[tuple[NetworkKey, int, int]]) -> None:
    """Count every (network, height, width) not cached yet, one build per network."""
    _load_disk_cache()
    missing: dict[NetworkKey, list[tuple[int, int]]] = {}
    for network, height, width in requests:
        if (network, height, width) not in _MACS and (height, width) not in missing.get(network, []):
            missing.setdefault(network, []).append((height, width))
    for network, views in missing.items():
        _count(network, views)


def macs_of_view(variant: str, task: str, height: int, width: int, nl_context: bool = False) -> float:
    """Multiply-adds of one forward pass of one clip (one view) at ``height x width``."""
    network = (variant, task, bool(nl_context) and task == "ava")
    _load_disk_cache()
    if (network, height, width) not in _MACS:
        _count(network, [(height, width)])
    return _MACS[(network, height, width)]


def parameters_of(variant: str, task: str, nl_context: bool, num_classes: int) -> int:
    """Trainable parameters (what a checkpoint holds, with the optimizer's momentum per parameter)."""
    network = (variant, task, bool(nl_context) and task == "ava")
    _load_disk_cache()
    if (network, num_classes) not in _PARAMS:
        _count(network, [], num_classes)
    return _PARAMS[(network, num_classes)]
