"""Malformed rows the official AVA evaluator accepts: ours scores them as it does (with one
warning per kind: count and first line) or, with ``strict``, refuses the first with the reason.

Each case is a small file pair run through the official evaluator (``official_ava_driver``) and
``frame_map``; every metric must be bit-equal. The rows the official evaluator scores and we
refuse even without ``strict`` are listed last, each refusal saying why (docs/evaluation.md,
"Malformed rows").
"""

from __future__ import annotations

import contextlib
import io
import math
import re
import warnings

import pytest

from official_ava_driver import official_metrics
from model.eval.ava import AvaInputError, frame_map, main

LABELMAP = 'item {\n  name: "stand"\n  id: 1\n}\nitem {\n  name: "watch (a person)"\n  id: 80\n}\n'
GT = ["v,0902,0.000,0.000,0.500,0.500,1,0", "v,0903,0.100,0.100,0.600,0.600,1,0",
      "v,0902,0.500,0.500,1.000,1.000,80,0", "w,0904,0.200,0.200,0.700,0.700,80,0"]
DET = ["v,0902,0.000,0.000,0.500,0.500,1,0.9", "v,0903,0.100,0.100,0.600,0.600,1,0.3",
       "v,0902,0.500,0.500,1.000,1.000,80,0.4", "w,0904,0.200,0.200,0.700,0.700,80,0.2",
       "v,0903,0.000,0.000,0.300,0.300,1,0.5"]


INVERTED = "an inverted box (x2 < x1 or y2 < y1)"


def _insert(rows: list[str], row: str, at: int = 2) -> list[str]:
    return rows[:at] + [row] + rows[at:]


def _write(path, rows):
    path.write_text("".join(r + "\n" for r in rows))
    return path


def _both(tmp_path, gt_rows, det_rows, **kw):
    labelmap = _write(tmp_path / "labelmap.pbtxt", [LABELMAP])
    gt, det = _write(tmp_path / "gt.csv", gt_rows), _write(tmp_path / "det.csv", det_rows)
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        official = official_metrics(str(labelmap), str(gt), str(det))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ours = frame_map(gt, det, labelmap, expected_classes=None, **kw)
    return official, ours, [str(w.message) for w in caught]


def _assert_equal(official, ours):
    metrics = ours.official_metrics()
    assert metrics.keys() == official.keys()
    for key, value in metrics.items():
        assert value == official[key] or (math.isnan(value) and math.isnan(official[key])), key


