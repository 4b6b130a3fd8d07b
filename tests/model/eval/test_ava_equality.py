"""Our AVA frame mAP equals the official ActivityNet evaluator's, class by class.

The official evaluator runs from the ``pyslowfast`` test dependency (see
official_ava_driver.py); if it is not installed these tests fail, they do not skip.
"""

from __future__ import annotations

import contextlib
import io
import math
import warnings

import numpy as np
import pytest

import model.eval.ava as ava_module
from ava_cases import AvaCase, make_case
from official_ava_driver import official_metrics
from model.eval.ava import frame_map

TOLERANCE = 1e-9
MAP_KEY = "PascalBoxes_Precision/mAP@0.5IOU"

# (seed, videos, keyframes per video, tied scores, exclusions)
CASES = [
    (0, 1, 5, False, True),
    (1, 1, 1, False, False),
    (2, 2, 10, False, True),
    (3, 3, 25, False, True),
    (4, 2, 40, False, False),
    (5, 5, 30, False, True),
    (6, 4, 60, False, True),
    (7, 8, 50, False, True),
    (8, 2, 20, True, True),
    (9, 4, 30, True, False),
    (10, 3, 50, True, True),
]


def _run_both(case):
    with contextlib.redirect_stdout(io.StringIO()):  # the official code pprints its metrics
        official = official_metrics(str(case.labelmap), str(case.groundtruth), str(case.detections),
                                    str(case.exclusions) if case.exclusions else None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = frame_map(case.groundtruth, case.detections, case.labelmap, case.exclusions,
                         expected_classes=None)
    return official, ours.official_metrics()


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) < TOLERANCE


@pytest.mark.parametrize("seed,videos,keyframes,ties,exclusions", CASES)
def test_frame_map_equals_official(tmp_path, seed, videos, keyframes, ties, exclusions):
    case = make_case(tmp_path, seed, videos=videos, keyframes=keyframes, ties=ties, exclusions=exclusions)
    official, ours = _run_both(case)
    assert set(ours) == set(official)
    assert _same(ours[MAP_KEY], official[MAP_KEY]), (ours[MAP_KEY], official[MAP_KEY])
    differing = {k: (ours[k], official[k]) for k in official if not _same(ours[k], official[k])}
    assert not differing
    # The case must exercise something: real APs, classes without ground truth (NaN).
    aps = [v for k, v in official.items() if k != MAP_KEY]
    assert any(math.isnan(v) for v in aps) or len(aps) < 60 or seed == 1


@pytest.mark.parametrize("seed,ties", [(20, False), (21, True), (22, True)])
def test_streamed_blocks_equal_official(tmp_path, monkeypatch, seed, ties):
    """Detections read in many small blocks: the per-block cap, and the second pass that
    collects every row of a tied keyframe, must not change anything."""
    monkeypatch.setattr("model.eval.ava_io.DETECTION_BLOCK_BYTES", 2048)
    case = make_case(tmp_path, seed, videos=3, keyframes=20, ties=ties)
    assert case.detections.stat().st_size > 20 * 2048
    official, ours = _run_both(case)
    assert all(_same(ours[k], official[k]) for k in official)
    assert official[MAP_KEY] > 0.05


def test_frame_map_equals_official_on_thousands_of_boxes(tmp_path):
    case = make_case(tmp_path, 42, videos=10, keyframes=120)
    official, ours = _run_both(case)
    assert official[MAP_KEY] > 0.05
    assert all(_same(ours[k], official[k]) for k in official)


def test_equality_cases_are_not_trivial(tmp_path):
    """Guards the suite itself: the generated cases hit the corner cases they claim to."""
    case = make_case(tmp_path, 7, videos=2, keyframes=20)
    det = case.detections.read_text().splitlines()
    per_keyframe: dict[str, int] = {}
    for row in det:
        key = ",".join(row.split(",")[:2])
        per_keyframe[key] = per_keyframe.get(key, 0) + 1
    assert max(per_keyframe.values()) > 50                              # the cap bites
    assert any(int(r.split(",")[6]) not in case.class_ids for r in det)  # out-of-map ids
    assert any(r.startswith("unknown_video,") for r in det)              # unknown video
    assert len(det) != len(set(det))                                     # duplicate rows
    official, _ = _run_both(case)
    aps = [v for k, v in official.items() if k != MAP_KEY]
    assert any(math.isnan(v) for v in aps) and any(v == 0.0 for v in aps) and max(aps) > 0.3


def test_tie_across_blocks_replays_the_whole_keyframe(tmp_path, monkeypatch):
    """Keyframe A: 120 distinct scores in the first block (69 dropped there), then, blocks
    later, rows tying with its best scores. The heap replay needs every row of A, so the
    evaluator must read the stream a second time; the result must still be the official one."""
    monkeypatch.setattr("model.eval.ava_io.DETECTION_BLOCK_BYTES", 4096)
    rng = np.random.default_rng(5)
    labelmap = tmp_path / "labelmap.pbtxt"
    labelmap.write_text("".join(f'item {{\n  name: "a{c}"\n  id: {c}\n}}\n' for c in range(1, 7)))
    gt_rows, det_rows = [], []
    for t in range(902, 912):
        for c in (1, 2, 3):
            gt_rows.append(f"vid,{t},0.100,0.100,0.500,0.500,{c},0")
    def box():
        x, y = rng.uniform(0.05, 0.15, 2)
        return f"{x:.3f},{y:.3f},{x + 0.4:.3f},{y + 0.4:.3f}"
    a_scores = (rng.permutation(np.arange(1, 121)) / 121).tolist()
    det_rows += [f"vid,902,{box()},{1 + i % 6},{s!r}" for i, s in enumerate(a_scores)]
    det_rows += [f"vid,{t},{box()},{1 + i % 6},{float(rng.random())!r}" for t in range(903, 912) for i in range(40)]
    det_rows += [f"vid,902,{box()},{1 + i % 6},{s!r}" for i, s in enumerate(sorted(a_scores)[-10:])]
    (tmp_path / "gt.csv").write_text("\n".join(gt_rows) + "\n")
    (tmp_path / "det.csv").write_text("\n".join(det_rows) + "\n")
    case = AvaCase(labelmap, tmp_path / "gt.csv", tmp_path / "det.csv", None, tuple(range(1, 7)))
    passes = []
    original = ava_module.cap_detections
    monkeypatch.setattr(ava_module, "cap_detections", lambda stream: original(lambda: passes.append(1) or stream()))
    official, ours = _run_both(case)
    assert len(passes) == 2
    assert all(_same(ours[k], official[k]) for k in official)
