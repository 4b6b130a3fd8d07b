"""The SlowFast (or Fast-only) backbone built from a `VariantSpec`.

Module names, which the converters and the fidelity tests rely on:
    stem.{p}                      conv1 + pool1 of pathway p (0 = Slow, 1 = Fast; Fast-only: 0)
    lateral.{pool1,res2,res3,res4}  Fast -> Slow fusion after that stage
    res{2..5}.{p}.blocks.{i}      bottleneck i of pathway p
    res{2..5}.{p}.nonlocal_blocks.{i}  non-local block after bottleneck i
"""

from __future__ import annotations

import torch
from torch import nn

from model.nets.blocks import Bottleneck, LateralFusion, NonLocal, PathwayStage, Stem
from model.nets.errors import InputShapeError
from model.nets.spec import STAGE_NAMES, StageSpec, VariantSpec

__all__ = ["SlowFastBackbone"]

LATERAL_POINTS = ("pool1", "res2", "res3", "res4")


class SlowFastBackbone(nn.Module):
    """Pathways of Table 1 with lateral connections; returns the res5 map of each pathway.

    `detection=True` gives res5 spatial stride 1 and dilation 2 (the AVA detector's backbone,
    output stride 16 instead of 32). The network is fully convolutional: any T (with the Fast
    pathway at exactly alpha*T frames), any H x W.
    """

    def __init__(self, spec: VariantSpec, *, detection: bool = False) -> None:
        super().__init__()
        self.spec = spec
        self.detection = detection
        two_way = spec.pathways == "slowfast"
        self.stem = nn.ModuleList(Stem(p.conv1_channels, p.conv1_temporal_kernel) for p in spec.table)
        fast = spec.fast
        lateral_out = [spec.lateral_channel_ratio * fast.conv1_channels] + [
            spec.lateral_channel_ratio * s.out_channels for s in fast.stages[:3]]
        if two_way:
            self.lateral = nn.ModuleDict({
                point: LateralFusion(channels // spec.lateral_channel_ratio, channels,
                                     kernel=spec.lateral_kernel, alpha=spec.alpha)
                for point, channels in zip(LATERAL_POINTS, lateral_out)})
        else:
            self.lateral = nn.ModuleDict()
        for stage_index, stage_name in enumerate(STAGE_NAMES):
            pathways = []
            for p, pathway in enumerate(spec.table):
                in_channels = (pathway.conv1_channels if stage_index == 0
                               else pathway.stages[stage_index - 1].out_channels)
                if two_way and p == 0:  # Slow receives the concatenated lateral features
                    in_channels += lateral_out[stage_index]
                pathways.append(self._stage(pathway.stages[stage_index], in_channels,
                                            dilated=detection and stage_name == "res5"))
            self.add_module(stage_name, nn.ModuleList(pathways))

    def _stage(self, stage: StageSpec, in_channels: int, *, dilated: bool) -> PathwayStage:
        """One cell of Table 1 as modules; `dilated`: spatial stride 1, dilation 2 (AVA res5)."""
        stride, dilation = (1, 2) if dilated else (stage.spatial_stride, stage.dilation)
        blocks = [
            Bottleneck(in_channels if i == 0 else stage.out_channels, stage.inner_channels,
                       stage.out_channels, temporal_kernel=stage.block_temporal_kernel(i),
                       spatial_stride=stride if i == 0 else 1, dilation=dilation)
            for i in range(stage.blocks)]
        if any(not 0 <= i < stage.blocks for i in stage.nonlocal_after):
            raise ValueError(f"{stage.name}: non-local blocks after {stage.nonlocal_after}, "
                             f"but the stage has {stage.blocks} blocks")
        nonlocal_blocks = {
            i: NonLocal(stage.out_channels, pool=self.spec.nonlocal_pool,
                        instantiation=self.spec.nonlocal_instantiation)
            for i in stage.nonlocal_after}
        return PathwayStage(blocks, nonlocal_blocks)

    @property
    def out_channels(self) -> list[int]:
        return [p.out_channels for p in self.spec.table]

    def check_inputs(self, inputs: list[torch.Tensor]) -> None:
        """Raise `InputShapeError` naming the expectation when the clips do not fit."""
        spec = self.spec
        names = [p.name for p in spec.table]
        if not isinstance(inputs, (list, tuple)) or len(inputs) != len(names):
            got = f"{len(inputs)} tensors" if isinstance(inputs, (list, tuple)) else type(inputs).__name__
            raise InputShapeError(
                f"{spec.name} expects a list of {len(names)} clip tensors ({' + '.join(names)}), got {got}")
        for name, clip in zip(names, inputs):
            if not isinstance(clip, torch.Tensor) or clip.dim() != 5:
                shape = tuple(clip.shape) if isinstance(clip, torch.Tensor) else type(clip).__name__
                raise InputShapeError(f"{name} pathway expects a (B, 3, T, H, W) tensor, got {shape}")
            if clip.shape[1] != 3:
                raise InputShapeError(
                    f"{name} pathway expects 3 (RGB) channels in dim 1 of (B, 3, T, H, W), "
                    f"got {clip.shape[1]} in shape {tuple(clip.shape)}")
            if min(clip.shape[2:]) < 1 or min(clip.shape[3:]) < 8:
                raise InputShapeError(
                    f"{name} pathway expects T >= 1 and H, W >= 8, got shape {tuple(clip.shape)}")
        if len(inputs) == 2:
            slow, fast = inputs
            if slow.shape[0] != fast.shape[0] or slow.shape[3:] != fast.shape[3:]:
                raise InputShapeError(
                    f"Slow and Fast clips must share batch size and H x W, got "
                    f"{tuple(slow.shape)} and {tuple(fast.shape)}")
            expected = spec.alpha * slow.shape[2]
            if fast.shape[2] != expected:
                raise InputShapeError(
                    f"Fast pathway expects alpha*T = {spec.alpha}*{slow.shape[2]} = {expected} frames "
                    f"for a Slow clip of T={slow.shape[2]}, got {fast.shape[2]} "
                    f"(its frame count must be divisible by alpha={spec.alpha})")

    def forward(self, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        self.check_inputs(inputs)
        x = [stem(clip) for stem, clip in zip(self.stem, inputs)]
        for stage_name, lateral_point in zip(STAGE_NAMES, LATERAL_POINTS):
            if self.lateral:  # fuse the Fast features of the previous stage into Slow
                x[0] = self.lateral[lateral_point](x[0], x[1])
            x = [pathway(features) for pathway, features in zip(getattr(self, stage_name), x)]
        return x
