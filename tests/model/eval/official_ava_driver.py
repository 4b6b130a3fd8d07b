"""Runs the official ActivityNet AVA evaluator (not our code) on files, for the equality tests.

Where the official code comes from (docs/evaluation.md, "The reference evaluator"):
PyPI ``pyslowfast==1.0`` (the ``test`` extra) is facebookresearch/SlowFast at its initial
commit 31d2ea7. Its ``slowfast/utils/ava_evaluation/`` is activitynet/ActivityNet
``Evaluation/ava/`` at 3fee089, identical statement for statement (checked by AST comparison;
only the import lines and the formatting differ), and its ``utils/ava_eval_helper.py`` holds
``read_labelmap``, ``read_exclusions`` and ``run_evaluation`` of ``get_ava_performance.py``
at 3fee089, unchanged in logic. The one piece PySlowFast changed is ``read_csv``: it has no
top-50-per-keyframe cap and no score sort, so :func:`read_csv_3fee089` below restores the
3fee089 version (heap of capacity 50, then a stable sort by descending score).

Python 3 / NumPy 2 needs only aliases the old code uses (``np.float``, ``np.NAN``); they are
given to the official modules through a NumPy proxy bound to their ``np`` global at test time,
leaving the real ``numpy`` module untouched. No numeric code is replaced.
"""

from __future__ import annotations

import csv
import heapq
import importlib
import types
from collections import defaultdict

import numpy as np

_OFFICIAL_MODULES = (
    "slowfast.utils.ava_evaluation.metrics",
    "slowfast.utils.ava_evaluation.np_box_ops",
    "slowfast.utils.ava_evaluation.np_box_list",
    "slowfast.utils.ava_evaluation.np_box_list_ops",
    "slowfast.utils.ava_evaluation.np_box_mask_list",
    "slowfast.utils.ava_evaluation.np_box_mask_list_ops",
    "slowfast.utils.ava_evaluation.np_mask_ops",
    "slowfast.utils.ava_evaluation.per_image_evaluation",
    "slowfast.utils.ava_evaluation.object_detection_evaluation",
    "slowfast.utils.ava_eval_helper",
)


class _NumpyWithLegacyAliases(types.ModuleType):
    """``numpy`` plus the aliases NumPy 1.24/2.0 removed; everything else is forwarded."""

    def __getattr__(self, name: str) -> object:
        return getattr(np, name)


_NP = _NumpyWithLegacyAliases("numpy")
_NP.float = float
_NP.bool = bool
_NP.NAN = np.nan


def official_helper() -> types.ModuleType:
    """The official modules, imported from the installed ``pyslowfast`` (ImportError if absent)."""
    modules = [importlib.import_module(name) for name in _OFFICIAL_MODULES]
    for module in modules:
        if getattr(module, "np", None) is not None:
            module.np = _NP
    return modules[-1]


def _make_image_key(video_id: str, timestamp: str) -> str:
    return "%s,%04d" % (video_id, int(timestamp))


def read_csv_3fee089(path: str, class_whitelist: set[int], capacity: int):
    """``read_csv`` of get_ava_performance.py at 3fee089, statement for statement."""
    entries = defaultdict(list)
    boxes = defaultdict(list)
    labels = defaultdict(list)
    scores = defaultdict(list)
    with open(path) as csv_file:
        for row in csv.reader(csv_file):
            assert len(row) in [7, 8], "Wrong number of columns: " + str(row)
            image_key = _make_image_key(row[0], row[1])
            x1, y1, x2, y2 = [float(n) for n in row[2:6]]
            action_id = int(row[6])
            if class_whitelist and action_id not in class_whitelist:
                continue
            score = 1.0
            if len(row) == 8:
                score = float(row[7])
            if capacity < 1 or len(entries[image_key]) < capacity:
                heapq.heappush(entries[image_key], (score, action_id, y1, x1, y2, x2))
            elif score > entries[image_key][0][0]:
                heapq.heapreplace(entries[image_key], (score, action_id, y1, x1, y2, x2))
    for image_key in entries:
        entry = sorted(entries[image_key], key=lambda tup: -tup[0])
        for score, action_id, y1, x1, y2, x2 in entry:
            boxes[image_key].append([y1, x1, y2, x2])
            labels[image_key].append(action_id)
            scores[image_key].append(score)
    return boxes, labels, scores


def official_metrics(labelmap: str, groundtruth: str, detections: str,
                     exclusions: str | None = None) -> dict[str, float]:
    """``get_ava_performance.py -l -g -d [-e]`` at 3fee089: its metrics dictionary."""
    helper = official_helper()
    categories, class_whitelist = helper.read_labelmap(labelmap)
    excluded_keys = helper.read_exclusions(exclusions)
    gt = read_csv_3fee089(groundtruth, class_whitelist, 0)
    det = read_csv_3fee089(detections, class_whitelist, 50)
    return helper.run_evaluation(categories, gt, det, excluded_keys)
