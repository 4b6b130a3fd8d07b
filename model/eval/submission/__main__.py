"""``python -m model.eval.submission validate --format ava|kinetics FILE ...``

Exit status 0 when the file is valid, 1 when it has problems (each printed as
``FILE:LINE: message``; warnings, which do not make it invalid, go to stderr as
``warning: FILE: message``), 2 on a usage error or an unreadable or malformed reference file
(label map, test keyframes, test videos, classes), reported in one line. ``--json`` prints the report object instead.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from model.eval.submission import ValidationReport, validate_ava_submission, validate_kinetics_submission


def _lines(path: str) -> list[str]:
    return [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]


def _validate(args: argparse.Namespace) -> ValidationReport:
    """Problems of the submission itself go into the report; unreadable or malformed
    reference files raise (they are a usage error, exit 2)."""
    if args.format == "ava":
        return validate_ava_submission(args.file, labelmap=args.labelmap, test_keyframes=args.test_keyframes,
                                       strict=args.strict)
    return validate_kinetics_submission(args.file, test_video_ids=_lines(args.test_videos),
                                        class_names=_lines(args.classes))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m model.eval.submission",
                                     description="Validate challenge submission files.")
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="check a submission file")
    validate.add_argument("--format", choices=("ava", "kinetics"), required=True)
    validate.add_argument("file")
    validate.add_argument("--labelmap", help="AVA: label map of the evaluated classes (.pbtxt)")
    validate.add_argument("--test-keyframes",
                          help="AVA: CSV of video_id,timestamp, or of bare video ids (seconds 902-1798)")
    validate.add_argument("--test-videos", help="Kinetics: file with one test video id per line")
    validate.add_argument("--classes", help="Kinetics: file with one class name per line")
    validate.add_argument("--strict", action="store_true",
                          help="AVA: refuse a test keyframe without any row (without it: one warning line, "
                               "as the official evaluator and the test server score such a file)")
    validate.add_argument("--json", action="store_true", help="print the report as one JSON object")
    args = parser.parse_args(argv)
    if args.format == "ava" and not (args.labelmap and args.test_keyframes):
        parser.error("--format ava needs --labelmap and --test-keyframes")
    if args.format == "kinetics" and not (args.test_videos and args.classes):
        parser.error("--format kinetics needs --test-videos and --classes")
    try:
        report = _validate(args)
    except OSError as exc:  # a reference file (label map, keyframes, classes) is unreadable
        print(f"error: {exc.filename or args.file}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except ValueError as exc:  # a malformed reference file; the message names file and line
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for message in report.warnings:
        print(f"warning: {args.file}: {message}", file=sys.stderr)
    if args.json:
        print(report.to_json())
    else:
        for problem in report.problems:
            where = f"{args.file}:{problem.line}" if problem.line is not None else args.file
            print(f"{where}: {problem.message}")
        print(f"{args.file}: {'OK' if report.ok else f'{len(report.problems)} problems'} "
              f"({report.rows} rows, {report.covered}/{report.expected} covered)")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
