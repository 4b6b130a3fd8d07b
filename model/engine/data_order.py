"""The order in which a process sees the samples, resumable mid-epoch, and per-sample seeds.

A run resumed at step ``s`` must load exactly the samples an uninterrupted run would load
from step ``s`` on, augmented the same way. Two pieces make that so:

- ``epoch_indices``: the indices of one epoch for this process come from a sampler with
  ``set_epoch`` (the data package's ``ResumableDistributedSampler`` or torch's
  ``DistributedSampler``, both deterministic in (seed, epoch)), cut to whole optimisation
  steps, then sliced from the position reached -- the position is derived from the step
  counter, which is in the checkpoint.
- ``SeededDataset``: every ``__getitem__`` draws its augmentation from generators seeded by
  ``derive_seed(seed, epoch, index)``, so the result does not depend on which DataLoader
  worker loads the sample or on when the loader was (re)created. The caller's generators are
  restored afterwards (when loading in the main process).
"""
from __future__ import annotations

import random
from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from model.engine.rng import derive_seed

__all__ = ["SeededDataset", "epoch_indices"]


class SeededDataset(Dataset):
    """Wraps a map-style dataset; ``epoch`` is set by the loop before each epoch's loader."""

    def __init__(self, dataset: Dataset, seed: int) -> None:
        self.dataset = dataset
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> Any:
        seed = derive_seed(self.seed, self.epoch, index)
        py_state, np_state = random.getstate(), np.random.get_state()
        with torch.random.fork_rng(devices=[]):
            random.seed(seed)
            np.random.seed(seed % (1 << 32))
            torch.manual_seed(seed)
            try:
                return self.dataset[index]
            finally:
                random.setstate(py_state)
                np.random.set_state(np_state)


def epoch_indices(sampler: Any, epoch: int, samples_per_step: int, start: int) -> list[int]:
    """This process's indices of ``epoch``, cut to whole steps, from sample ``start`` on."""
    sampler.set_epoch(epoch)
    indices: Sequence[int] = list(iter(sampler))
    usable = len(indices) // samples_per_step * samples_per_step
    return [int(i) for i in indices[start:usable]]
