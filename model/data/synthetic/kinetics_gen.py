"""A generated Kinetics-format dataset whose classes differ only by motion.

Each clip shows one shape (random kind, colour, size and start position, over a random static
background with a static distractor shape) moving by its class's motion pattern for the whole
clip. Appearance is independent of the class, so a network has to look at how things move
over time: exactly what the Slow/Fast pathways are for. Classes are ordered so that a
"600"-like set is a prefix of the "700"-like set (pretrain on the first, fine-tune on the
superset, as the programme does with Kinetics-600 -> 700).

Layout written (the official Kinetics conventions):

    DIR/annotations/{train,validate,test}.csv   label,youtube_id,time_start,time_end,split
    DIR/annotations/classes.txt                 one class name per line; index = class id
    DIR/videos/<split>/<label>/<youtube_id>_<time_start:06d>_<time_end:06d>.mp4

Each video is the trimmed clip (``time_end - time_start`` seconds), as the Kinetics
downloaders save it.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from model.data.atomic import write_text_atomic
from model.data.synthetic.mp4 import write_mp4
from model.data.synthetic.render import (
    paint_diamond, paint_disk, paint_rect, random_color, textured_background,
)

__all__ = ["KINETICS_MOTIONS", "FRAME_SIZES", "CLASSES_BY_VERSION", "generate_kinetics"]

#: (width, height) per ``--size``; "bench" is the 340p short side of the Kinetics release.
FRAME_SIZES: dict[str, tuple[int, int]] = {
    "small": (80, 60),
    "medium": (160, 120),
    "bench": (454, 340),
}

#: Default number of classes for the "600"-like and "700"-like sets (a prefix / superset).
CLASSES_BY_VERSION: dict[str, int] = {"400": 4, "600": 6, "700": 8}

SPLIT_FILES = {"train": "train", "val": "validate", "test": "test"}


@dataclass(frozen=True)
class _Scene:
    width: int
    height: int
    duration_s: float
    radius: float
    rng: np.random.Generator


# A trajectory maps (scene, t in seconds) -> (cx, cy, radius); built once per video.
Trajectory = Callable[[float], tuple[float, float, float]]


def _linear(scene: _Scene, dx: int, dy: int) -> Trajectory:
    rng, r, w, h, d = scene.rng, scene.radius, scene.width, scene.height, scene.duration_s
    span_x, span_y = w - 2 * r, h - 2 * r
    vx = dx * rng.uniform(0.5, 0.9) * span_x / d
    vy = dy * rng.uniform(0.5, 0.9) * span_y / d
    x0 = rng.uniform(r + max(-vx * d, 0), w - r - max(vx * d, 0))
    y0 = rng.uniform(r + max(-vy * d, 0), h - r - max(vy * d, 0))
    return lambda t: (x0 + vx * t, y0 + vy * t, r)


def _circle(scene: _Scene, direction: int) -> Trajectory:
    rng, r, w, h = scene.rng, scene.radius, scene.width, scene.height
    orbit = rng.uniform(0.18, 0.28) * min(w, h)
    cx = rng.uniform(orbit + r, w - orbit - r)
    cy = rng.uniform(orbit + r, h - orbit - r)
    period = rng.uniform(1.2, 2.0)
    phase = rng.uniform(0, 2 * math.pi)
    # Image y points down, so increasing angle turns clockwise on screen.
    return lambda t: (cx + orbit * math.cos(phase + direction * 2 * math.pi * t / period),
                      cy + orbit * math.sin(phase + direction * 2 * math.pi * t / period), r)


def _scale(scene: _Scene, growing: bool) -> Trajectory:
    rng, r, w, h, d = scene.rng, scene.radius, scene.width, scene.height, scene.duration_s
    big = 1.8 * r
    cx, cy = rng.uniform(big, w - big), rng.uniform(big, h - big)
    lo, hi = 0.6 * r, big
    if growing:
        return lambda t: (cx, cy, lo + (hi - lo) * t / d)
    return lambda t: (cx, cy, hi - (hi - lo) * t / d)


def _still(scene: _Scene) -> Trajectory:
    rng, r, w, h = scene.rng, scene.radius, scene.width, scene.height
    cx, cy = rng.uniform(r, w - r), rng.uniform(r, h - r)
    return lambda t: (cx, cy, r)


def _swing(scene: _Scene, horizontal: bool) -> Trajectory:
    rng, r, w, h = scene.rng, scene.radius, scene.width, scene.height
    amplitude = rng.uniform(0.15, 0.25) * (w if horizontal else h)
    cx = rng.uniform(r + amplitude, w - r - amplitude) if horizontal else rng.uniform(r, w - r)
    cy = rng.uniform(r, h - r) if horizontal else rng.uniform(r + amplitude, h - r - amplitude)
    period = rng.uniform(0.8, 1.4)
    phase = rng.uniform(0, 2 * math.pi)
    wave = lambda t: amplitude * math.sin(phase + 2 * math.pi * t / period)  # noqa: E731
    if horizontal:
        return lambda t: (cx + wave(t), cy, r)
    return lambda t: (cx, cy + wave(t), r)


#: Class name -> trajectory builder, in the order classes are taken for a given class count.
KINETICS_MOTIONS: dict[str, Callable[[_Scene], Trajectory]] = {
    "sliding left": lambda s: _linear(s, -1, 0),
    "sliding right": lambda s: _linear(s, 1, 0),
    "rising": lambda s: _linear(s, 0, -1),
    "falling": lambda s: _linear(s, 0, 1),
    "circling clockwise": lambda s: _circle(s, 1),
    "circling anticlockwise": lambda s: _circle(s, -1),
    "growing": lambda s: _scale(s, True),
    "shrinking": lambda s: _scale(s, False),
    "standing still": _still,
    "swinging sideways": lambda s: _swing(s, True),
    "bobbing up and down": lambda s: _swing(s, False),
    "drifting diagonally": lambda s: _linear(s, 1, 1),
}

_PAINTERS = (
    paint_disk,
    paint_diamond,
    lambda f, cx, cy, r, c: paint_rect(f, cx - r, cy - r, cx + r, cy + r, c),
)


def _render_clip(rng: np.random.Generator, motion: str, width: int, height: int,
                 duration_s: float, fps: int) -> list[np.ndarray]:
    scale = min(width, height) / 60.0
    scene = _Scene(width, height, duration_s, rng.uniform(4.0, 7.0) * scale, rng)
    trajectory = KINETICS_MOTIONS[motion](scene)
    background = textured_background(rng, height, width)
    distractor = _PAINTERS[rng.integers(len(_PAINTERS))]
    distractor_at = (rng.uniform(0, width), rng.uniform(0, height), scene.radius * 0.8)
    paint = _PAINTERS[rng.integers(len(_PAINTERS))]
    distractor(background, *distractor_at, random_color(rng))
    color = random_color(rng)
    frames = []
    for index in range(int(round(duration_s * fps))):
        frame = background.copy()
        cx, cy, radius = trajectory(index / fps)
        paint(frame, cx, cy, radius, color)
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
    return frames


_ID_ALPHABET = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"))


def _youtube_id(rng: np.random.Generator) -> str:
    return "".join(rng.choice(_ID_ALPHABET, size=11))


def generate_kinetics(
    out_dir: str | Path,
    *,
    seed: int = 0,
    version: str = "600",
    num_classes: int | None = None,
    videos_per_class: int = 12,
    eval_videos_per_class: int | None = None,
    size: str = "small",
    duration_s: int | None = None,
    fps: int = 30,
    gop: int = 60,
) -> Path:
    """Write a Kinetics-format dataset under ``out_dir`` and return ``out_dir``.

    ``num_classes`` defaults to ``CLASSES_BY_VERSION[version]`` (the first classes of
    ``KINETICS_MOTIONS``). ``videos_per_class`` is for train; validate and test get
    ``eval_videos_per_class`` each (default ``max(2, videos_per_class // 3)``). Clips last
    ``duration_s`` seconds (default 3 for "small"/"medium", 10 for "bench"), encoded at
    ``fps`` with a keyframe every ``gop`` frames. Same arguments -> same files.
    """
    out_dir = Path(out_dir)
    num_classes = num_classes or CLASSES_BY_VERSION[version]
    if not 1 <= num_classes <= len(KINETICS_MOTIONS):
        raise ValueError(f"num_classes must be in [1, {len(KINETICS_MOTIONS)}], got {num_classes}")
    width, height = FRAME_SIZES[size]
    duration_s = duration_s or (10 if size == "bench" else 3)
    eval_count = eval_videos_per_class or max(2, videos_per_class // 3)
    classes = list(KINETICS_MOTIONS)[:num_classes]
    rng = np.random.default_rng(seed)
    annotations = out_dir / "annotations"
    for split, split_name in SPLIT_FILES.items():
        count = videos_per_class if split == "train" else eval_count
        rows = io.StringIO()
        writer = csv.writer(rows, lineterminator="\n")
        writer.writerow(["label", "youtube_id", "time_start", "time_end", "split"])
        for label in classes:
            for _ in range(count):
                clip_rng = np.random.default_rng(rng.integers(2**63))
                youtube_id = _youtube_id(clip_rng)
                start = int(clip_rng.integers(0, 300))
                end = start + duration_s
                frames = _render_clip(clip_rng, label, width, height, duration_s, fps)
                video = (out_dir / "videos" / split_name / label
                         / f"{youtube_id}_{start:06d}_{end:06d}.mp4")
                write_mp4(video, frames, fps=fps, gop=gop)
                writer.writerow([label, youtube_id, start, end, split_name])
        write_text_atomic(annotations / f"{split_name}.csv", rows.getvalue())
    write_text_atomic(annotations / "classes.txt", "".join(f"{c}\n" for c in classes))
    return out_dir
