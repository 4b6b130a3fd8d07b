"""Random AVA evaluation cases written in the official file formats.

Each case stresses the evaluator's corner cases: action ids outside the label map, label-map
classes without ground truth or without detections, duplicate rows, keyframes with more than
50 detection rows (the per-keyframe cap), detections on keyframes and on videos without
ground truth, zero-area detection boxes, excluded keyframes written as ``902`` and ``0902``,
and, when ``ties`` is set, scores on a coarse grid so that many are equal.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

NUM_TRAINED = 80
# Names with the characters real AVA names have: spaces, '/', parentheses, commas.
_NAME_PARTS = ("stand", "carry/hold (an object)", "talk to (e.g., self, a person)", "watch (a person)",
               "ride (e.g., a bike, a car, a horse)", "answer phone", "bend/bow (at the waist)")


@dataclass(frozen=True)
class AvaCase:
    labelmap: Path
    groundtruth: Path
    detections: Path
    exclusions: Path | None
    class_ids: tuple[int, ...]


def _box(rng: np.random.Generator) -> np.ndarray:
    x1, y1 = rng.uniform(0.0, 0.7, size=2)
    w, h = rng.uniform(0.05, 0.3, size=2)
    return np.round([x1, y1, min(x1 + w, 1.0), min(y1 + h, 1.0)], 3)


def _jitter(rng: np.random.Generator, box: np.ndarray, scale: float) -> np.ndarray:
    b = np.clip(box + rng.normal(0.0, scale, size=4), 0.0, 1.0)
    x1, x2 = sorted(b[[0, 2]])
    y1, y2 = sorted(b[[1, 3]])
    return np.round([x1, y1, x2, y2], 3)


def _fmt_box(b: np.ndarray) -> str:
    return ",".join(f"{v:.3f}" for v in b)


def make_case(directory: Path, seed: int, *, videos: int, keyframes: int, ties: bool = False,
              num_classes: int = 60, exclusions: bool = True) -> AvaCase:
    """Write one case under ``directory``; sizes: ``videos`` x ``keyframes`` keyframes."""
    rng = np.random.default_rng(seed)
    class_ids = tuple(sorted(rng.choice(np.arange(1, NUM_TRAINED + 1), size=num_classes, replace=False).tolist()))
    with_gt = [c for c in class_ids if rng.random() > 0.1]          # ~10% classes: no ground truth
    detected = set(rng.choice(class_ids, size=max(1, int(0.9 * len(class_ids))), replace=False).tolist())
    labelmap = directory / "labelmap.pbtxt"
    labelmap.write_text("".join(
        f'item {{\n  name: "{_NAME_PARTS[i % len(_NAME_PARTS)]} #{c}"\n  id: {c}\n}}\n'
        for i, c in enumerate(class_ids)))

    gt_rows: list[str] = []
    det_rows: list[str] = []
    next_score = iter(rng.permutation(10 ** 7)[:10 ** 6] / 10 ** 7 + 1e-8)  # distinct when not tied

    def score(positive: bool = False) -> float:
        """Higher for a proposal on a person doing that action, so APs are far from 0."""
        u = float(rng.integers(0, 20)) / 20 if ties else float(next(next_score))
        return round(0.5 + 0.5 * u, 2) if ties and positive else (0.5 + 0.5 * u if positive else 0.7 * u)

    video_ids = [f"v{seed:03d}_{i:02d}-x" for i in range(videos)]
    for vid in video_ids:
        for t in range(902, 902 + keyframes):
            persons = [_box(rng) for _ in range(int(rng.integers(0 if t > 902 else 1, 4)))]
            person_actions: list[set[int]] = []
            for p, box in enumerate(persons):
                actions = rng.choice(with_gt, size=int(rng.integers(1, 4)), replace=False).tolist()
                person_actions.append(set(actions))
                if rng.random() < 0.2:
                    actions.append(int(rng.integers(1, NUM_TRAINED + 1)))  # maybe outside the map
                for a in actions:
                    gt_rows.append(f"{vid},{t:04d},{_fmt_box(box)},{a},{p}")
                    if rng.random() < 0.02:
                        gt_rows.append(gt_rows[-1])  # duplicate ground-truth row
            proposals = [_jitter(rng, b, 0.03) for b in persons]
            proposals += [_box(rng) for _ in range(int(rng.integers(0, 3)))]
            if rng.random() < 0.05 and proposals:
                b = proposals[0].copy()
                b[2] = b[0]  # zero width: the official evaluator drops it
                proposals.append(b)
            for i, b in enumerate(proposals):
                truth = person_actions[i] if i < len(persons) else set()
                scored = range(1, NUM_TRAINED + 1) if rng.random() < 0.5 else \
                    rng.choice(np.arange(1, NUM_TRAINED + 1), size=int(rng.integers(1, 12)), replace=False)
                for a in scored:
                    if int(a) in class_ids and int(a) not in detected:
                        continue
                    det_rows.append(f"{vid},{t},{_fmt_box(b)},{int(a)},{score(int(a) in truth)!r}")
                    if rng.random() < 0.01:
                        det_rows.append(det_rows[-1])  # duplicate detection row
    for t in range(2):  # a video the ground truth does not know
        for a in class_ids[:5]:
            det_rows.append(f"unknown_video,{902 + t},{_fmt_box(_box(rng))},{a},{score()!r}")
    order = rng.permutation(len(det_rows))  # detection files need not be grouped by keyframe
    if rng.random() < 0.5:
        order = np.arange(len(det_rows))
    groundtruth = directory / "groundtruth.csv"
    groundtruth.write_text("\n".join(gt_rows) + "\n" if gt_rows else "")
    detections = directory / "detections.csv"
    detections.write_text("\n".join(det_rows[i] for i in order) + "\n")

    exclusions_path = None
    if exclusions:
        exclusions_path = directory / "excluded.csv"
        picks = rng.integers(0, keyframes, size=max(1, keyframes // 10))
        lines = [f"{video_ids[int(rng.integers(0, videos))]},{902 + int(k):04d}" if i % 2 else
                 f"{video_ids[int(rng.integers(0, videos))]},{902 + int(k)}" for i, k in enumerate(picks)]
        exclusions_path.write_text("\n".join(lines) + "\n")
    return AvaCase(labelmap, groundtruth, detections, exclusions_path, class_ids)
