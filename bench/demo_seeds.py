"""The demo as a miniature of the report's Table 2, over several seeds of the generated data.

For each seed, runs what `make demo` runs (``submit ensemble_ava scale=demo cluster=local``)
with ``scale.data_seed=<seed>`` in its own runs root, then reads the val predictions that the
evaluate and ensemble jobs wrote and scores them again with ``model.eval.ava.frame_map``:

    .venv/bin/python bench/demo_seeds.py --root DIR [--seeds 0 1 2] [--reuse] [OVERRIDE ...]

Overrides go to every seed's run, e.g. ``scale.iters_factor.ava=0.04`` trains the AVA members
10x longer than the demo does.

It prints, per seed and as mean / min / max over the seeds, the val frame-mAP of every member,
of the "++" member evaluated at a single scale, of the seven-member ensemble, and of an
ensemble the programme does not run (the five SlowFast 16x8 members only) and of a diagnostic
one (the members' score ranks averaged instead of their scores), and whether each of
the report's orderings holds: ensemble above every member, above the median member, every 16x8
member above the 8x8 one, "++" above single scale; and how alike the members' scores are
(rank correlation between members on the same rows), which bounds what averaging can gain.

Table 2 states its ensemble on test (34.3) and its members on val; the demo's data keeps the
test ground truth aside as the test server does (``held_out/`` of the generated AVA root), so the
script also scores the test ensemble (the exported submission) and its like-for-like peers, the
train+val members' test predictions, and reports both comparisons: the report's (test ensemble
against val members, which mixes more training data and another split into the gain) and the
fair one (test ensemble against test members).

The peer of an ensemble is its best member measured on the same keyframes, so the script also
draws bootstrap replicates of the val keyframes (whole keyframes, with replacement) and reports
how often the ensemble is above its best and its median member across replicates: with 44 val
keyframes an ordering that flips in a third of the replicates is not an ordering.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from model.data.ava_labelmap import AVA_EVALUATED_LABEL_MAP_FILE  # noqa: E402
from model.eval.ava import frame_map  # noqa: E402
from model.data.ava_annotations import HELD_OUT_TEST_GT  # noqa: E402
from model.eval.ava_io import DETECTION_COLUMNS, read_ava_csv, read_exclusions, read_labelmap  # noqa: E402
from model.eval.ensemble import ensemble_ava  # noqa: E402

sys.path.insert(0, str(REPO_ROOT / "bench"))
from demo import run_demo  # noqa: E402

EXPERIMENT = "ensemble_ava"
SINGLE_SCALE_PREFIX = "evaluate.val_single_scale."
MEMBER_PREFIX = "evaluate.val."
ENSEMBLE_JOB = "ensemble.val"
TEST_MEMBER_PREFIX = "evaluate.test."
TEST_ENSEMBLE_JOB = "ensemble.test"
TEST_ENSEMBLE = "ensemble (7, train+val, test)"


def _is_16x8(member: str) -> bool:
    """The five SlowFast 16x8 members (the others are the 8x8 and the Fast 32x2)."""
    return member.startswith("sf16x8")


@dataclass
class SeedRun:
    """One seed's val predictions and ground truth, read from its runs root."""

    seed: int
    members: dict[str, pd.DataFrame]          # member name -> detections
    single_scale: dict[str, pd.DataFrame]     # member name -> detections at one scale
    ensemble: pd.DataFrame
    groundtruth: pd.DataFrame
    labelmap: dict[int, str]
    exclusions: set[tuple[str, int]]
    # The train+val members' test predictions and the test ensemble, with the test ground truth
    # the generated data keeps aside (None for data generated before it did).
    test_members: dict[str, pd.DataFrame]
    test_ensemble: pd.DataFrame | None
    test_groundtruth: pd.DataFrame | None


def run_seed(runs_root: Path, seed: int, overrides: Sequence[str] = ()) -> float:
    """Runs the demo at ``seed`` in ``runs_root``; returns its wall time in seconds."""
    returncode, wall = run_demo(runs_root, EXPERIMENT, f"scale.data_seed={seed}", *overrides)
    if returncode != 0:
        # The val jobs may have finished although a later job failed: they are still scored.
        print(f"the demo at seed {seed} failed (exit {returncode}); runs in {runs_root}", file=sys.stderr)
    return wall


def _predictions(job_dir: Path, split: str = "val") -> pd.DataFrame:
    path = job_dir / "predictions" / f"{split}.csv"
    if not path.is_file():
        raise SystemExit(f"{path}: no {split} predictions (did the demo finish?)")
    return read_ava_csv(path, scored=True)


