"""Submission writers round-trip through their validators; validators name every bad line."""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from model.data.ava_labelmap import AVA_EVALUATED_IDS, write_label_map
from model.eval.submission import (
    score_kinetics_submission,
    SubmissionError,
    validate_ava_submission,
    validate_kinetics_submission,
    write_ava_submission,
    write_kinetics_submission,
)

LABELS = {1: "bend/bow (at the waist)", 3: "carry/hold (an object)", 80: "watch (a person)"}
KEYFRAMES = {("vid_a", 902), ("vid_a", 903), ("vid_b", 1798)}


def _detections():
    rows = []
    for video, second in sorted(KEYFRAMES):
        for action in (1, 2, 3, 80):  # 2 is trained but not evaluated: the writer drops it
            rows.append((video, second, 0.1234, 0.2, 0.5, 0.9, action, 0.5 + action / 1000))
    return pd.DataFrame(rows, columns=["video_id", "timestamp", "x1", "y1", "x2", "y2", "action_id", "score"])


def test_ava_write_then_validate(tmp_path):
    path = tmp_path / "ava_test.csv"
    report = write_ava_submission(_detections(), path, labelmap=LABELS, test_keyframes=KEYFRAMES)
    assert report.ok and report.rows == 9 and report.covered == 3
    lines = path.read_text().splitlines()
    assert lines[0] == "vid_a,0902,0.123,0.200,0.500,0.900,1,0.501000"
    assert not any(line.split(",")[6] == "2" for line in lines)
    assert json.loads(json.dumps(validate_ava_submission(path, labelmap=LABELS, test_keyframes=KEYFRAMES).to_dict()))["ok"]


def test_ava_writer_refuses_and_keeps_the_previous_file(tmp_path):
    path = tmp_path / "ava_test.csv"
    path.write_text("previous\n")
    bad = _detections()
    bad.loc[0, "x2"] = 1.5  # a box outside [0, 1]: a problem, strict or not
    with pytest.raises(SubmissionError, match="box field '1.500'"):
        write_ava_submission(bad, path, labelmap=LABELS, test_keyframes=KEYFRAMES)
    assert path.read_text() == "previous\n"
    assert [p.name for p in tmp_path.iterdir()] == ["ava_test.csv"]


def test_ava_writer_strict_refuses_an_uncovered_keyframe(tmp_path):
    path = tmp_path / "ava_test.csv"
    path.write_text("previous\n")
    partial = _detections()
    partial = partial[partial["video_id"] != "vid_b"]
    with pytest.raises(SubmissionError, match="vid_b,1798 has no detection"):
        write_ava_submission(partial, path, labelmap=LABELS, test_keyframes=KEYFRAMES, strict=True)
    assert path.read_text() == "previous\n"
    assert [p.name for p in tmp_path.iterdir()] == ["ava_test.csv"]


def test_ava_uncovered_keyframe_is_a_warning_as_for_the_official_evaluator(tmp_path):
    """The official evaluator scores a file without rows on some keyframes (they add no
    detection), so by default the writer writes it and the report carries one warning line."""
    path = tmp_path / "ava_test.csv"
    partial = _detections()
    partial = partial[partial["video_id"] != "vid_b"]
    keyframes = KEYFRAMES | {("vid_b", 1797)}
    report = write_ava_submission(partial, path, labelmap=LABELS, test_keyframes=keyframes)
    assert report.ok and report.problems == [] and report.covered == 2 and report.expected == 4
    assert report.warnings == ["2 test keyframes have no detection (first: vid_b,1797); scored without "
                               "detections, as the official evaluator and the test server do (--strict refuses them)"]
    assert path.read_text().count("\n") == 6
    assert json.loads(report.to_json())["warnings"] == report.warnings
    strict = validate_ava_submission(path, labelmap=LABELS, test_keyframes=keyframes, strict=True)
    assert not strict.ok and strict.warnings == []
    assert [p.message for p in strict.problems] == ["test keyframe vid_b,1797 has no detection",
                                                    "test keyframe vid_b,1798 has no detection"]


def test_ava_validator_cli_warns_on_uncovered_keyframes_and_refuses_with_strict(tmp_path):
    path = tmp_path / "ava_test.csv"
    path.write_text("vid_a,0902,0.100,0.200,0.500,0.900,12,0.9\n")
    (tmp_path / "keyframes.csv").write_text("vid_a,0902\nvid_a,0903\n")
    write_label_map(tmp_path / "labels.pbtxt", AVA_EVALUATED_IDS)
    command = [sys.executable, "-m", "model.eval.submission", "validate", "--format", "ava", str(path),
               "--labelmap", str(tmp_path / "labels.pbtxt"), "--test-keyframes", str(tmp_path / "keyframes.csv")]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == (f"warning: {path}: 1 test keyframe has no detection (first: vid_a,0903); scored "
                           "without detections, as the official evaluator and the test server do "
                           "(--strict refuses them)\n")
    assert done.stdout == f"{path}: OK (1 rows, 1/2 covered)\n"
    done = subprocess.run([*command, "--strict"], capture_output=True, text=True, check=False)
    assert done.returncode == 1 and done.stderr == ""
    assert done.stdout.splitlines()[0] == f"{path}: test keyframe vid_a,0903 has no detection"


