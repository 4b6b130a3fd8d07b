"""AVA evaluator: hand-computed cases, bad input, the drop-in CLI."""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys

import pandas as pd
import pytest

from official_ava_driver import official_metrics
from model.eval.ava import AvaInputError, frame_map, read_ava_csv, read_labelmap

LABELMAP = 'item {\n  name: "bend/bow (at the waist)"\n  id: 1\n}\nitem {\n  name: "watch (a person)"\n  id: 80\n}\n'


@pytest.fixture
def labelmap(tmp_path):
    path = tmp_path / "labelmap.pbtxt"
    path.write_text(LABELMAP)
    return path


def _write(tmp_path, name, rows):
    path = tmp_path / name
    path.write_text("".join(r + "\n" for r in rows))
    return path


def _map(tmp_path, labelmap, gt_rows, det_rows, **kw):
    gt = _write(tmp_path, "gt.csv", gt_rows)
    det = _write(tmp_path, "det.csv", det_rows)
    return frame_map(gt, det, labelmap, expected_classes=None, **kw)


def test_hand_computed_average_precision(tmp_path, labelmap):
    gt = ["v,0902,0.000,0.000,0.500,0.500,1,0", "v,0903,0.000,0.000,0.500,0.500,1,0"]
    # IoU exactly 0.5 counts; a duplicate of a matched box is a false positive; class 80 has no GT.
    half = "v,0902,0.000,0.000,0.500,0.250"  # IoU 0.125/0.25 = 0.5
    det = [f"{half},1,0.9", f"{half},1,0.8", "v,0903,0.500,0.500,1.000,1.000,1,0.7",
           "v,0903,0.000,0.000,0.500,0.500,80,0.9", "v,0902,0.000,0.000,0.500,0.500,7,0.99"]
    result = _map(tmp_path, labelmap, gt, det)
    # ranked: TP, FP, FP -> precision 1 at recall 0.5, never reaches recall 1: AP = 0.5
    assert result.per_class_ap[1] == 0.5
    assert pd.isna(result.per_class_ap[80])
    assert result.mAP == 0.5
    assert result.out_of_map_detection_rows == 1


def test_class_with_ground_truth_and_no_detection_scores_zero(tmp_path, labelmap):
    gt = ["v,0902,0.000,0.000,0.500,0.500,1,0", "v,0902,0.000,0.000,0.500,0.500,80,0"]
    result = _map(tmp_path, labelmap, gt, ["v,0902,0.000,0.000,0.500,0.500,1,0.3"])
    assert result.per_class_ap == {1: 1.0, 80: 0.0}
    assert result.mAP == 0.5


def test_equal_iou_ties_follow_the_official_ground_truth_order(tmp_path, labelmap):
    """Two GT boxes of a class at the same IoU from a detection: the official evaluator takes
    the first in its heap order (here A, although the file lists B first)."""
    gt = ["v,0902,0.250,0.000,0.750,0.500,1,0",   # B
          "v,0902,0.000,0.000,0.500,0.500,1,1"]   # A
    det = ["v,0902,0.125,0.000,0.625,0.500,1,0.9",  # IoU 0.6 with both
           "v,0902,0.000,0.000,0.500,0.500,1,0.8"]  # exactly A
    result = _map(tmp_path, labelmap, gt, det)
    with contextlib.redirect_stdout(io.StringIO()):
        official = official_metrics(str(labelmap), str(tmp_path / "gt.csv"), str(tmp_path / "det.csv"))
    ours = result.official_metrics()
    assert ours.keys() == official.keys()
    assert all(ours[k] == official[k] or (pd.isna(ours[k]) and pd.isna(official[k])) for k in ours)
    assert result.per_class_ap[1] == 0.5  # the 0.9 detection took A, so the exact-A one is a FP


