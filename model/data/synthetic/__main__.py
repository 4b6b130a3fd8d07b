"""``python -m model.data.synthetic``: see the package docstring."""

from __future__ import annotations

import argparse
import sys
import time

from model.data.synthetic import generate_ava, generate_kinetics
from model.data.synthetic.kinetics_gen import CLASSES_BY_VERSION, FRAME_SIZES


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model.data.synthetic",
                                     description="Generate a Kinetics- or AVA-format dataset.")
    parser.add_argument("--out", required=True, help="dataset root to write")
    parser.add_argument("--kind", required=True, choices=["kinetics", "ava"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--size", default="small", choices=sorted(FRAME_SIZES))
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--version", default="600", choices=sorted(CLASSES_BY_VERSION),
                        help="kinetics: class set (a prefix of the next one)")
    parser.add_argument("--num-classes", type=int, default=None, help="kinetics")
    parser.add_argument("--videos-per-class", type=int, default=12, help="kinetics: train")
    parser.add_argument("--eval-videos-per-class", type=int, default=None, help="kinetics")
    parser.add_argument("--movies", type=int, nargs=3, default=(8, 4, 3),
                        metavar=("TRAIN", "VAL", "TEST"), help="ava: movies per split")
    parser.add_argument("--duration", type=int, default=None,
                        help="seconds per clip (kinetics, default 3; 10 at --size bench) "
                             "or per movie (ava, default 14)")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    if args.kind == "kinetics":
        generate_kinetics(args.out, seed=args.seed, version=args.version,
                          num_classes=args.num_classes, videos_per_class=args.videos_per_class,
                          eval_videos_per_class=args.eval_videos_per_class, size=args.size,
                          duration_s=args.duration, fps=args.fps)
    else:
        generate_ava(args.out, seed=args.seed, movies=tuple(args.movies), size=args.size,
                     duration_s=args.duration or 14, fps=args.fps)
    print(f"wrote {args.kind} dataset to {args.out} in {time.perf_counter() - began:.1f} s",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