def test_ava_validator_reports_every_problem_with_its_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("\n".join([
        "vid_a,0902,0.100,0.200,0.500,0.900,1,0.9",     # 1 ok
        "vid_a,902,0.100,0.200,0.500,0.900,1,0.8",      # 2 duplicate of 1 (902 == 0902)
        "vid_a,0903,0.1234,0.200,0.500,0.900,3,0.9",    # 3 four decimals
        "vid_a,0903,0.500,0.200,0.100,0.900,3,0.9",     # 4 inverted
        "vid_a,0903,0.100,0.200,0.500,0.900,2,0.9",     # 5 id not evaluated
        "vid_c,0903,0.100,0.200,0.500,0.900,3,0.9",     # 6 not a test keyframe
        "vid_a,0903,0.100,0.200,0.500,0.900,80,high",   # 7 score not a number
        "vid_a,0903,0.100,0.200,0.500,0.900,80",        # 8 seven fields
    ]) + "\n")
    report = validate_ava_submission(path, labelmap=LABELS, test_keyframes=KEYFRAMES, strict=True)
    assert not report.ok
    by_line = {p.line: p.message for p in report.problems}
    assert "duplicate of line 1" in by_line[2]
    assert "3 decimals" in by_line[3]
    assert "inverted" in by_line[4]
    assert "action id 2" in by_line[5]
    assert "not a test keyframe" in by_line[6]
    assert "score 'high'" in by_line[7]
    assert "8 fields" in by_line[8]
    assert 1 not in by_line
    assert by_line[None] == "test keyframe vid_b,1798 has no detection"


def test_kinetics_write_validate_and_cli(tmp_path):
    classes = ["abseiling", "air drumming", "archery", "baking cookies", "cartwheeling", "dancing"]
    probs = pd.DataFrame([[0.5, 0.1, 0.1, 0.1, 0.15, 0.05], [0.0, 0.1, 0.2, 0.3, 0.25, 0.15]],
                         index=["v1", "v2"], columns=classes)
    path = tmp_path / "kinetics.json"
    report = write_kinetics_submission(probs, path, test_video_ids=["v1", "v2"], class_names=classes,
                                       external_data_used=False)
    assert report.ok
    doc = json.loads(path.read_text())
    assert [e["label"] for e in doc["results"]["v2"]] == ["baking cookies", "cartwheeling", "archery",
                                                          "dancing", "air drumming"]
    assert doc["external_data"] == {"used": False, "details": ""}
    (tmp_path / "videos.txt").write_text("v1\nv2\nv3\n")
    (tmp_path / "classes.txt").write_text("\n".join(classes) + "\n")
    done = subprocess.run([sys.executable, "-m", "model.eval.submission", "validate", "--format", "kinetics",
                           str(path), "--test-videos", str(tmp_path / "videos.txt"),
                           "--classes", str(tmp_path / "classes.txt"), "--json"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 1, done.stderr
    out = json.loads(done.stdout)
    assert out["ok"] is False and out["problems"] == [{"line": None, "message": "test video 'v3' has no prediction"}]


def test_kinetics_validator_names_lines(tmp_path):
    path = tmp_path / "k.json"
    path.write_text('{"version": "x",\n "results": {\n  "v1": [{"label": "nope", "score": 1}],\n'
                    '  "v9": []},\n "external_data": {"used": "yes"}}\n')
    report = validate_kinetics_submission(path, test_video_ids=["v1"], class_names=["run"])
    messages = {(p.line, p.message) for p in report.problems}
    assert (3, "video 'v1': expected a list of 5 predictions") in messages
    assert (4, "video 'v9' is not a test video") in messages
    assert any(line == 5 and "external_data" in m for line, m in messages)
    path.write_text('{"version": "x",\n "results": {\n')
    report = validate_kinetics_submission(path, test_video_ids=["v1"], class_names=["run"])
    assert report.problems[0].line == 3 and "invalid JSON" in report.problems[0].message


def test_kinetics_submission_is_scored_by_score_rank_not_file_order(tmp_path):
    """Video a: label ranked second by score although listed first (top-1 miss, top-5 hit);
    video b: label first; video c: labelled but absent from the file (a miss)."""
    entries = [{"label": "c0", "score": 0.1}, {"label": "c1", "score": 0.9}, {"label": "c2", "score": 0.05},
               {"label": "c3", "score": 0.03}, {"label": "c4", "score": 0.02}]
    path = tmp_path / "k.json"
    path.write_text(json.dumps({"version": "v", "external_data": {"used": False, "details": ""},
                                "results": {"a": entries, "b": entries}}))
    scored = score_kinetics_submission(path, {"a": "c0", "b": "c1", "c": "c2"})
    assert scored["top1"] == pytest.approx(1 / 3) and scored["top5"] == pytest.approx(2 / 3)
    assert scored["challenge_error"] == pytest.approx(((1 - 1 / 3) + (1 - 2 / 3)) / 2)
    with pytest.raises(ValueError, match="no labelled videos"):
        score_kinetics_submission(path, {})
