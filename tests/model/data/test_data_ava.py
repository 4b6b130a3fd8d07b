"""AVA: keyframe clips, box bookkeeping through every transform, proposals, bad input."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from model.data.ava import AvaDataset, tta_views
from model.data.collate import ava_collate
from model.data.decode import decode_frames
from model.data.errors import AnnotationError, EmptySplitError

CLIP = dict(num_frames=2, sampling_rate=4, alpha=4)
JITTER = dict(train_jitter_scales=(256, 340))  # the report's, as configs/data/ava_v2.2.yaml


def _gt_rows(root, split="train"):
    with open(root / "annotations" / f"ava_{split}_v2.2.csv", newline="") as handle:
        return list(csv.reader(handle))


def _coco(root, split):
    annotations = root / "annotations"
    images = json.loads((annotations / f"ava_{split}_person_proposals_images.json").read_text())
    detections = json.loads((annotations / f"ava_{split}_person_proposals.json").read_text())
    names = {image["id"]: image["file_name"] for image in images["images"]}
    return names, detections


def test_train_sample_carries_ground_truth_boxes_and_actions(ava_root):
    data = AvaDataset(ava_root, "train", **CLIP, train_jitter_scales=(60, 60),
                      train_crop_size=60, train_iou_thresh=1.01)
    (video_id, timestamp), _ = data.samples[3]
    sample = data[3]
    assert (sample["video_id"], sample["timestamp"]) == (video_id, timestamp)
    expected: dict[tuple, set] = {}
    for row in _gt_rows(ava_root):
        if (row[0], int(row[1])) == (video_id, timestamp):
            expected.setdefault(tuple(float(v) for v in row[2:6]), set()).add(int(row[6]))
    got = {tuple(round(v, 3) for v in box.tolist()): {int(i) + 1 for i in np.flatnonzero(lab)}
           for box, lab in zip(sample["boxes_norm"], sample["labels"])}
    assert got == expected
    slow, fast = sample["inputs"]
    assert slow.shape == (3, 2, 60, 60) and fast.shape == (3, 8, 60, 60)


def test_end_to_end_boxes_after_scale_flip_against_hand_computed_values(ava_root):
    """Generate, load a test-mode view at short side 120 with flip, check every box."""
    names, detections = _coco(ava_root, "val")
    data = AvaDataset(ava_root, "val", **CLIP, mode="test", test_scale=120, flip=True)
    sample = data[0]
    key = f"{sample['video_id']},{sample['timestamp']:04d}"
    expected = []
    for det in detections:
        if names[det["image_id"]] == key and det["score"] > 0.8:
            x, y, w, h = det["bbox"]           # pixels of the 80x60 movie
            # x2 - x1 flipped about the 160-pixel width of the 2x scaled frame.
            expected.append([160 - 2 * (x + w), 2 * y, 160 - 2 * x, 2 * (y + h)])
    assert sample["inputs"][1].shape == (3, 8, 120, 160)
    np.testing.assert_allclose(sorted(sample["boxes"].tolist()), sorted(expected), atol=1e-3)
    assert not sample["labels"].any()


def test_end_to_end_boxes_after_scale_crop_flip_in_training(ava_root):
    """The crop offset and flip are recovered from the pixels; boxes must match them."""
    data = AvaDataset(ava_root, "train", **CLIP, train_jitter_scales=(120, 120),
                      train_crop_size=112, train_iou_thresh=1.01)
    seen_flips = set()
    for index in range(6):
        sample = data[index]
        centre = sample["timestamp"] - 900
        raw = decode_frames(data.movie_path(sample["video_id"]),
                            centre - 4 / 30 + np.arange(8) * (1 / 30))
        frames = torch.from_numpy(raw).permute(0, 3, 1, 2).float() / 255
        scaled = F.interpolate(frames, size=(120, 160), mode="bilinear", align_corners=False)
        scaled = ((scaled - 0.45) / 0.225).permute(1, 0, 2, 3)  # (3, T, 120, 160)
        got = sample["inputs"][1]
        # Every 112x112 window of the first scaled frame, compared at once with the output.
        windows = scaled[0, 0].unfold(0, 112, 1).unfold(1, 112, 1)  # (9, 49, 112, 112)
        matches = []
        for flip in (False, True):
            target = got[0, 0].flip(-1) if flip else got[0, 0]
            error = (windows - target).abs().amax(dim=(-2, -1))
            for y0, x0 in (error < 1e-5).nonzero().tolist():
                window = scaled[:, :, y0:y0 + 112, x0:x0 + 112]
                if torch.allclose(got, window.flip(-1) if flip else window, atol=1e-5):
                    matches.append((x0, y0, flip))
        assert len(matches) == 1, matches
        x0, y0, flip = matches[0]
        seen_flips.add(flip)
        expected = []
        for x1, y1, x2, y2 in sample["boxes_norm"].tolist():
            box = [min(max(v, 0.0), 112.0) for v in
                   (x1 * 160 - x0, y1 * 120 - y0, x2 * 160 - x0, y2 * 120 - y0)]
            expected.append([112 - box[2], box[1], 112 - box[0], box[3]] if flip else box)
        np.testing.assert_allclose(sample["boxes"].tolist(), expected, atol=1e-3)
    assert seen_flips == {False, True}


def test_training_adds_proposals_that_overlap_ground_truth(ava_root):
    strict = AvaDataset(ava_root, "train", **CLIP, **JITTER, train_iou_thresh=1.01)
    loose = AvaDataset(ava_root, "train", **CLIP, **JITTER, train_iou_thresh=0.5)
    gt_only = sum(len(b) for _, b in strict.samples)
    assert gt_only == len({tuple(r[:6]) for r in _gt_rows(ava_root)})
    added = sum(len(b) for _, b in loose.samples) - gt_only
    assert added > gt_only // 2
    for (_, boxes) in loose.samples:
        assert all(b.actions for b in boxes)  # every added proposal inherits actions


def test_test_mode_keeps_proposals_above_the_score_threshold(ava_root):
    names, detections = _coco(ava_root, "val")
    for thresh in (0.8, 0.3):
        data = AvaDataset(ava_root, "val", **CLIP, mode="test", proposal_score_thresh=thresh)
        excluded = {tuple(r) for r in csv.reader(open(
            ava_root / "annotations" / "ava_val_excluded_timestamps_v2.2.csv"))}
        expected = sum(1 for d in detections if d["score"] > thresh
                       and tuple(names[d["image_id"]].split(",")) not in excluded)
        assert sum(len(b) for _, b in data.samples) == expected


def test_predicted_boxes_csv_gives_the_same_keyframes_as_coco(ava_root):
    coco = AvaDataset(ava_root, "test", **CLIP, mode="test")
    table = AvaDataset(ava_root, "test", **CLIP, mode="test", proposals="csv")
    assert [k for k, _ in coco.samples] == [k for k, _ in table.samples]


def test_collate_numbers_boxes_by_clip(ava_root):
    data = AvaDataset(ava_root, "val", **CLIP, mode="test", test_scale=60)
    batch = ava_collate([data[0], data[1]])
    counts = [len(data.samples[0][1]), len(data.samples[1][1])]
    assert batch["boxes"].shape == (sum(counts), 5)
    assert batch["boxes"][:, 0].tolist() == [0.0] * counts[0] + [1.0] * counts[1]
    assert batch["labels"].shape == (sum(counts), 80)
    assert batch["inputs"][0].shape == (2, 3, 2, 60, 80)


def test_tta_views():
    assert tta_views([224, 256], True) == [(224, False), (256, False), (224, True), (256, True)]
    assert tta_views([256], False) == [(256, False)]


def _append_row(root, row: str, name="ava_train_v2.2.csv") -> int:
    path = root / "annotations" / name
    lines = path.read_text().splitlines() + [row]
    path.write_text("\n".join(lines) + "\n")
    return len(lines)


@pytest.mark.parametrize("fields, message", [
    ("{v},0903,0.1,0.2,0.3", "expected 7 or 8 fields, got 5"),
    ("{v},0903,0.1,abc,0.3,0.4,12,0", "field 'y1': 'abc' is not a number"),
    ("{v},0903,0.1,0.2,0.3,1.4,12,0", "field 'y2': 1.4 is outside [0, 1]"),
    ("{v},0903,0.5,0.2,0.3,0.4,12,0", "field 'x1': x1 0.5 > x2 0.3"),
    ("{v},0903,0.1,0.2,0.3,0.4,99,0", "field 'action_id': action id 99 is not in the label map"),
    ("{v},0950,0.1,0.2,0.3,0.4,12,0", "field 'timestamp': timestamp 950 is outside movie"),
])
def test_bad_ground_truth_row_names_file_line_and_field(ava_root, editable_copy, fields,
                                                        message):
    root = editable_copy(ava_root)
    video_id = _gt_rows(ava_root)[0][0]
    line = _append_row(root, fields.format(v=video_id))
    with pytest.raises(AnnotationError) as error:
        AvaDataset(root, "train", **CLIP, **JITTER)
    assert f"ava_train_v2.2.csv: line {line}: {message}" in str(error.value)


def test_proposals_json_with_a_missing_field(ava_root, editable_copy):
    root = editable_copy(ava_root)
    path = root / "annotations" / "ava_val_person_proposals.json"
    detections = json.loads(path.read_text())
    del detections[3]["score"]
    path.write_text(json.dumps(detections))
    with pytest.raises(AnnotationError,
                       match=r"ava_val_person_proposals.json: field 'score': detection \[3\]"):
        AvaDataset(root, "val", **CLIP, mode="test")


def test_label_map_with_a_broken_line(ava_root, editable_copy):
    root = editable_copy(ava_root)
    path = root / "annotations" / "ava_action_list_v2.2.pbtxt"
    path.write_text(path.read_text().replace("  id: 5\n", "  id five\n", 1))
    with pytest.raises(AnnotationError, match=r"ava_action_list_v2.2.pbtxt:\d+: cannot"):
        AvaDataset(root, "train", **CLIP, **JITTER)


def test_empty_split(ava_root, editable_copy):
    root = editable_copy(ava_root)
    (root / "annotations" / "ava_val_v2.2.csv").write_text("")
    with pytest.raises(EmptySplitError, match="'val'"):
        AvaDataset(root, "val", **CLIP, **JITTER, mode="train")


def test_train_jitter_has_no_default(ava_root):
    """The report's jitter is [256, 340]; a dataset must not quietly train with another."""
    with pytest.raises(ValueError, match="train_jitter_scales is required"):
        AvaDataset(ava_root, "train", **CLIP)
    assert AvaDataset(ava_root, "val", **CLIP, mode="test").train_jitter_scales is None


def test_dataset_from_annotations_loaded_once(ava_root, monkeypatch):
    """The test-time views share one reading of the annotations; the dataset built from
    them is the one the constructor builds from the files."""
    import model.data.ava as ava

    annotations = ava.load_ava_annotations(ava_root, "val", mode="test")
    monkeypatch.setattr(ava, "load_ava_annotations", lambda *a, **k: pytest.fail("read again"))
    views = [AvaDataset(ava_root, "val", **CLIP, mode="test", test_scale=scale, flip=flip,
                        annotations=annotations) for scale, flip in ava.tta_views([60, 80], True)]
    monkeypatch.undo()
    direct = AvaDataset(ava_root, "val", **CLIP, mode="test", test_scale=60)
    assert [k for k, _ in views[0].samples] == [k for k, _ in direct.samples]
    assert views[0].label_map == direct.label_map and len(views) == 4
    with pytest.raises(ValueError, match="loaded for split 'val' in mode 'test'"):
        AvaDataset(ava_root, "val", **CLIP, **JITTER, mode="train", annotations=annotations)
