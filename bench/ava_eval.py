"""AVA frame-mAP speed and memory: our evaluator against the official one, same files, same run.

Generates an AVA-val-scale case (default 64 movies x 900 keyframes, 1-3 persons per keyframe,
every proposal scored on all 60 label-map classes: a few million detection rows), then runs
each evaluator in its own fresh Python process (so peak RSS is its own) on the same files:

* ours: ``model.eval.ava.frame_map``;
* official: ActivityNet ``get_ava_performance.py`` at 3fee089 over the Google object-detection
  evaluator, from the ``pyslowfast`` test dependency (tests/model/eval/official_ava_driver.py).

Usage::

    .venv/bin/python bench/ava_eval.py [--movies 64] [--keyframes 900] [--workdir /tmp/ava_bench]
    .venv/bin/python bench/ava_eval.py --profile [--workdir /tmp/ava_bench]   # ours only, by phase

Prints a JSON summary and a Markdown table for bench/RESULTS.md. Wall time and peak RSS are
measured inside each child around reading + evaluating (imports excluded from the time,
included in the RSS); CPU seconds (user + system, all threads) are reported too, as they
depend less on other jobs sharing the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
NUM_CLASSES = 60
NUM_TRAINED = 80


def write_case(workdir: Path, movies: int, keyframes: int, seed: int = 0) -> dict[str, object]:
    """Write labelmap, ground truth, detections and exclusions; return sizes."""
    rng = np.random.default_rng(seed)
    workdir.mkdir(parents=True, exist_ok=True)
    class_ids = np.sort(rng.choice(np.arange(1, NUM_TRAINED + 1), NUM_CLASSES, replace=False))
    (workdir / "labelmap.pbtxt").write_text("".join(
        f'item {{\n  name: "action {c} (e.g., a/b)"\n  id: {c}\n}}\n' for c in class_ids))
    gt_lines: list[str] = []
    prefixes: list[str] = []
    truths: list[set[int]] = []
    for m in range(movies):
        video = f"movie{m:03d}_{rng.integers(10**6):06d}"
        for t in range(902, 902 + keyframes):
            for _ in range(int(rng.integers(1, 4))):
                x1, y1 = rng.uniform(0, 0.7, 2)
                w, h = rng.uniform(0.1, 0.3, 2)
                box = np.round([x1, y1, x1 + w, y1 + h], 3)
                actions = set(rng.choice(class_ids, int(rng.integers(1, 4)), replace=False).tolist())
                gt_box = ",".join(f"{v:.3f}" for v in box)
                gt_lines += [f"{video},{t:04d},{gt_box},{a},0" for a in sorted(actions)]
                det_box = np.clip(np.round(box + rng.normal(0, 0.02, 4), 3), 0, 1)
                det_box[[0, 2]] = np.sort(det_box[[0, 2]])
                det_box[[1, 3]] = np.sort(det_box[[1, 3]])
                prefixes.append(f"{video},{t:04d}," + ",".join(f"{v:.3f}" for v in det_box))
                truths.append(actions)
    (workdir / "groundtruth.csv").write_text("\n".join(gt_lines) + "\n")
    n = len(prefixes)
    positive = np.array([[c in tr for c in class_ids] for tr in truths])
    scores = np.where(positive, 0.3 + 0.7 * rng.random((n, NUM_CLASSES)), 0.8 * rng.random((n, NUM_CLASSES)))
    with open(workdir / "detections.csv", "w") as out:
        for prefix, row in zip(prefixes, scores):
            out.write("".join(f"{prefix},{c},{s!r}\n" for c, s in zip(class_ids.tolist(), row.tolist())))
    excluded = [line.split(",")[:2] for line in gt_lines[:: max(1, len(gt_lines) // 200)]]
    (workdir / "excluded.csv").write_text("".join(f"{v},{t}\n" for v, t in excluded))
    return {"groundtruth_rows": len(gt_lines), "detection_rows": n * NUM_CLASSES,
            "keyframes": movies * keyframes}


def run_child(which: str, workdir: Path) -> None:
    """Evaluate once in this process and print one JSON line."""
    files = [str(workdir / f) for f in ("labelmap.pbtxt", "groundtruth.csv", "detections.csv", "excluded.csv")]
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = usage.ru_utime + usage.ru_stime
    if which == "ours":
        sys.path.insert(0, str(REPO))
        from model.eval.ava import frame_map
        start = time.perf_counter()
        result = frame_map(files[1], files[2], files[0], files[3])
        seconds = time.perf_counter() - start
        metrics = result.official_metrics()
    else:
        sys.path.insert(0, str(REPO / "tests" / "model" / "eval"))
        from official_ava_driver import official_metrics
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):
            metrics = official_metrics(*files)
        seconds = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak_mib = usage.ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "cpu_seconds": usage.ru_utime + usage.ru_stime - cpu_before,
                      "peak_rss_mib": peak_mib,
                      "metrics": {k: (None if math.isnan(v) else float(v)) for k, v in metrics.items()}}))


def profile_ours(workdir: Path, top: int = 12) -> None:
    """Where our time goes: reading the detections alone, then ``frame_map`` by phase (the
    cap includes the reading it streams), then cProfile's top functions by own time."""
    import cProfile
    import pstats

    sys.path.insert(0, str(REPO))
    import model.eval.ava as ava
    from model.eval.ava_io import Tolerated, iter_detection_batches

    files = [str(workdir / f) for f in ("labelmap.pbtxt", "groundtruth.csv", "detections.csv", "excluded.csv")]

    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    start, cpu_start = time.perf_counter(), cpu()
    for _ in iter_detection_batches(files[2], tolerated=Tolerated()):
        pass
    print(f"read + validate the detections CSV alone: {time.perf_counter() - start:.2f} s wall, "
          f"{cpu() - cpu_start:.2f} s CPU")
    phases: dict[str, list[float]] = {}

    def timed(name: str, function):
        def run(*args, **kwargs):
            start, cpu_start = time.perf_counter(), cpu()
            result = function(*args, **kwargs)
            spent = phases.setdefault(name, [0.0, 0.0])
            spent[0] += time.perf_counter() - start
            spent[1] += cpu() - cpu_start
            return result
        return run
    for name, attribute in (("ground truth", "prepare_groundtruth"), ("read + cap (sort, group)", "cap_detections"),
                            ("matching", "match_detections"), ("per-class AP", "per_class_ap")):
        setattr(ava, attribute, timed(name, getattr(ava, attribute)))
    profiler = cProfile.Profile()
    start, cpu_start = time.perf_counter(), cpu()
    profiler.enable()
    ava.frame_map(files[1], files[2], files[0], files[3])
    profiler.disable()
    for name, (wall, cpu_seconds) in phases.items():
        print(f"{name}: {wall:.2f} s wall, {cpu_seconds:.2f} s CPU")
    print(f"frame_map (profiled): {time.perf_counter() - start:.2f} s wall, {cpu() - cpu_start:.2f} s CPU, "
          f"1-min load {os.getloadavg()[0]:.1f}")
    pstats.Stats(profiler).sort_stats("tottime").print_stats(top)


