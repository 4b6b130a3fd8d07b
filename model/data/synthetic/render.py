"""Painting soft-edged shapes on small RGB frames.

Shapes are drawn with fractional pixel coverage so that sub-pixel motion (a few pixels per
second on an 80x60 frame) still changes the image every frame: the motion cue the generated
datasets rely on survives H.264 encoding instead of being quantised to whole-pixel jumps.
"""

from __future__ import annotations

import numpy as np

__all__ = ["textured_background", "paint_rect", "paint_disk", "paint_diamond", "random_color"]


def textured_background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A static, low-contrast background of smooth blobs (float32 HxWx3 in [0, 255])."""
    coarse = rng.uniform(60, 120, size=(max(height // 12, 2), max(width // 12, 2), 3))
    rows = np.linspace(0, coarse.shape[0] - 1, height)
    cols = np.linspace(0, coarse.shape[1] - 1, width)
    r0 = np.floor(rows).astype(int)
    c0 = np.floor(cols).astype(int)
    r1 = np.minimum(r0 + 1, coarse.shape[0] - 1)
    c1 = np.minimum(c0 + 1, coarse.shape[1] - 1)
    fr = (rows - r0)[:, None, None]
    fc = (cols - c0)[None, :, None]
    top = coarse[r0][:, c0] * (1 - fc) + coarse[r0][:, c1] * fc
    bottom = coarse[r1][:, c0] * (1 - fc) + coarse[r1][:, c1] * fc
    return (top * (1 - fr) + bottom * fr).astype(np.float32)


def random_color(rng: np.random.Generator) -> np.ndarray:
    """A saturated colour that stands out from the background."""
    color = rng.uniform(0, 80, size=3)
    color[rng.integers(3)] = rng.uniform(200, 255)
    return color.astype(np.float32)


def _blend(frame: np.ndarray, alpha: np.ndarray, color: np.ndarray) -> None:
    frame *= 1.0 - alpha[..., None]
    frame += alpha[..., None] * color


def _coverage_1d(lo: float, hi: float, size: int) -> np.ndarray:
    cells = np.arange(size, dtype=np.float32)
    return np.clip(np.minimum(hi, cells + 1) - np.maximum(lo, cells), 0.0, 1.0)


def paint_rect(frame: np.ndarray, x1: float, y1: float, x2: float, y2: float,
               color: np.ndarray) -> None:
    """Fill the axis-aligned box [x1, x2) x [y1, y2) (pixel units, continuous) in place."""
    height, width = frame.shape[:2]
    alpha = np.outer(_coverage_1d(y1, y2, height), _coverage_1d(x1, x2, width))
    _blend(frame, alpha, color)


def _grid(frame: np.ndarray, cx: float, cy: float) -> tuple[np.ndarray, np.ndarray]:
    height, width = frame.shape[:2]
    ys = np.arange(height, dtype=np.float32)[:, None] + 0.5 - cy
    xs = np.arange(width, dtype=np.float32)[None, :] + 0.5 - cx
    return xs, ys


def paint_disk(frame: np.ndarray, cx: float, cy: float, radius: float,
               color: np.ndarray) -> None:
    xs, ys = _grid(frame, cx, cy)
    alpha = np.clip(radius - np.sqrt(xs * xs + ys * ys) + 0.5, 0.0, 1.0)
    _blend(frame, alpha, color)


def paint_diamond(frame: np.ndarray, cx: float, cy: float, radius: float,
                  color: np.ndarray) -> None:
    xs, ys = _grid(frame, cx, cy)
    alpha = np.clip(radius - (np.abs(xs) + np.abs(ys)) + 0.5, 0.0, 1.0)
    _blend(frame, alpha, color)
