"""Atomic writes, file hashes and canonical JSON of the contract."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from contract import files
from contract.files import (atomic_write, atomic_write_json, atomic_write_text, canonical_json, replace_durably,
                            sha256_file, write_temporary)


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_atomic_write_replaces_the_file_and_fsyncs_its_directory(tmp_path, monkeypatch):
    synced = []
    monkeypatch.setattr(files, "fsync_dir", lambda directory: synced.append(str(directory)))
    target = tmp_path / "sub" / "status.json"
    atomic_write_json(target, {"state": "running", "step": 3})
    atomic_write_json(target, {"state": "completed", "step": 4})
    assert json.loads(target.read_text()) == {"state": "completed", "step": 4}
    assert target.read_text().endswith("\n")
    assert synced == [str(target.parent)] * 2
    assert _leftovers(target.parent) == []


def test_a_failing_writer_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "result.json"
    atomic_write_text(target, "old")

    def fail(handle):
        handle.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(target, fail)
    assert target.read_text() == "old" and _leftovers(tmp_path) == []


def test_temporary_then_replace_shows_nothing_before_the_replace(tmp_path):
    target = tmp_path / "submission.csv"
    temporary = write_temporary(target, lambda handle: handle.write(b"a,b\n"))
    assert not target.exists() and temporary.parent == tmp_path and temporary.name.startswith(".")
    replace_durably(temporary, target)
    assert target.read_bytes() == b"a,b\n" and not temporary.exists()


def test_sha256_file_reads_in_blocks(tmp_path):
    data = os.urandom((1 << 20) + 17)  # more than one block
    path = tmp_path / "step_000010.pt"
    path.write_bytes(data)
    assert sha256_file(path) == hashlib.sha256(data).hexdigest()


def test_canonical_json_sorts_keys_drops_spaces_and_keeps_non_ascii():
    assert canonical_json({"b": 1, "a": [1, {"d": None, "c": "x"}]}) == '{"a":[1,{"c":"x","d":null}],"b":1}'
    assert canonical_json({"member": "é"}) == '{"member":"é"}'
    # ASCII content: the same bytes as with ensure_ascii=True, so hashes taken before agree.
    ascii_value = {"model": {"name": "slowfast_8x8_r50"}, "schedule": {"base_lr": 0.1, "steps": [0.5, 0.75]}}
    assert canonical_json(ascii_value) == json.dumps(ascii_value, sort_keys=True, separators=(",", ":"))


def test_atomic_output_path_moves_the_named_file_in_only_when_the_body_succeeds(tmp_path):
    from contract.files import atomic_output_path

    target = tmp_path / "clip.mp4"
    with atomic_output_path(target) as temporary:
        assert temporary.parent == tmp_path and temporary != target
        temporary.write_bytes(b"video")
    assert target.read_bytes() == b"video" and _leftovers(tmp_path) == []
    with pytest.raises(ValueError):
        with atomic_output_path(target) as temporary:
            temporary.write_bytes(b"half")
            raise ValueError("no frames")
    assert target.read_bytes() == b"video" and _leftovers(tmp_path) == []
