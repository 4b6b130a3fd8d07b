"""Kinetics: clip shapes and pathways, the 30 test views, bad videos and bad CSV rows."""

from __future__ import annotations

import pytest
import torch

from model.data.errors import (AnnotationError, EmptySplitError, TooManyBadVideosError)
from model.data.kinetics import KineticsDataset


def _dataset(root, split="train", **overrides):
    options = dict(num_frames=4, sampling_rate=4, alpha=4, train_jitter_scales=(64, 72),
                   train_crop_size=56, test_crop_size=60, num_clips=10, num_crops=3)
    options.update(overrides)
    return KineticsDataset(root, split, **options)


def test_train_clip_has_slow_and_fast_pathways(kinetics_root):
    data = _dataset(kinetics_root)
    assert len(data) == 9
    sample = data[4]
    slow, fast = sample["inputs"]
    assert slow.shape == (3, 4, 56, 56) and fast.shape == (3, 16, 56, 56)
    assert torch.equal(slow, fast[:, ::4])  # Slow stride tau = alpha Fast strides
    assert sample["label"] == 1 and sample["view_index"] == 0
    assert -2.1 < fast.min() and fast.max() < 2.5  # normalised (x - 0.45) / 0.225


def test_fast_only_pathway(kinetics_root):
    (fast,) = _dataset(kinetics_root, pathways="fast", num_frames=8, sampling_rate=2)[0]["inputs"]
    assert fast.shape == (3, 8, 56, 56)


def test_augmentation_is_a_function_of_seed_epoch_and_index(kinetics_root):
    data = _dataset(kinetics_root)
    first = data[2]["inputs"][1]
    assert torch.equal(first, data[2]["inputs"][1])
    data.set_epoch(1)
    assert not torch.equal(first, data[2]["inputs"][1])


def test_thirty_views_per_video_with_view_index(kinetics_root):
    data = _dataset(kinetics_root, "val", mode="test")
    assert len(data) == 6 * 30
    views = [data[i] for i in range(30, 60)]
    assert {v["video_index"] for v in views} == {1}
    assert [v["view_index"] for v in views] == list(range(30))
    assert views[0]["inputs"][1].shape == (3, 16, 60, 60)
    # Crops 0/1/2 of one clip differ (left / centre / right of an 80x60 frame).
    assert not torch.equal(views[0]["inputs"][1], views[2]["inputs"][1])


def test_a_training_dataset_needs_its_jitter_range(kinetics_root):
    with pytest.raises(ValueError, match="train_jitter_scales is required in train mode"):
        KineticsDataset(kinetics_root, "train", num_frames=4, sampling_rate=2, alpha=2)
    assert KineticsDataset(kinetics_root, "val", num_frames=4, sampling_rate=2, alpha=2,
                           mode="test").train_jitter_scales is None


def _break_video(root, index: int):
    lines = (root / "annotations" / "train.csv").read_text().splitlines()
    label, youtube_id, start, end, _ = lines[index].split(",")
    return (root / "videos" / "train" / label / f"{youtube_id}_{int(start):06d}_{int(end):06d}.mp4")


@pytest.fixture
def writable_kinetics(kinetics_root, tmp_path):
    import shutil
    return shutil.copytree(kinetics_root, tmp_path / "k")


def test_missing_video_is_skipped_and_counted(writable_kinetics, caplog):
    missing = _break_video(writable_kinetics, 2)
    missing.unlink()
    data = _dataset(writable_kinetics, bad_video_cap=1)
    assert len(data) == 8 and data.bad_videos == 1
    assert str(missing) in caplog.text


def test_undecodable_video_is_replaced_while_training(writable_kinetics, caplog):
    broken = _break_video(writable_kinetics, 1)
    broken.write_bytes(b"not a video at all")
    data = _dataset(writable_kinetics, bad_video_cap=3)
    sample = data[0]
    assert sample["inputs"][1].shape == (3, 16, 56, 56) and sample["video_index"] != 0
    assert data.bad_videos == 1 and str(broken) in caplog.text


def test_too_many_bad_videos_stop_with_a_clear_error(writable_kinetics):
    for index in (1, 2, 3):
        _break_video(writable_kinetics, index).unlink()
    with pytest.raises(TooManyBadVideosError, match="exceed the cap of 2"):
        _dataset(writable_kinetics, bad_video_cap=2)


def test_test_mode_drops_undecodable_videos_up_front(writable_kinetics):
    lines = (writable_kinetics / "annotations" / "test.csv").read_text().splitlines()
    youtube_id, start, end, _ = lines[1].split(",")  # the test list has no labels
    (writable_kinetics / "videos" / "test"
     / f"{youtube_id}_{int(start):06d}_{int(end):06d}.mp4").write_bytes(b"\x00" * 100)
    data = _dataset(writable_kinetics, "test", mode="test", num_clips=2, num_crops=1,
                    bad_video_cap=1)
    assert len(data) == 5 * 2 and data.bad_videos == 1


@pytest.mark.parametrize("row, message", [
    ("sliding left,abc,1", "line 3: expected 5 fields, got 3"),
    ("sliding left,abc,one,3,train", "line 3: field 'time_start': 'one' is not an integer"),
    ("juggling,abc,1,3,train", "line 3: field 'label': label 'juggling' is not in"),
])
def test_bad_csv_row_names_file_line_and_field(writable_kinetics, row, message):
    csv_path = writable_kinetics / "annotations" / "train.csv"
    lines = csv_path.read_text().splitlines()
    lines.insert(2, row)
    csv_path.write_text("\n".join(lines) + "\n")
    with pytest.raises(AnnotationError) as error:
        _dataset(writable_kinetics)
    assert message in str(error.value) and "train.csv" in str(error.value)


def test_empty_split(writable_kinetics):
    (writable_kinetics / "annotations" / "validate.csv").write_text(
        "label,youtube_id,time_start,time_end,split\n")
    with pytest.raises(EmptySplitError, match="validate.csv"):
        _dataset(writable_kinetics, "val", mode="test")


def test_dataset_from_annotations_loaded_once(kinetics_root, monkeypatch):
    """Train and test datasets of a split can share one reading of its annotations."""
    import model.data.kinetics as kinetics

    annotations = kinetics.load_kinetics_annotations(kinetics_root, "val")
    monkeypatch.setattr(kinetics, "load_kinetics_annotations", lambda *a, **k: pytest.fail("read again"))
    shared = [KineticsDataset(kinetics_root, "val", num_frames=4, sampling_rate=2, alpha=2, mode=mode,
                              annotations=annotations, train_jitter_scales=(64, 72)) for mode in ("train", "test")]
    monkeypatch.undo()
    direct = _dataset(kinetics_root, "val", mode="test")
    assert shared[1].videos == direct.videos and shared[1].classes == direct.classes
    assert shared[0].videos == [(p, c) for p, c in direct.videos]
    with pytest.raises(ValueError, match="loaded for split 'val', not 'train'"):
        KineticsDataset(kinetics_root, "train", num_frames=4, sampling_rate=2, alpha=2, annotations=annotations,
                        train_jitter_scales=(64, 72))