def test_unknown_videos_warn_or_fail_when_strict(tmp_path, labelmap):
    gt = ["v,0902,0.000,0.000,0.500,0.500,1,0"]
    det = ["v,0902,0.000,0.000,0.500,0.500,1,0.5", "ghost,0902,0.000,0.000,0.500,0.500,1,0.9"]
    with pytest.warns(UserWarning, match="1 detection rows on 1 videos absent"):
        result = _map(tmp_path, labelmap, gt, det)
    assert result.unknown_video_rows == 1 and result.per_class_ap[1] == 0.5
    with pytest.raises(AvaInputError, match=r"det.csv:2: .*absent from the ground truth"):
        _map(tmp_path, labelmap, gt, det, strict=True)


@pytest.mark.parametrize("row,message", [
    ("v,0902,0.000,0.000,0.500,0.500,1,0.5,9", "expected 8 fields like line 1, got 9"),
    ("v,0902,0.000,0.000,1.500,0.500,1,0.5", "detection box outside \\[0, 1\\]"),
    ("v,0902,0.600,0.000,0.500,0.500,1,0.5", "inverted box"),
    ("v,0902,0.000,0.000,0.500,0.500,1,high", "score 'high' is not a number"),
    ("v,0902,0.000,0.000,0.500,0.500,1,nan", "score is NaN"),
    ("v,09x2,0.000,0.000,0.500,0.500,1,0.5", "timestamp '09x2' is not an integer"),
    ("v,0902,0.000,0.000,0.500,0.500", "got 6"),
    ("", "got 0"),
])
def test_bad_detection_rows_name_file_and_line(tmp_path, row, message):
    # read_ava_csv without a Tolerated refuses every malformed row (the ensemble and the
    # export read our own files that way); frame_map's default is the official handling.
    path = _write(tmp_path, "det.csv", ["v,0902,0.000,0.000,0.500,0.500,1,0.5", row])
    with pytest.raises(AvaInputError, match=message) as info:
        read_ava_csv(path, scored=True)
    assert info.value.line == 2 and info.value.path == str(path)


def test_empty_files_and_short_label_maps(tmp_path, labelmap):
    with pytest.raises(AvaInputError, match="empty file"):
        read_ava_csv(_write(tmp_path, "empty.csv", []), scored=True)
    with pytest.raises(AvaInputError, match="2 entries, expected 60"):
        read_labelmap(labelmap)
    assert read_labelmap(labelmap, expected_classes=None) == {1: "bend/bow (at the waist)", 80: "watch (a person)"}


def test_dataframe_detections_equal_file_detections(tmp_path, labelmap):
    gt = ["v,0902,0.000,0.000,0.500,0.500,1,0", "v,0903,0.100,0.000,0.500,0.500,80,0"]
    det = ["v,0902,0.000,0.000,0.400,0.500,1,0.4", "v,0903,0.100,0.000,0.500,0.400,80,0.8",
           "v,0903,0.000,0.000,0.500,0.500,1,0.6"]
    from_file = _map(tmp_path, labelmap, gt, det)
    frame = pd.read_csv(tmp_path / "det.csv", header=None,
                        names=["video_id", "timestamp", "x1", "y1", "x2", "y2", "action_id", "score"])
    from_frame = frame_map(tmp_path / "gt.csv", frame, labelmap, expected_classes=None)
    assert from_frame.per_class_ap == from_file.per_class_ap


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "model.eval.ava", *args], capture_output=True, text=True)


def test_cli_json_and_official_output(tmp_path, labelmap):
    gt = _write(tmp_path, "gt.csv", ["v,0902,0.000,0.000,0.500,0.500,1,0", "v,0903,0.000,0.000,0.500,0.500,1,0"])
    det = _write(tmp_path, "det.csv", ["v,0902,0.000,0.000,0.500,0.500,1,0.9", "v,903,0.000,0.000,0.500,0.500,1,0.1"])
    excl = _write(tmp_path, "excl.csv", ["v,0903"])
    done = _cli("-l", str(labelmap), "-g", str(gt), "-d", str(det), "-e", str(excl), "--json",
                "--expected-classes", "0")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"mAP": 1.0, "per_class_ap": {"1": 1.0, "80": None}}
    done = _cli("-l", str(labelmap), "-g", str(gt), "-d", str(det), "--expected-classes", "0")
    assert "'PascalBoxes_Precision/mAP@0.5IOU': 1.0" in done.stdout
    assert "'PascalBoxes_PerformanceByCategory/AP@0.5IOU/bend/bow (at the waist)': 1.0" in done.stdout


