"""A distributed sampler that can stop and resume in the middle of an epoch.

The order of epoch ``e`` is a pure function of ``(seed, e)``: a permutation of the dataset
(or the identity without shuffling), padded by wrapping around to a multiple of
``num_replicas``, then dealt round-robin (replica ``r`` takes positions r, r + R, ...), the
same scheme as ``torch.utils.data.DistributedSampler``. ``state_dict()`` records the epoch
and how many indices this replica has already handed out; after ``load_state_dict`` the next
iteration continues from there, so a job preempted mid-epoch and resumed from its checkpoint
sees exactly the samples an uninterrupted run would have seen.

The position is counted as indices are *yielded*. With DataLoader workers prefetching,
the yielded count runs ahead of the batches the loop has consumed; the training loop should
therefore save ``{"epoch": e, "position": batches_done * batch_size}`` via
``state_at(batches_done * batch_size)`` rather than reading the live counter.

``set_epoch`` also forwards the epoch to ``dataset.set_epoch`` when the dataset has one, so
per-sample augmentations (drawn from ``(seed, epoch, index)``) change every epoch. Call it
before creating the DataLoader iterator of that epoch.
"""

from __future__ import annotations

from typing import Iterator, Sized

import torch
from torch.utils.data import Sampler

__all__ = ["ResumableDistributedSampler"]


class ResumableDistributedSampler(Sampler[int]):
    def __init__(self, dataset: Sized, num_replicas: int = 1, rank: int = 0, seed: int = 0,
                 shuffle: bool = True, drop_last: bool = False) -> None:
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} not in [0, {num_replicas})")
        self.dataset = dataset
        self.num_replicas, self.rank = num_replicas, rank
        self.seed, self.shuffle, self.drop_last = seed, shuffle, drop_last
        self.epoch = 0
        self.position = 0  # indices of this epoch already handed out by this replica
        size = len(dataset)
        if drop_last:
            self.num_samples = size // num_replicas
        else:
            self.num_samples = -(-size // num_replicas)
        self.total_size = self.num_samples * num_replicas

    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self.position = 0
        self.epoch = epoch
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)

    def epoch_indices(self) -> list[int]:
        """This replica's full index list for the current epoch."""
        size = len(self.dataset)
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
            order = torch.randperm(size, generator=generator).tolist()
        else:
            order = list(range(size))
        if self.total_size > size:
            order = (order * (-(-self.total_size // size)))[: self.total_size]
        else:
            order = order[: self.total_size]
        return order[self.rank: self.total_size: self.num_replicas]

    def __iter__(self) -> Iterator[int]:
        indices = self.epoch_indices()
        while self.position < len(indices):
            index = indices[self.position]
            self.position += 1
            yield index
        # A finished epoch starts over unless set_epoch moves on.
        self.position = 0

    def __len__(self) -> int:
        return self.num_samples - self.position

    def state_at(self, position: int) -> dict:
        return {"epoch": self.epoch, "position": int(position), "seed": self.seed,
                "num_replicas": self.num_replicas, "rank": self.rank}

    def state_dict(self) -> dict:
        return self.state_at(self.position)

    def load_state_dict(self, state: dict) -> None:
        if state.get("num_replicas", self.num_replicas) != self.num_replicas:
            raise ValueError(f"checkpoint was taken with {state['num_replicas']} replicas, "
                             f"this run has {self.num_replicas}")
        self.set_epoch(int(state["epoch"]))
        self.seed = int(state.get("seed", self.seed))
        position = int(state["position"])
        if not 0 <= position <= self.num_samples:
            raise ValueError(f"position {position} outside [0, {self.num_samples}]")
        self.position = position
