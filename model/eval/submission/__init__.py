"""Challenge submission files: writers and validators for AVA (CSV) and Kinetics-700 (JSON).

AVA test server: headerless CSV ``video_id,timestamp,x1,y1,x2,y2,action_id,score``, boxes
with 3 decimals, only the 60 evaluated action ids, every test keyframe covered, no duplicate
(keyframe, box, action). Kinetics (ActivityNet challenge): one JSON object
``{"version": ..., "results": {video_id: [{"label": name, "score": s}, ... 5]},
"external_data": {"used": bool, "details": str}}``.

Validators report every problem with its line (``None`` for whole-file problems such as a
test keyframe nobody covered) in a JSON-serialisable :class:`ValidationReport`. Writers
validate what they write and replace the target atomically, so a failed write leaves the
previous file intact.
"""

from model.eval.submission.ava_csv import (
    AVA_TEST_SECONDS,
    read_test_keyframes,
    validate_ava_submission,
    write_ava_submission,
)
from model.eval.submission.kinetics_json import (
    KINETICS_TOP_K,
    score_kinetics_submission,
    validate_kinetics_submission,
    write_kinetics_submission,
)
from model.eval.submission.report import (
    Problem,
    SubmissionError,
    ValidationReport,
)

__all__ = [
    "AVA_TEST_SECONDS", "KINETICS_TOP_K", "Problem", "SubmissionError", "ValidationReport",
    "read_test_keyframes", "score_kinetics_submission", "validate_ava_submission", "validate_kinetics_submission",
    "write_ava_submission", "write_kinetics_submission",
]