def read_seed(runs_root: Path, seed: int) -> SeedRun:
    experiment_dir = runs_root / EXPERIMENT
    members = {d.name[len(MEMBER_PREFIX):]: _predictions(d)
               for d in sorted(experiment_dir.glob(MEMBER_PREFIX + "*"))}
    single = {d.name[len(SINGLE_SCALE_PREFIX):]: _predictions(d)
              for d in sorted(experiment_dir.glob(SINGLE_SCALE_PREFIX + "*"))}
    if not members:
        raise SystemExit(f"{experiment_dir}: no {MEMBER_PREFIX}* jobs")
    data_root = runs_root / "data" / "demo" / "ava"
    annotations = data_root / "annotations"
    held_out = data_root / HELD_OUT_TEST_GT
    test_ensemble_dir = experiment_dir / TEST_ENSEMBLE_JOB
    tested = held_out.is_file() and (test_ensemble_dir / "predictions" / "test.csv").is_file()
    test_members = {d.name[len(TEST_MEMBER_PREFIX):]: _predictions(d, "test")
                    for d in sorted(experiment_dir.glob(TEST_MEMBER_PREFIX + "*"))} if tested else {}
    return SeedRun(seed=seed, members=members, single_scale=single,
                   ensemble=_predictions(experiment_dir / ENSEMBLE_JOB),
                   groundtruth=read_ava_csv(annotations / "ava_val_v2.2.csv", scored=False),
                   labelmap=read_labelmap(annotations / AVA_EVALUATED_LABEL_MAP_FILE),
                   exclusions=read_exclusions(annotations / "ava_val_excluded_timestamps_v2.2.csv"),
                   test_members=test_members,
                   test_ensemble=_predictions(test_ensemble_dir, "test") if tested else None,
                   test_groundtruth=read_ava_csv(held_out, scored=False) if tested else None)


def systems(run: SeedRun) -> dict[str, pd.DataFrame]:
    """Every scored system of a seed: members, single-scale twins, the ensembles."""
    out: dict[str, pd.DataFrame] = dict(run.members)
    out.update({f"{name} (single scale)": frame for name, frame in run.single_scale.items()})
    out["ensemble (7, as run)"] = run.ensemble
    sf16 = {name: frame for name, frame in run.members.items() if _is_16x8(name)}
    out["ensemble of the 16x8 members (not run)"] = ensemble_ava(sf16)
    out["ensemble of score ranks (not run)"] = ensemble_ava(
        {name: score_ranks(frame) for name, frame in run.members.items()})
    return out


def member_correlations(members: dict[str, pd.DataFrame]) -> dict[str, tuple[float, float]]:
    """Spearman correlation of two members' scores on the same rows (keyframe, box, class),
    as (min, max) over the pairs of 16x8 members and over the pairs of a 16x8 member with
    another backbone: how close to copies of one another the members are."""
    keys = list(DETECTION_COLUMNS[:-1])
    within, across = [], []
    for a, b in combinations(sorted(members), 2):
        joined = members[a].merge(members[b], on=keys)
        rho = float(joined["score_x"].rank().corr(joined["score_y"].rank()))
        kinds = (_is_16x8(a), _is_16x8(b))
        if all(kinds):
            within.append(rho)
        elif any(kinds):
            across.append(rho)
    return {"16x8 with 16x8": (min(within), max(within)),
            "16x8 with 8x8 or Fast": (min(across), max(across))}


def score_ranks(frame: pd.DataFrame) -> pd.DataFrame:
    """A member's scores replaced by their rank among all its rows, scaled to (0, 1]: the same
    ordering (so the same AP, including which 50 rows of a keyframe the official evaluator
    keeps, as it ranks across classes), without the member's score scale. Averaging these is a
    diagnostic of calibration, not the report's rule ("we average prediction scores")."""
    ranked = frame.copy()
    ranked["score"] = frame["score"].rank(pct=True)
    return ranked


