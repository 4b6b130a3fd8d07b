"""A generated Kinetics-format dataset whose classes differ only by motion.

Each clip shows two or three shapes (random kinds, colours, size and start positions, over a
random static background with a static distractor shape) moving by the class's motion pattern
for the whole clip. Every class survives a horizontal flip (training flips clips), so "sliding sideways"
goes left or right and "circling" turns either way. Appearance is independent of the class, so a network has to look at how things move
over time: exactly what the Slow/Fast pathways are for. Classes are ordered so that a
"600"-like set is a prefix of the "700"-like set (pretrain on the first, fine-tune on the
superset, as the programme does with Kinetics-600 -> 700).

Layout written (the official Kinetics conventions):

    DIR/annotations/{train,validate}.csv   label,youtube_id,time_start,time_end,split
    DIR/annotations/test.csv               youtube_id,time_start,time_end,split (no label, as
                                           the Kinetics-700 test list)
    DIR/annotations/classes.txt            one class name per line; index = class id
    DIR/videos/{train,validate}/<label>/<youtube_id>_<time_start:06d>_<time_end:06d>.mp4
    DIR/videos/test/<youtube_id>_<time_start:06d>_<time_end:06d>.mp4
    DIR/held_out/test.csv                  the test labels (train.csv's format), kept out of
                                           annotations/ and videos/ as the test server keeps
                                           them: no job reads them; a submission can be scored
                                           against them (``HELD_OUT_TEST_LABELS``)

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

from contract.files import atomic_write_text
from model.data.kinetics_annotations import HELD_OUT_TEST_LABELS
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
_CSV_HEADER = ["label", "youtube_id", "time_start", "time_end", "split"]


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    atomic_write_text(path, text.getvalue())


@dataclass(frozen=True)
class _Scene:
    width: int
    height: int
    duration_s: float
    radius: float
    rng: np.random.Generator


# A trajectory maps (scene, t in seconds) -> (cx, cy, radius); built once per video.
Trajectory = Callable[[float], tuple[float, float, float]]


def _margin(scene: _Scene) -> tuple[float, float]:
    # Keep motion in the central part of the frame, so a random training crop (which can drop
    # a third of the frame) rarely loses the moving shape.
    return 0.12 * scene.width + scene.radius, 0.12 * scene.height + scene.radius


def _linear(scene: _Scene, dx: int, dy: int) -> Trajectory:
    rng, w, h, d = scene.rng, scene.width, scene.height, scene.duration_s
    mx, my = _margin(scene)
    if dx == 2:  # either way: the class must survive a horizontal flip
        dx = int(rng.choice([-1, 1]))
    vx = dx * rng.uniform(0.6, 0.9) * (w - 2 * mx) / d
    vy = dy * rng.uniform(0.6, 0.9) * (h - 2 * my) / d
    x0 = rng.uniform(mx + max(-vx * d, 0), w - mx - max(vx * d, 0))
    y0 = rng.uniform(my + max(-vy * d, 0), h - my - max(vy * d, 0))
    return lambda t: (x0 + vx * t, y0 + vy * t, scene.radius)


def _circle(scene: _Scene) -> Trajectory:
    rng, r, w, h = scene.rng, scene.radius, scene.width, scene.height
    mx, my = _margin(scene)
    orbit = rng.uniform(0.15, 0.22) * min(w, h)
    cx = rng.uniform(mx + orbit, w - mx - orbit) if w - 2 * (mx + orbit) > 0 else w / 2
    cy = rng.uniform(my + orbit, h - my - orbit) if h - 2 * (my + orbit) > 0 else h / 2
    period = rng.uniform(1.2, 2.0)
    phase = rng.uniform(0, 2 * math.pi)
    turn = float(rng.choice([-1.0, 1.0]))  # either way round: flip-invariant
    return lambda t: (cx + orbit * math.cos(phase + turn * 2 * math.pi * t / period),
                      cy + orbit * math.sin(phase + turn * 2 * math.pi * t / period), r)


def _scale(scene: _Scene, growing: bool) -> Trajectory:
    rng, r, w, h, d = scene.rng, scene.radius, scene.width, scene.height, scene.duration_s
    mx, my = _margin(scene)
    cx, cy = rng.uniform(mx, w - mx), rng.uniform(my, h - my)
    lo, hi = 0.5 * r, 1.6 * r
    if growing:
        return lambda t: (cx, cy, lo + (hi - lo) * t / d)
    return lambda t: (cx, cy, hi - (hi - lo) * t / d)


def _still(scene: _Scene) -> Trajectory:
    mx, my = _margin(scene)
    cx = scene.rng.uniform(mx, scene.width - mx)
    cy = scene.rng.uniform(my, scene.height - my)
    return lambda t: (cx, cy, scene.radius)


def _swing(scene: _Scene, horizontal: bool) -> Trajectory:
    rng, r, w, h = scene.rng, scene.radius, scene.width, scene.height
    mx, my = _margin(scene)
    amplitude = rng.uniform(0.12, 0.18) * (w if horizontal else h)
    cx = w / 2 + rng.uniform(-1, 1) * max(w / 2 - mx - (amplitude if horizontal else 0), 0)
    cy = h / 2 + rng.uniform(-1, 1) * max(h / 2 - my - (0 if horizontal else amplitude), 0)
    period = rng.uniform(0.8, 1.4)
    phase = rng.uniform(0, 2 * math.pi)
    wave = lambda t: amplitude * math.sin(phase + 2 * math.pi * t / period)  # noqa: E731
    if horizontal:
        return lambda t: (cx + wave(t), cy, r)
    return lambda t: (cx, cy + wave(t), r)


#: Class name -> trajectory builder, in the order classes are taken for a given class count.
#: Every class is invariant to a horizontal flip (sideways motions go either way, circles
#: either way round), because training flips clips as Kinetics training does.
KINETICS_MOTIONS: dict[str, Callable[[_Scene], Trajectory]] = {
    "rising": lambda s: _linear(s, 0, -1),
    "falling": lambda s: _linear(s, 0, 1),
    "sliding sideways": lambda s: _linear(s, 2, 0),
    "circling": _circle,
    "growing": lambda s: _scale(s, True),
    "shrinking": lambda s: _scale(s, False),
    "standing still": _still,
    "bobbing up and down": lambda s: _swing(s, False),
    "swinging sideways": lambda s: _swing(s, True),
    "sinking diagonally": lambda s: _linear(s, 2, 1),
    "climbing diagonally": lambda s: _linear(s, 2, -1),
}

_PAINTERS = (
    paint_disk,
    paint_diamond,
    lambda f, cx, cy, r, c: paint_rect(f, cx - r, cy - r, cx + r, cy + r, c),
)


def _render_clip(rng: np.random.Generator, motion: str, width: int, height: int,
                 duration_s: float, fps: int) -> list[np.ndarray]:
    scale = min(width, height) / 60.0
    scene = _Scene(width, height, duration_s, rng.uniform(5.0, 7.5) * scale, rng)
    # Two or three shapes move by the class's pattern (each from its own start): the motion
    # then covers enough of the frame to survive the global average pooling of the heads.
    movers = [(KINETICS_MOTIONS[motion](scene), _PAINTERS[rng.integers(len(_PAINTERS))],
               random_color(rng)) for _ in range(int(rng.integers(2, 4)))]
    # The background follows the first shape's motion too (as a camera that tracks it, seen
    # as the scene sliding), so the class's motion covers the whole frame.
    pad = int(0.3 * max(width, height))
    backdrop = textured_background(rng, height + 2 * pad, width + 2 * pad)
    distractor = _PAINTERS[rng.integers(len(_PAINTERS))]
    distractor(backdrop, pad + rng.uniform(0, width), pad + rng.uniform(0, height),
               scene.radius * 0.7, random_color(rng))
    x0, y0, _ = movers[0][0](0.0)
    frames = []
    for index in range(int(round(duration_s * fps))):
        t = index / fps
        lead_x, lead_y, _ = movers[0][0](t)
        ox = int(np.clip(round(lead_x - x0), -pad, pad))
        oy = int(np.clip(round(lead_y - y0), -pad, pad))
        frame = backdrop[pad - oy: pad - oy + height, pad - ox: pad - ox + width].copy()
        for trajectory, paint, color in movers:
            cx, cy, radius = trajectory(t)
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
        hidden = split == "test"  # labels only in held_out/, as the test server keeps them
        clips: list[list] = []  # label, youtube_id, time_start, time_end, split
        for label in classes:
            for _ in range(count):
                clip_rng = np.random.default_rng(rng.integers(2**63))
                youtube_id = _youtube_id(clip_rng)
                start = int(clip_rng.integers(0, 300))
                end = start + duration_s
                frames = _render_clip(clip_rng, label, width, height, duration_s, fps)
                folder = out_dir / "videos" / split_name
                video = (folder if hidden else folder / label) / f"{youtube_id}_{start:06d}_{end:06d}.mp4"
                write_mp4(video, frames, fps=fps, gop=gop)
                clips.append([label, youtube_id, start, end, split_name])
        if hidden:
            # The test list without labels and in id order (rows grouped by class would give
            # the labels away); the labels kept aside.
            _write_csv(annotations / f"{split_name}.csv", _CSV_HEADER[1:], sorted(row[1:] for row in clips))
            _write_csv(out_dir / HELD_OUT_TEST_LABELS, _CSV_HEADER, clips)
        else:
            _write_csv(annotations / f"{split_name}.csv", _CSV_HEADER, clips)
    atomic_write_text(annotations / "classes.txt", "".join(f"{c}\n" for c in classes))
    return out_dir
