"""`build(name, ...)`: the public entry point that turns a variant name into a network."""

from __future__ import annotations

import torch
from torch import nn

from model.nets.backbone import SlowFastBackbone
from model.nets.heads import AvaHead, KineticsHead, check_boxes
from model.nets.init import init_weights
from model.nets.spec import VariantSpec, variant_spec

__all__ = ["build", "VideoClassifier", "VideoDetector", "TASKS"]

TASKS = ("kinetics", "ava")


class VideoClassifier(nn.Module):
    """Kinetics model: `model([slow, fast])` (or `[fast]`) -> logits (B, num_classes)."""

    def __init__(self, spec: VariantSpec, num_classes: int, *, dropout: float) -> None:
        super().__init__()
        self.spec = spec
        self.backbone = SlowFastBackbone(spec)
        self.head = KineticsHead(self.backbone.out_channels, num_classes, dropout=dropout)

    def forward(self, inputs: list[torch.Tensor]) -> torch.Tensor:
        return self.head(self.backbone(inputs))


class VideoDetector(nn.Module):
    """AVA model: `model(inputs, boxes)` -> logits (K, num_classes), one row per box.

    boxes: (K, 5) float [batch_index, x1, y1, x2, y2] in input-pixel coordinates of the clip
    (the same frame for every pathway), replicated along time by the head.
    """

    def __init__(self, spec: VariantSpec, num_classes: int, *, dropout: float, nl_context: bool) -> None:
        super().__init__()
        self.spec = spec
        self.backbone = SlowFastBackbone(spec, detection=True)
        self.head = AvaHead(self.backbone.out_channels, num_classes, dropout=dropout,
                            spatial_scale=1.0 / spec.detection_stride, nl_context=nl_context)

    def forward(self, inputs: list[torch.Tensor], boxes: torch.Tensor) -> torch.Tensor:
        self.backbone.check_inputs(inputs)
        check_boxes(boxes, batch_size=inputs[0].shape[0], height=inputs[0].shape[3],
                    width=inputs[0].shape[4])
        return self.head(self.backbone(inputs), boxes)


def build(name: str, *, task: str = "kinetics", num_classes: int, nl_context: bool = False,
          dropout: float = 0.5, num_frames: int | None = None, alpha: int | None = None) -> nn.Module:
    """Build variant `name` (see `model.nets.VARIANTS`) for `task` ("kinetics" or "ava").

    Returns logits in both tasks (softmax / sigmoid are applied by the evaluation code).
    `num_frames` / `alpha` override the clip length the spec records (the demo runs T=4);
    `alpha` also sets the lateral connections' temporal stride. `nl_context` adds the AVA
    non-local context branch; a Kinetics classifier has no such branch and ignores the flag,
    so one model config serves a member's pretraining and its AVA fine-tuning.
    Weights are initialised as in `model.nets.init`.
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    if not isinstance(num_classes, int) or num_classes < 1:
        raise ValueError(f"num_classes must be a positive int, got {num_classes!r}")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")
    spec = variant_spec(name).with_frames(num_frames=num_frames, alpha=alpha)
    if task == "kinetics":
        model: nn.Module = VideoClassifier(spec, num_classes, dropout=dropout)
    else:
        model = VideoDetector(spec, num_classes, dropout=dropout, nl_context=nl_context)
    init_weights(model)
    return model