def _keyframe_subset(frame: pd.DataFrame, keys: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``frame`` on the keyframes ``keys`` (video_id, timestamp, copy); a keyframe drawn
    twice appears twice, under a video id made unique by the copy number."""
    joined = frame.merge(keys, on=["video_id", "timestamp"], how="inner")
    joined["video_id"] = joined["video_id"].astype(str) + "#" + joined["copy"].astype(str)
    return joined.drop(columns="copy")


def score(run: SeedRun, frame: pd.DataFrame, keys: pd.DataFrame | None = None, *, test: bool = False) -> float:
    """Frame-mAP (%) of ``frame`` on val, or on test against the held-out ground truth (which,
    like the test server's, has no excluded keyframes); on the keyframes ``keys`` if given."""
    gt = run.test_groundtruth if test else run.groundtruth
    exclusions = set() if test else run.exclusions
    if keys is not None:
        gt = _keyframe_subset(gt, keys)
        frame = _keyframe_subset(frame, keys)
        exclusions = {(f"{v}#{c}", t) for v, t, c in keys.itertuples(index=False) if (v, t) in exclusions}
    return 100.0 * frame_map(gt, frame, run.labelmap, exclusions).mAP


def _bootstrap_draws(groundtruth: pd.DataFrame, replicates: int, rng: np.random.Generator):
    """``replicates`` draws of the ground truth's keyframes (whole keyframes, with replacement),
    each numbered by ``copy`` so that a keyframe drawn twice counts twice."""
    keyframes = groundtruth[["video_id", "timestamp"]].drop_duplicates().reset_index(drop=True)
    for _ in range(replicates):
        drawn = keyframes.iloc[rng.integers(0, len(keyframes), len(keyframes))].copy()
        drawn["copy"] = np.arange(len(drawn))
        yield drawn


def bootstrap(run: SeedRun, frames: dict[str, pd.DataFrame], replicates: int, rng: np.random.Generator
              ) -> dict[str, float]:
    """Share of keyframe-bootstrap replicates in which the ensemble (as run) is above its best
    member, above its median member, and the 16x8 ensemble above its best member."""
    member_names = list(run.members)
    sf16 = [n for n in member_names if _is_16x8(n)]
    above_best = above_median = sf16_above_best = 0
    for drawn in _bootstrap_draws(run.groundtruth, replicates, rng):
        scores = {name: score(run, frames[name], drawn) for name in
                  member_names + ["ensemble (7, as run)", "ensemble of the 16x8 members (not run)"]}
        members = [scores[n] for n in member_names]
        above_best += scores["ensemble (7, as run)"] > max(members)
        above_median += scores["ensemble (7, as run)"] > statistics.median(members)
        sf16_above_best += scores["ensemble of the 16x8 members (not run)"] > max(scores[n] for n in sf16)
    return {"ensemble above best member": above_best / replicates,
            "ensemble above median member": above_median / replicates,
            "16x8 ensemble above its best member": sf16_above_best / replicates}


def held_out_systems(run: SeedRun) -> dict[str, pd.DataFrame]:
    """The train+val members' test predictions and the test ensemble (the exported file)."""
    out = {f"{name} (train+val, test)": frame for name, frame in run.test_members.items()}
    if run.test_ensemble is not None:
        out[TEST_ENSEMBLE] = run.test_ensemble
    return out


def held_out_orderings(test_scores: dict[str, float], val_scores: dict[str, float], run: SeedRun) -> dict[str, bool]:
    """Table 2 compares the test ensemble with members measured on val; the test members are
    the like-for-like peers (same split, same train+val training)."""
    members = [test_scores[f"{n} (train+val, test)"] for n in run.test_members]
    ensemble = test_scores[TEST_ENSEMBLE]
    return {"test ensemble above every val member (Table 2's comparison)":
                ensemble > max(val_scores[n] for n in run.members),
            "test ensemble above every test member": ensemble > max(members),
            "test ensemble above the median test member": ensemble > statistics.median(members)}


def held_out_bootstrap(run: SeedRun, frames: dict[str, pd.DataFrame], replicates: int, rng: np.random.Generator
                   ) -> dict[str, float]:
    """Share of test-keyframe bootstrap replicates in which the test ensemble is above its best
    and its median test member."""
    member_names = [f"{n} (train+val, test)" for n in run.test_members]
    above_best = above_median = 0
    for drawn in _bootstrap_draws(run.test_groundtruth, replicates, rng):
        members = [score(run, frames[n], drawn, test=True) for n in member_names]
        ensemble = score(run, frames[TEST_ENSEMBLE], drawn, test=True)
        above_best += ensemble > max(members)
        above_median += ensemble > statistics.median(members)
    return {"test ensemble above its best test member": above_best / replicates,
            "test ensemble above its median test member": above_median / replicates}


def orderings(scores: dict[str, float], run: SeedRun) -> dict[str, bool]:
    members = [scores[n] for n in run.members]
    ensemble = scores["ensemble (7, as run)"]
    out = {"ensemble above every member": ensemble > max(members),
           "ensemble above the median member": ensemble > statistics.median(members)}
    if "sf8x8" in run.members:
        out["every 16x8 member above the 8x8"] = all(scores[n] > scores["sf8x8"] for n in run.members
                                                     if _is_16x8(n))
    for name in run.single_scale:
        out[f"'++' above single scale ({name})"] = scores[name] > scores[f"{name} (single scale)"]
    return out


def markdown(results: list[dict], replicates: int) -> str:
    names = list(results[0]["scores"])
    lines = ["| system | " + " | ".join(f"seed {r['seed']}" for r in results) + " | mean | min-max |",
             "|---|" + "---|" * (len(results) + 2)]
    for name in names:
        values = [r["scores"][name] for r in results]
        lines.append(f"| {name} | " + " | ".join(f"{v:.2f}" for v in values)
                     + f" | {statistics.mean(values):.2f} | {min(values):.2f}-{max(values):.2f} |")
    lines += ["", "| ordering (report: Table 2) | " + " | ".join(f"seed {r['seed']}" for r in results) + " |",
              "|---|" + "---|" * len(results)]
    for name in results[0]["orderings"]:
        lines.append(f"| {name} | " + " | ".join("yes" if r["orderings"][name] else "**no**" for r in results) + " |")
    lines += ["", f"| share of {replicates} keyframe-bootstrap replicates | "
              + " | ".join(f"seed {r['seed']}" for r in results) + " |",
              "|---|" + "---|" * len(results)]
    for name in results[0]["bootstrap"]:
        lines.append(f"| {name} | " + " | ".join(f"{r['bootstrap'][name]:.2f}" for r in results) + " |")
    lines += ["", "| Spearman correlation of member scores, min-max over pairs | "
              + " | ".join(f"seed {r['seed']}" for r in results) + " |",
              "|---|" + "---|" * len(results)]
    for name in results[0]["correlations"]:
        lines.append(f"| {name} | " + " | ".join(
            "{:.2f}-{:.2f}".format(*r["correlations"][name]) for r in results) + " |")
    tested = [r for r in results if r.get("test_scores")]
    if tested:
        lines += ["", "Test split, scored against the ground truth the generated data keeps aside "
                  "(members trained on train+val, 1.5x longer):", ""]
        lines += _seed_table(tested, "test_scores", "system", lambda v: f"{v:.2f}", summary=True)
        lines += [""] + _seed_table(tested, "test_orderings", "ordering", lambda v: "yes" if v else "**no**")
        lines += [""] + _seed_table(tested, "test_bootstrap", f"share of {replicates} test-keyframe replicates",
                                    lambda v: f"{v:.2f}")
    return "\n".join(lines)


def _seed_table(results: list[dict], key: str, title: str, cell, summary: bool = False) -> list[str]:
    extra = " mean | min-max |" if summary else ""
    lines = [f"| {title} | " + " | ".join(f"seed {r['seed']}" for r in results) + " |" + extra,
             "|---|" + "---|" * (len(results) + (2 if summary else 0))]
    for name in results[0][key]:
        values = [r[key][name] for r in results]
        row = f"| {name} | " + " | ".join(cell(v) for v in values) + " |"
        if summary:
            row += f" {statistics.mean(values):.2f} | {min(values):.2f}-{max(values):.2f} |"
        lines.append(row)
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", type=Path, required=True, help="one runs root per seed: ROOT/seed<k>")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--reuse", action="store_true", help="score a seed's existing runs root instead of running it")
    parser.add_argument("--replicates", type=int, default=200)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("overrides", nargs="*",
                        help="config overrides for every seed's run, e.g. scale.iters_factor.ava=0.04")
    args = parser.parse_args()
    results = []
    for seed in args.seeds:
        runs_root = args.root / f"seed{seed}"
        done = (runs_root / EXPERIMENT / ENSEMBLE_JOB / "predictions" / "val.csv").is_file()
        wall = None if (args.reuse and done) else run_seed(runs_root, seed, args.overrides)
        run = read_seed(runs_root, seed)
        frames = systems(run)
        scores = {name: score(run, frame) for name, frame in frames.items()}
        result = {"seed": seed, "wall_s": wall, "scores": scores, "orderings": orderings(scores, run),
                  "correlations": member_correlations(run.members),
                  "bootstrap": bootstrap(run, frames, args.replicates, np.random.default_rng(seed))}
        print(f"seed {seed}: " + ", ".join(f"{k} {v:.2f}" for k, v in scores.items()), flush=True)
        if run.test_ensemble is not None:
            tests = held_out_systems(run)
            result["test_scores"] = {name: score(run, frame, test=True) for name, frame in tests.items()}
            result["test_orderings"] = held_out_orderings(result["test_scores"], scores, run)
            result["test_bootstrap"] = held_out_bootstrap(run, tests, args.replicates, np.random.default_rng(seed))
            print(f"seed {seed} test: " + ", ".join(f"{k} {v:.2f}" for k, v in result["test_scores"].items()),
                  flush=True)
        else:
            print(f"seed {seed}: no held-out test ground truth ({HELD_OUT_TEST_GT}) or no test ensemble; "
                  "test not scored", flush=True)
        results.append(result)
    print(f"\nmachine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"walls: {[None if r['wall_s'] is None else round(r['wall_s']) for r in results]}\n")
    print(markdown(results, args.replicates))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