def test_cli_bad_input_is_one_line_not_a_traceback(tmp_path, labelmap):
    gt = _write(tmp_path, "gt.csv", ["v,0902,0.000,0.000,0.500,0.500,1,0"])
    det = _write(tmp_path, "det.csv", ["v,0902,0.000,0.000,0.500,0.500,1,0.9", "v,0902,abc,0.000,0.500,0.500,1,0.9"])
    done = _cli("-l", str(labelmap), "-g", str(gt), "-d", str(det), "--expected-classes", "0")
    assert done.returncode == 2
    assert done.stderr.strip() == f"error: {det}:2: x1 'abc' is not a number"


@pytest.mark.parametrize("bad,message,strict", [
    ("v,9999999999,0.000,0.000,0.500,0.500,1,0.5", "timestamp beyond 32 bits", False),  # found by validation
    ("v,0950,0.000,0.000,0.500,0.500,1,oops", "score 'oops'", False),                    # found by the CSV parser
    ("v,0950,0.600,0.000,0.500,0.500,1,0.5", "inverted box", True),                     # strict only
])
def test_bad_row_deep_in_a_streamed_file_names_its_line(tmp_path, labelmap, monkeypatch, bad, message, strict):
    monkeypatch.setattr("model.eval.ava_io.DETECTION_BLOCK_BYTES", 1024)
    rows = [f"v,{902 + i // 10:04d},0.000,0.000,0.500,0.500,1,0.{i:04d}" for i in range(300)]
    rows[199] = bad
    with pytest.raises(AvaInputError, match=message) as info:
        _map(tmp_path, labelmap, ["v,0902,0.000,0.000,0.500,0.500,1,0"], rows, strict=strict)
    assert info.value.line == 200


def test_one_reader_for_label_maps_and_exclusions_in_training_and_evaluation(tmp_path):
    """Training and evaluation read the label map and the excluded timestamps with the same
    code (official semantics); its error is the data layer's AnnotationError, naming file and line."""
    from model.data.ava_annotations import read_excluded
    from model.data.ava_labelmap import read_label_map
    from model.data.errors import AnnotationError
    from model.eval.ava_io import read_exclusions

    path = tmp_path / "map.pbtxt"
    path.write_text('item {\n  name: "stand"\n  display_name: "Stand"\n  label_id: 12\n  label_type: PERSON_MOVEMENT\n'
                    '}\nitem {\n  name: "sit"\n  id: 11\n}\n')
    assert read_label_map(path) == read_labelmap(path, expected_classes=None) == {12: "stand", 11: "sit"}
    path.write_text('item {\n  name: "stand"\n  id: twelve\n}\n')
    errors = []
    for read in (read_label_map, lambda p: read_labelmap(p, expected_classes=None)):
        with pytest.raises(AnnotationError) as info:
            read(path)
        assert isinstance(info.value, AvaInputError) and (info.value.path, info.value.line) == (str(path), 3)
        errors.append(str(info.value))
    assert errors[0] == errors[1] == f"{path}:3: label id 'twelve' is not an integer"
    excluded = tmp_path / "excluded.csv"
    excluded.write_text("vid_a,0902\nvid_a,902\nvid_b,1000\n")
    assert read_excluded(excluded) == read_exclusions(excluded) == {("vid_a", 902), ("vid_b", 1000)}
    excluded.write_text("vid_a,0902\nvid_a,0903,x\n")
    with pytest.raises(AvaInputError, match=r"excluded.csv:2: expected 2 columns"):
        read_excluded(excluded)
