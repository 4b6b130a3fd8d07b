"""Video data for the programme: decoding, Kinetics and AVA datasets, loaders, generators.

Public API:

- ``decode.decode_frames(path, times_s)`` / ``decode.probe_video(path)``: PyAV decoding of
  just the frames a clip needs (uint8 THWC).
- ``KineticsDataset``, ``AvaDataset``: torch datasets yielding normalised pathway inputs
  (and boxes for AVA); ``kinetics_collate``, ``ava_collate``.
- ``ResumableDistributedSampler``: deterministic, checkpointable mid-epoch.
- ``build_dataset(data_cfg, mode=..., pathways=...)``, ``build_tta_datasets``,
  ``build_loader``: from the ``data:`` section of a job config.
- ``model.data.synthetic``: generated Kinetics-/AVA-format datasets (``python -m
  model.data.synthetic``).
- Errors: ``DataError`` and its subclasses in ``model.data.errors``.

Submodules are imported lazily so ``import model.data`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "KineticsDataset": "model.data.kinetics",
    "AvaDataset": "model.data.ava",
    "tta_views": "model.data.ava",
    "kinetics_collate": "model.data.collate",
    "ava_collate": "model.data.collate",
    "ResumableDistributedSampler": "model.data.sampler",
    "build_dataset": "model.data.build",
    "build_tta_datasets": "model.data.build",
    "build_loader": "model.data.build",
    "decode_frames": "model.data.decode",
    "probe_video": "model.data.decode",
    "DataError": "model.data.errors",
    "AnnotationError": "model.data.errors",
    "VideoDecodeError": "model.data.errors",
    "TooManyBadVideosError": "model.data.errors",
    "EmptySplitError": "model.data.errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'model.data' has no attribute {name!r}")
