"""The resumable distributed sampler: partition, determinism, mid-epoch resume."""

from __future__ import annotations

import pytest

from model.data.sampler import ResumableDistributedSampler


class _Sized:
    def __init__(self, size: int) -> None:
        self.size, self.epochs = size, []

    def __len__(self) -> int:
        return self.size

    def set_epoch(self, epoch: int) -> None:
        self.epochs.append(epoch)


def test_replicas_partition_the_epoch():
    data = _Sized(10)
    parts = [list(ResumableDistributedSampler(data, 3, rank, seed=1)) for rank in range(3)]
    assert [len(p) for p in parts] == [4, 4, 4]
    merged = sorted(i for p in parts for i in p)
    assert set(merged) == set(range(10)) and len(merged) == 12  # padded by wrapping


def test_order_depends_only_on_seed_and_epoch():
    data = _Sized(50)
    a, b = ResumableDistributedSampler(data, seed=3), ResumableDistributedSampler(data, seed=3)
    assert list(a) == list(b)
    a.set_epoch(1)
    assert list(a) != list(b)
    assert list(ResumableDistributedSampler(data, seed=4)) != list(b)
    assert list(ResumableDistributedSampler(data, shuffle=False)) == list(range(50))


def test_resume_mid_epoch_continues_the_same_order():
    data = _Sized(23)
    full = ResumableDistributedSampler(data, num_replicas=2, rank=1, seed=7)
    full.set_epoch(2)
    expected = list(full)
    first = ResumableDistributedSampler(data, num_replicas=2, rank=1, seed=7)
    first.set_epoch(2)
    iterator = iter(first)
    head = [next(iterator) for _ in range(5)]
    state = first.state_dict()
    resumed = ResumableDistributedSampler(_Sized(23), num_replicas=2, rank=1, seed=0)
    resumed.load_state_dict(state)
    assert len(resumed) == len(expected) - 5
    assert head + list(resumed) == expected
    assert list(resumed) == expected  # the next pass is a whole epoch again


def test_state_at_records_consumed_batches_not_prefetched_ones():
    sampler = ResumableDistributedSampler(_Sized(20), seed=1)
    iterator = iter(sampler)
    for _ in range(12):  # a prefetching loader ran ahead
        next(iterator)
    state = sampler.state_at(8)
    again = ResumableDistributedSampler(_Sized(20), seed=1)
    again.load_state_dict(state)
    assert list(again) == sampler.epoch_indices()[8:]


def test_set_epoch_reaches_the_dataset():
    data = _Sized(4)
    ResumableDistributedSampler(data).set_epoch(5)
    assert data.epochs == [5]


def test_resume_with_another_replica_count_is_refused():
    state = ResumableDistributedSampler(_Sized(8), num_replicas=2).state_dict()
    with pytest.raises(ValueError, match="2 replicas"):
        ResumableDistributedSampler(_Sized(8), num_replicas=4).load_state_dict(state)
