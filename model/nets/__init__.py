"""The SlowFast family (Table 1 of the report) and its Kinetics / AVA heads.

    model = build("slowfast_8x8_r101_nl", task="ava", num_classes=80, nl_context=True)
    logits = model([slow, fast], boxes)        # (K, 80) logits; sigmoid at evaluation

See `model.nets.spec` for the variants and the choices made where the report is ambiguous.
"""

from model.nets.build import TASKS, VideoClassifier, VideoDetector, build
from model.nets.convert import load_backbone_from_classification
from model.nets.errors import BoxError, CheckpointMismatchError, InputShapeError
from model.nets.spec import VARIANTS, PathwaySpec, StageSpec, VariantSpec, variant_spec

__all__ = [
    "build", "variant_spec", "VARIANTS", "VariantSpec", "PathwaySpec", "StageSpec", "TASKS",
    "VideoClassifier", "VideoDetector", "InputShapeError", "BoxError", "CheckpointMismatchError",
    "load_backbone_from_classification",
]

