"""Checkpoints: atomic + checksummed, keep-last-k, corrupt newest -> previous, RNG round trip."""
import random

import numpy as np
import pytest
import torch

from model.engine.checkpoint import CheckpointError, CheckpointStore, load_checkpoint_file
from model.engine.rng import capture_rng, restore_rng


def _state(step):
    return {"step": step, "model": {"w": torch.full((3,), float(step))}, "rng": capture_rng()}


def test_keeps_the_last_k_and_points_latest_at_the_newest(tmp_path):
    store = CheckpointStore(tmp_path, keep=2)
    for step in (3, 6, 9):
        store.save(_state(step), step)
    assert store.steps() == [9, 6]
    state, path = store.load_latest()
    assert state["step"] == 9 and path.name == "step_000009.pt"
    assert not list(tmp_path.glob("*.tmp"))


@pytest.mark.parametrize("damage", ["truncate", "flip", "drop_checksum"])
def test_corrupt_latest_falls_back_to_previous_with_a_warning(tmp_path, damage):
    store = CheckpointStore(tmp_path, keep=3)
    store.save(_state(3), 3)
    newest = store.save(_state(6), 6)
    data = newest.read_bytes()
    if damage == "truncate":
        newest.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        newest.write_bytes(data[:100] + bytes([data[100] ^ 0xFF]) + data[101:])
    else:
        newest.with_name(newest.name + ".sha256").unlink()
    with pytest.warns(UserWarning, match="step_000006"):
        state, path = store.load_latest()
    assert state["step"] == 3


def test_empty_directory_has_no_checkpoint(tmp_path):
    assert CheckpointStore(tmp_path / "none").load_latest() is None


def test_missing_or_garbage_file_is_a_checkpoint_error(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint_file(tmp_path / "nope.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot be read"):
        load_checkpoint_file(bad)


def test_rng_states_survive_a_weights_only_round_trip(tmp_path):
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    np.random.normal()  # leaves a cached gaussian in numpy's state
    store = CheckpointStore(tmp_path)
    store.save({"rng": capture_rng()}, 1)
    expected = (random.random(), np.random.normal(), torch.rand(2))
    random.seed(9), np.random.seed(9), torch.manual_seed(9)
    state, _ = store.load_latest()  # torch.load(weights_only=True) inside
    restore_rng(state["rng"])
    got = (random.random(), np.random.normal(), torch.rand(2))
    assert got[0] == expected[0] and got[1] == expected[1] and torch.equal(got[2], expected[2])
