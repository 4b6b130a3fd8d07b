"""Clip decoding speed: ours (model.data.decode) against PySlowFast's PyAV path, same files.

Generates 340p H.264 videos with ``model.data.synthetic`` (Kinetics-like 10 s clips and
AVA-like movies, 30 fps, a keyframe every 60 frames), then times, on the same files, the
same clip specification (SlowFast 8x8: the Fast pathway's 32 frames at stride 2 of a 30 fps
timeline, i.e. a 64-frame window):

* Kinetics train sampling: a random window per video, decoded to uint8 frames.
  - ours: ``probe_video`` + ``decode_frames`` at the 32 clip times (what KineticsDataset does);
  - PySlowFast: ``get_video_container`` + ``decoder.decode(container, 2, 32, clip_idx=-1,
    num_clips=10, target_fps=30)`` (its Kinetics loader's PyAV path).
* AVA keyframe clips: the window centred on a keyframe.
  - ours: ``decode_frames`` at the centred times;
  - PySlowFast: its AVA loader reads pre-extracted JPEGs, so the peer is its PyAV path
    applied to the same window: ``pyav_decode_stream`` between the window's start and end
    pts, ``to_rgb().to_ndarray()`` of every frame, then ``temporal_sampling`` to 32 frames.

Each side runs in its own process, one after the other, on the same clip list; PySlowFast
runs in a separate virtualenv (never part of this project) given by ``--peer-python``, its
``slowfast/datasets/decoder.py`` loaded by path (the package ``__init__`` imports cv2).
Decoding threads: each side is timed single-threaded and with FFmpeg's automatic threading.

Usage::

    python3 -m venv /tmp/peer_decode
    /tmp/peer_decode/bin/pip install torch==2.14.1 av==18.1.0 numpy==2.4.6
    /tmp/peer_decode/bin/pip install --no-deps slowfast==1.0
    .venv/bin/python bench/decode.py --peer-python /tmp/peer_decode/bin/python
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import platform
import random
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
NUM_FRAMES, SAMPLING_RATE, TARGET_FPS = 32, 2, 30  # the Fast pathway of SlowFast 8x8


def _clip_plan(root: Path, clips: int, seed: int) -> dict:
    """The same work list for both sides: Kinetics videos and AVA (movie, second) pairs."""
    rng = np.random.default_rng(seed)
    kinetics = sorted(str(p) for p in (root / "kinetics" / "videos" / "train").rglob("*.mp4"))
    movies = sorted(str(p) for p in (root / "ava" / "videos").glob("*.mp4"))
    return {
        "kinetics": [kinetics[i % len(kinetics)] for i in range(clips)],
        "ava": [(movies[int(rng.integers(len(movies)))], int(rng.integers(2, 29)))
                for _ in range(clips)],
    }


def run_ours(plan: dict, threads: int) -> dict:
    sys.path.insert(0, str(REPO))
    from model.data.clip_sampling import ClipSpec
    from model.data.decode import decode_frames, probe_video

    clip = ClipSpec(NUM_FRAMES, SAMPLING_RATE, 1, pathways="fast")
    rng = np.random.default_rng(0)
    results = {}
    began = time.perf_counter()
    for path in plan["kinetics"]:
        duration = probe_video(path).duration_s
        frames = decode_frames(path, clip.times(clip.kinetics_start(duration, 0, 1, rng)),
                               threads=threads)
        assert frames.shape[0] == NUM_FRAMES
    results["kinetics"] = len(plan["kinetics"]) / (time.perf_counter() - began)
    began = time.perf_counter()
    for path, second in plan["ava"]:
        frames = decode_frames(path, clip.centred_times(second), threads=threads)
        assert frames.shape[0] == NUM_FRAMES
    results["ava"] = len(plan["ava"]) / (time.perf_counter() - began)
    return results


def run_peer(plan: dict, threads: int, decoder_path: str) -> dict:
    import av
    import torch

    spec = importlib.util.spec_from_file_location("pyslowfast_decoder", decoder_path)
    decoder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(decoder)
    random.seed(0)

    def container_of(path):
        container = av.open(path)
        if threads != 1:
            container.streams.video[0].thread_type = "AUTO"
        return container

    results = {}
    began = time.perf_counter()
    for path in plan["kinetics"]:
        frames = decoder.decode(container_of(path), SAMPLING_RATE, NUM_FRAMES, -1, 10,
                                target_fps=TARGET_FPS)
        assert frames.shape[0] == NUM_FRAMES
    results["kinetics"] = len(plan["kinetics"]) / (time.perf_counter() - began)
    began = time.perf_counter()
    for path, second in plan["ava"]:
        container = container_of(path)
        stream = container.streams.video[0]
        fps = float(stream.average_rate)
        timebase = stream.duration / stream.frames
        window = NUM_FRAMES * SAMPLING_RATE  # frames, centred on the keyframe
        start_idx = second * fps - window / 2
        end_idx = start_idx + window - 1
        frames, _ = decoder.pyav_decode_stream(container, int(max(start_idx, 0) * timebase),
                                               int(end_idx * timebase), stream, {"video": 0})
        container.close()
        clip = torch.as_tensor(np.stack([f.to_rgb().to_ndarray() for f in frames]))
        clip = decoder.temporal_sampling(clip, 0, clip.shape[0] - 1, NUM_FRAMES)
        assert clip.shape[0] == NUM_FRAMES
    results["ava"] = len(plan["ava"]) / (time.perf_counter() - began)
    return results


def _generate(root: Path, seed: int) -> None:
    sys.path.insert(0, str(REPO))
    from model.data.synthetic import generate_ava, generate_kinetics

    if not (root / "kinetics" / "annotations" / "classes.txt").is_file():
        generate_kinetics(root / "kinetics", seed=seed, num_classes=4, videos_per_class=3,
                          eval_videos_per_class=1, size="bench", duration_s=10, gop=60)
    if not (root / "ava" / "annotations" / "ava_val_v2.2.csv").is_file():
        generate_ava(root / "ava", seed=seed, movies=(2, 1, 1), size="bench", duration_s=31,
                     gop=60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer-python", default="/tmp/peer_decode/bin/python")
    parser.add_argument("--workdir", default="/tmp/decode_bench")
    parser.add_argument("--clips", type=int, default=120)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--worker", choices=["ours", "peer"], help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--decoder-path", help=argparse.SUPPRESS)
    args = parser.parse_args()
    root = Path(args.workdir)
    if args.worker:
        plan = json.loads((root / "plan.json").read_text())
        result = (run_ours(plan, args.threads) if args.worker == "ours"
                  else run_peer(plan, args.threads, args.decoder_path))
        print(json.dumps(result))
        return 0
    _generate(root, args.seed)
    (root / "plan.json").write_text(json.dumps(_clip_plan(root, args.clips, args.seed)))
    decoder_path = subprocess.run(
        [args.peer_python, "-c", "import importlib.util as u; "
         "print(u.find_spec('slowfast').submodule_search_locations[0])"],
        check=True, capture_output=True, text=True).stdout.strip() + "/datasets/decoder.py"
    rows = []
    for threads in (1, 0):
        for side, python in (("ours", sys.executable), ("PySlowFast", args.peer_python)):
            command = [python, __file__, "--workdir", str(root), "--threads", str(threads),
                       "--worker", "ours" if side == "ours" else "peer",
                       "--decoder-path", decoder_path]
            result = json.loads(subprocess.run(command, check=True, capture_output=True,
                                               text=True).stdout.strip().splitlines()[-1])
            rows.append({"side": side, "threads": "1" if threads == 1 else "auto", **result})
    print(json.dumps({"machine": platform.platform(), "cpus": __import__("os").cpu_count(),
                      "clips": args.clips, "rows": rows}, indent=1))
    print("\n| decoder | FFmpeg threads | Kinetics train clips/s | AVA keyframe clips/s |")
    print("|---|---|---|---|")
    for row in rows:
        print(f"| {row['side']} | {row['threads']} | {row['kinetics']:.1f} | {row['ava']:.1f} |")
    for threads in ("1", "auto"):
        ours = next(r for r in rows if r["side"] == "ours" and r["threads"] == threads)
        peer = next(r for r in rows if r["side"] == "PySlowFast" and r["threads"] == threads)
        print(f"speed-up, threads={threads}: Kinetics {ours['kinetics'] / peer['kinetics']:.2f}x,"
              f" AVA {ours['ava'] / peer['ava']:.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
