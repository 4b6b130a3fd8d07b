"""Where a clip's frames are in time, and how they split into the Slow and Fast pathways.

Conventions (PySlowFast's, with the report's names):

- Frames are sampled on a 30 fps timeline (``TARGET_FPS``), whatever the file's own rate;
  ``decode.decode_frames`` returns the frame on screen at each time.
- ``pathways="slowfast"``: ``num_frames`` = T (Slow frames) and ``sampling_rate`` = tau
  (Slow stride, in 30 fps frames); Fast has ``alpha * T`` frames at stride ``tau / alpha``
  (fractional strides are fine: times are continuous). The clip covers ``T * tau`` frames
  of the timeline. Slow is every ``alpha``-th Fast frame, so its stride is exactly tau.
  (PySlowFast picks Slow with ``linspace(0, alpha*T - 1, T)``, which is off by up to one
  Fast frame; the exact subsampling is what the paper describes.)
- ``pathways="fast"`` (Fast-only models, e.g. Fast 32x2): ``num_frames`` and
  ``sampling_rate`` are that pathway's own frames and stride; ``alpha`` is unused.
- Kinetics training starts a clip uniformly at random within the video; test clip ``i`` of
  ``n`` starts at ``i / n`` of the free span (PySlowFast's ``get_start_end_idx``).
- AVA clips are centred on the keyframe: Fast frame ``alpha * T / 2`` is the keyframe.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["TARGET_FPS", "ClipSpec"]

TARGET_FPS = 30.0


@dataclass(frozen=True)
class ClipSpec:
    num_frames: int
    sampling_rate: float
    alpha: int
    pathways: str = "slowfast"
    target_fps: float = TARGET_FPS

    def __post_init__(self) -> None:
        if self.pathways not in ("slowfast", "fast"):
            raise ValueError(f"pathways must be 'slowfast' or 'fast', got {self.pathways!r}")
        if self.num_frames < 1 or self.sampling_rate <= 0 or self.alpha < 1:
            raise ValueError(f"invalid clip: {self}")

    @property
    def decoded_frames(self) -> int:
        """Frames decoded per clip: the Fast pathway's."""
        return self.num_frames * (self.alpha if self.pathways == "slowfast" else 1)

    @property
    def step_s(self) -> float:
        stride = self.sampling_rate / (self.alpha if self.pathways == "slowfast" else 1)
        return stride / self.target_fps

    @property
    def window_s(self) -> float:
        return self.decoded_frames * self.step_s

    def times(self, start_s: float) -> np.ndarray:
        return start_s + self.step_s * np.arange(self.decoded_frames)

    def centred_times(self, centre_s: float) -> np.ndarray:
        return self.times(centre_s - self.window_s / 2)

    def kinetics_start(self, duration_s: float, clip_index: int, num_clips: int,
                       rng: np.random.Generator | None) -> float:
        """Random start when ``rng`` is given (training), else test clip ``clip_index``."""
        free = max(duration_s - self.window_s, 0.0)
        if rng is not None:
            return float(rng.uniform(0.0, free))
        return free * clip_index / num_clips

    def split(self, frames: torch.Tensor) -> list[torch.Tensor]:
        """(C, T_fast, H, W) -> ``[slow, fast]`` or ``[fast]``."""
        if self.pathways == "fast":
            return [frames]
        return [frames[:, :: self.alpha].contiguous(), frames]