def measure(which: str, workdir: Path) -> dict[str, object]:
    done = subprocess.run([sys.executable, __file__, "--child", which, "--workdir", str(workdir)],
                          check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--movies", type=int, default=64)
    parser.add_argument("--keyframes", type=int, default=900)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/ava_bench"))
    parser.add_argument("--child", choices=("ours", "official"))
    parser.add_argument("--profile", action="store_true",
                        help="profile ours on the files already in --workdir (no official run)")
    args = parser.parse_args()
    if args.profile:
        profile_ours(args.workdir)
        return
    if args.child:
        run_child(args.child, args.workdir)
        return
    start = time.perf_counter()
    sizes = write_case(args.workdir, args.movies, args.keyframes)
    sizes["generate_seconds"] = round(time.perf_counter() - start, 1)
    load_before = os.getloadavg()[0]
    ours = measure("ours", args.workdir)
    print(f"ours: {ours['seconds']:.1f} s, {ours['peak_rss_mib']:.0f} MiB", file=sys.stderr, flush=True)
    official = measure("official", args.workdir)
    load_after = os.getloadavg()[0]
    diffs = [abs(ours["metrics"][k] - v) for k, v in official["metrics"].items()
             if v is not None and ours["metrics"][k] is not None]
    same_nan = all((ours["metrics"][k] is None) == (v is None) for k, v in official["metrics"].items())
    summary = {
        "machine": f"{platform.node()} {platform.processor() or platform.machine()}, "
                   f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
                   f"NumPy {np.__version__}",
        **sizes,
        "ours_seconds": round(ours["seconds"], 2), "official_seconds": round(official["seconds"], 2),
        "speedup": round(official["seconds"] / ours["seconds"], 1),
        "ours_cpu_seconds": round(ours["cpu_seconds"], 1), "official_cpu_seconds": round(official["cpu_seconds"], 1),
        "ours_peak_rss_mib": round(ours["peak_rss_mib"]), "official_peak_rss_mib": round(official["peak_rss_mib"]),
        "mAP_ours": ours["metrics"]["PascalBoxes_Precision/mAP@0.5IOU"],
        "mAP_official": official["metrics"]["PascalBoxes_Precision/mAP@0.5IOU"],
        "max_abs_diff_any_metric": max(diffs), "nan_classes_agree": same_nan,
        "load_average_1min_before_after": [round(load_before, 1), round(load_after, 1)],
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
