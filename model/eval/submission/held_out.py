"""A submission scored against the test labels its dataset keeps aside, as a test server would.

For the real AVA and Kinetics datasets only the test servers hold the test labels. The
generated data writes them under the dataset root, out of the folders the jobs read (AVA
``held_out/ava_test_v2.2.csv``, Kinetics ``held_out/test.csv``), so that the file the
programme exports can be scored as the server would score it: the official AVA frame-mAP
with no excluded keyframes, the Kinetics top-1 / top-5 error and their mean.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["score_against_held_out"]


def score_against_held_out(fmt: str, submission: str | os.PathLike[str],
                           references: dict[str, str]) -> dict[str, float] | None:
    """Metrics (fractions) of ``submission`` in format ``fmt`` ("ava_csv" | "kinetics_json"),
    or None when the dataset keeps no test labels aside. ``references`` are the files the file
    was validated against (an export manifest's ``references``): their dataset root is the one
    searched, and AVA's label map is the one scored with."""
    if fmt == "ava_csv" and references.get("test_keyframes"):
        from model.data.ava_annotations import HELD_OUT_TEST_GT

        truth = Path(references["test_keyframes"]).parent.parent / HELD_OUT_TEST_GT
        if not truth.is_file():
            return None
        from model.eval.ava import frame_map

        return {"frame_map": float(frame_map(truth, submission, references["labelmap"], None).mAP)}
    if fmt == "kinetics_json" and references.get("test_videos"):
        from model.data.kinetics_annotations import HELD_OUT_TEST_LABELS, read_kinetics_csv
        from model.eval.submission.kinetics_json import score_kinetics_submission

        truth = Path(references["test_videos"]).parent.parent / HELD_OUT_TEST_LABELS
        if not truth.is_file():
            return None
        labels = {row.youtube_id: row.label for row in read_kinetics_csv(truth) if row.label is not None}
        return score_kinetics_submission(submission, labels)
    return None
