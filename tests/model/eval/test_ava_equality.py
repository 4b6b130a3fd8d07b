"""Our AVA frame mAP equals the official ActivityNet evaluator's, class by class.

The official evaluator runs from the ``pyslowfast`` test dependency (see
official_ava_driver.py); if it is not installed these tests fail, they do not skip.
"""

from __future__ import annotations

import contextlib
import io
import math
import warnings

import pytest

from ava_cases import make_case
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


@pytest.mark.slow
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