# (case, ground truth, detections, the warning's kind, its first line, rows counted)
SCORED_AS_OFFICIAL = [
    ("inverted x", GT, _insert(DET, "v,0902,0.600,0.000,0.500,0.500,1,0.95"), INVERTED, "det.csv", 3, 1),
    ("inverted y", GT, _insert(DET, "v,0902,0.000,0.600,0.500,0.500,1,0.95"), INVERTED, "det.csv", 3, 1),
    ("two inverted", GT, _insert(_insert(DET, "v,0903,0.7,0.1,0.6,0.6,1,0.1", 4), "v,0902,0.6,0.0,0.5,0.5,80,0.95"),
     INVERTED, "det.csv", 3, 2),
    ("NaN box coordinate", GT, _insert(DET, "v,0902,nan,0.000,0.500,0.500,1,0.95"), "a NaN box coordinate",
     "det.csv", 3, 1),
    ("box beyond 1", GT, _insert(DET, "v,0902,0.000,0.000,1.500,0.500,1,0.95"), "a detection box outside [0, 1]",
     "det.csv", 3, 1),
    ("negative box coordinate", GT, _insert(DET, "v,0902,-0.100,0.000,0.500,0.500,1,0.95"),
     "a detection box outside [0, 1]", "det.csv", 3, 1),
    ("infinite box coordinate", GT, _insert(DET, "v,0902,0.000,0.000,inf,0.500,1,0.95"),
     "an infinite detection box coordinate", "det.csv", 3, 1),
    ("minus infinite box coordinate", GT, _insert(DET, "v,0902,-inf,0.000,0.500,0.500,1,0.95"),
     "an infinite detection box coordinate", "det.csv", 3, 1),
    ("infinite score", GT, _insert(DET, "v,0902,0.000,0.000,0.400,0.500,1,inf"), "an infinite score", "det.csv", 3, 1),
    ("minus infinite score", GT, _insert(DET, "v,0902,0.000,0.000,0.400,0.500,1,-inf"), "an infinite score",
     "det.csv", 3, 1),
    ("score overflowing to infinity", GT, _insert(DET, "v,0902,0.000,0.000,0.400,0.500,1,1e400"),
     "an infinite score", "det.csv", 3, 1),
    ("negative timestamp", GT, _insert(DET, "v,-5,0.000,0.000,0.400,0.500,1,0.95"), "a negative timestamp",
     "det.csv", 3, 1),
    ("empty video id", GT, _insert(DET, ",0902,0.000,0.000,0.400,0.500,1,0.95"), "an empty video id", "det.csv", 3, 1),
    ("negative action id", GT, _insert(DET, "v,0902,0.000,0.000,0.400,0.500,-1,0.95"),
     "an action id that is negative or beyond 32 bits", "det.csv", 3, 1),
    ("action id beyond 32 bits", GT, _insert(DET, "v,0902,0.000,0.000,0.400,0.500,99999999999,0.95"),
     "an action id that is negative or beyond 32 bits", "det.csv", 3, 1),
    ("no score column", GT, [row.rsplit(",", 1)[0] for row in DET], "no score (7 fields)", "det.csv", 1, 5),
    ("ground truth beyond 1", GT + ["v,0903,0.000,0.000,1.500,0.500,1,0"], DET, "a ground-truth box outside [0, 1]",
     "gt.csv", 5, 1),
    ("ground truth infinite", GT + ["v,0903,0.000,0.000,inf,0.500,1,0"], DET,
     "an infinite ground-truth box coordinate", "gt.csv", 5, 1),
    ("ground truth negative timestamp", GT + ["v,-5,0.000,0.000,0.500,0.500,1,0"], DET, "a negative timestamp",
     "gt.csv", 5, 1),
    ("ground truth empty video id", GT + [",0903,0.000,0.000,0.500,0.500,1,0"], DET, "an empty video id", "gt.csv", 5, 1),
    ("ground truth negative action id", GT + ["v,0903,0.000,0.000,0.500,0.500,-1,0"], DET,
     "an action id that is negative or beyond 32 bits", "gt.csv", 5, 1),
]


@pytest.mark.parametrize("case,gt,det,kind,file,line,count", SCORED_AS_OFFICIAL, ids=[c[0] for c in SCORED_AS_OFFICIAL])
def test_rows_the_official_evaluator_accepts_are_scored_as_it_scores_them(tmp_path, case, gt, det, kind, file,
                                                                          line, count):
    official, ours, caught = _both(tmp_path, gt, det)
    _assert_equal(official, ours)
    # One warning for the kind: the count and the first line.
    mine = [text for text in ours.warnings if kind in text]
    assert len(mine) == 1 and mine == [text for text in caught if kind in text]
    assert f"{file}: {count} row{'s' if count > 1 else ''} with {kind} (first: line {line});" in mine[0]
    assert mine[0].endswith("as the official evaluator does")
    # --strict refuses the first such row, naming it and what happens without the flag.
    with pytest.raises(AvaInputError, match=re.escape(kind) + r" \(without --strict: ") as info:
        frame_map(tmp_path / "gt.csv", tmp_path / "det.csv", tmp_path / "labelmap.pbtxt", expected_classes=None,
                  strict=True)
    assert info.value.line == line and info.value.path.endswith(file)


def test_an_inverted_box_takes_its_place_in_the_50_row_cap_before_it_is_dropped(tmp_path):
    """The official reader caps each keyframe at 50 rows before the evaluator drops invalid
    boxes, so an inverted top-scored row pushes the 50th valid row out."""
    det = [f"v,0902,0.000,0.000,0.500,0.{500 + i:03d},1,0.{10 + i:02d}" for i in range(50)]
    det.insert(7, "v,0902,0.900,0.000,0.100,0.500,1,0.99")  # inverted, the best score
    det.append("v,0903,0.100,0.100,0.600,0.600,1,0.05")
    official, ours, _ = _both(tmp_path, GT, det)
    _assert_equal(official, ours)
    assert ours.num_evaluated_detections == 49 + 1  # 50 kept on 0902, one of them inverted and dropped


