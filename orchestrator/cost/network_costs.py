"""Multiply-adds per view and parameters of the project's networks, counted once per process.

The counts come from ``model.nets.info.network_cost`` (torch's FlopCounterMode on the meta
device: no memory, no weights), which costs ~0.1-0.7 s per network on a 2-core machine and
needs torch (~4 s to import there). A dry run asks for ~20 (variant, task, view size)
combinations, many of them several times, so they are cached here per
(variant, task, nl_context, height, width), and all view sizes of one network are counted
from one build (``prefetch``). torch is imported on the first count only: the CLI's start-up
stays free of it.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["NetworkKey", "macs_of_view", "parameters_of", "prefetch"]

# (variant, task, nl_context)
NetworkKey = tuple[str, str, bool]

_MACS: dict[tuple[NetworkKey, int, int], float] = {}
_PARAMS: dict[tuple[NetworkKey, int], int] = {}
_NUM_CLASSES = {"kinetics": 600, "ava": 80}


def _count(network: NetworkKey, views: list[tuple[int, int]], num_classes: int | None = None) -> None:
    from model.nets.info import network_cost

    variant, task, nl_context = network
    classes = num_classes or _NUM_CLASSES[task]
    params, gmacs = network_cost(variant, task=task, views=views, nl_context=nl_context,
                                 num_classes=classes)
    _PARAMS[(network, classes)] = params
    for view, value in zip(views, gmacs):
        _MACS[(network, *view)] = value * 1e9


def prefetch(requests: Iterable[tuple[NetworkKey, int, int]]) -> None:
    """Count every (network, height, width) not cached yet, one build per network."""
    missing: dict[NetworkKey, list[tuple[int, int]]] = {}
    for network, height, width in requests:
        if (network, height, width) not in _MACS and (height, width) not in missing.get(network, []):
            missing.setdefault(network, []).append((height, width))
    for network, views in missing.items():
        _count(network, views)


def macs_of_view(variant: str, task: str, height: int, width: int, nl_context: bool = False) -> float:
    """Multiply-adds of one forward pass of one clip (one view) at ``height x width``."""
    network = (variant, task, bool(nl_context) and task == "ava")
    if (network, height, width) not in _MACS:
        _count(network, [(height, width)])
    return _MACS[(network, height, width)]


def parameters_of(variant: str, task: str, nl_context: bool, num_classes: int) -> int:
    """Trainable parameters (what a checkpoint holds, with the optimizer's momentum per parameter)."""
    network = (variant, task, bool(nl_context) and task == "ava")
    if (network, num_classes) not in _PARAMS:
        _count(network, [], num_classes)
    return _PARAMS[(network, num_classes)]