def test_a_nan_score_outside_the_label_map_is_skipped_as_the_official_reader_skips_it(tmp_path):
    official, ours, caught = _both(tmp_path, GT, _insert(DET, "v,0902,0.000,0.000,0.400,0.500,7,nan"))
    _assert_equal(official, ours)
    assert ours.out_of_map_detection_rows == 1 and not caught


def test_the_cli_prints_one_warning_line_per_kind_and_refuses_only_with_strict(tmp_path, capsys):
    det = _insert(_insert(DET, "v,0903,0.7,0.1,0.6,0.6,1,0.1", 4), "v,0902,0.6,0.0,0.5,0.5,80,0.95")
    official, ours, _ = _both(tmp_path, GT, det)
    args = ["-l", str(tmp_path / "labelmap.pbtxt"), "-g", str(tmp_path / "gt.csv"), "-d", str(tmp_path / "det.csv"),
            "--expected-classes", "0", "--json"]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        f"warning: {tmp_path / 'det.csv'}: 2 rows with an inverted box (x2 < x1 or y2 < y1) (first: line 3); "
        "dropped after the 50-row cap, as the official evaluator does"]
    assert '"mAP": ' + repr(float(official["PascalBoxes_Precision/mAP@0.5IOU"])) in captured.out
    assert main([*args, "--strict"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: {tmp_path / 'det.csv'}:3: an inverted box (x2 < x1 or y2 < y1) (without --strict: dropped after "
        "the 50-row cap, as the official evaluator does)")


# Rows the official evaluator scores and we refuse in every mode, each saying why.
REFUSED_WITH_A_REASON = [
    ("NaN score on a label-map row", GT, _insert(DET, "v,0902,0.000,0.000,0.400,0.500,1,nan"), "det.csv", 3,
     "score is NaN (the official evaluator ranks NaN scores by its heap's memory layout"),
    ("timestamp beyond 32 bits", GT, _insert(DET, "v,99999999999,0.000,0.000,0.400,0.500,1,0.9"), "det.csv", 3,
     "timestamp beyond 32 bits (the official evaluator takes any integer"),
    ("timestamp with a plus sign", GT, _insert(DET, "v,+903,0.000,0.000,0.400,0.500,1,0.9"), "det.csv", 3,
     "timestamp '+903' has a plus sign (the official evaluator reads it as an integer"),
    ("a 7-field row among 8-field rows", GT, _insert(DET, "v,0902,0.000,0.000,0.400,0.500,1"), "det.csv", 3,
     "expected 8 fields like line 1, got 7 (the official evaluator scores 7-field rows 1.0"),
    ("NaN ground-truth coordinate", GT + ["v,0903,nan,0.000,0.500,0.500,1,0"], DET, "gt.csv", 5,
     "NaN box coordinate in the ground truth (the official evaluator's IoU with it is NaN"),
]


@pytest.mark.parametrize("case,gt,det,file,line,reason", REFUSED_WITH_A_REASON,
                         ids=[c[0] for c in REFUSED_WITH_A_REASON])
def test_rows_we_cannot_score_as_the_official_evaluator_are_refused_with_the_reason(tmp_path, case, gt, det, file,
                                                                                  line, reason):
    labelmap = _write(tmp_path / "labelmap.pbtxt", [LABELMAP])
    gt_path, det_path = _write(tmp_path / "gt.csv", gt), _write(tmp_path / "det.csv", det)
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        official_metrics(str(labelmap), str(gt_path), str(det_path))  # it does score them
    with pytest.raises(AvaInputError, match=re.escape(reason)) as info:
        frame_map(gt_path, det_path, labelmap, expected_classes=None)
    assert info.value.line == line and info.value.path.endswith(file)
