"""`python -m orchestrator export EXPERIMENT --out PATH [--strict] [--revalidate] [--json]`:
the test-server file.

Takes the file the experiment's export job wrote and validated (AVA CSV or Kinetics JSON)
with the job's `manifest.json`: refuses a file that changed since (sha256), refuses and
records an invalid report (exit 1, the problems on stderr), prints the report's warnings
(one line each, stderr), and writes the file with `PATH.manifest.json` (the job's manifest
plus the database lineage) inside the exports folder: `--exports-root`, $ORCH_EXPORTS_ROOT,
or `<runs_root>/exports`. PATH may not leave that folder (exit 2). `--strict` refuses a
report with warnings (exit 1); `--revalidate` validates the file again against those given
with `--labelmap` / `--test-keyframes` / `--classes` / `--test-videos`, each defaulting to the
file the job validated against (naming one implies `--revalidate`). Where the dataset keeps
its test labels aside (the generated data: `held_out/`), it also prints the file's test score
as the test server would compute it: AVA frame-mAP, Kinetics top-1 / top-5 error and their mean
(`--json`: `held_out_test`, the metrics as fractions, null otherwise).
"""

from __future__ import annotations

import argparse
import json
import sys

from contract.exit_codes import ExitCode
from orchestrator.commands.context import CommandError, add_database_arguments, open_engine

_REFERENCE_OPTIONS = ("labelmap", "test_keyframes", "classes", "test_videos")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("experiment")
    parser.add_argument("--out", required=True, help="file name inside the exports folder")
    parser.add_argument("--exports-root", default=None, help="allowed folder (default: <runs_root>/exports)")
    parser.add_argument("--force", action="store_true", help="replace an existing export")
    parser.add_argument("--strict", action="store_true",
                        help="refuse a submission whose validation report has warnings")
    parser.add_argument("--revalidate", action="store_true",
                        help="validate the file again, against the reference files below (default: those the "
                             "export job validated against), besides the export job's report")
    parser.add_argument("--labelmap", default=None, help="revalidate against this AVA evaluated-classes pbtxt")
    parser.add_argument("--test-keyframes", default=None,
                        help="revalidate against this AVA test keyframes CSV or test video ids")
    parser.add_argument("--classes", default=None, help="revalidate against this Kinetics classes.txt")
    parser.add_argument("--test-videos", default=None,
                        help="revalidate against this Kinetics test.csv or one video id per line")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    add_database_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from orchestrator.db import session_scope
    from orchestrator.export import (ExportError, ExportPathError, InvalidSubmission, ValidationInputs,
                                     export_experiment, held_out_test_line, held_out_test_metrics)
    from orchestrator.export_paths import resolve_exports_root

    # Naming a reference file asks for a validation against it: --revalidate is implied.
    wanted = args.revalidate or any(getattr(args, name) is not None for name in _REFERENCE_OPTIONS)
    revalidate = ValidationInputs(labelmap=args.labelmap, test_keyframes=args.test_keyframes,
                                  classes=args.classes, test_videos=args.test_videos) if wanted else None
    engine = open_engine(args)
    try:
        with session_scope(engine) as session:
            result = export_experiment(session, args.experiment, args.out,
                                       exports_root=resolve_exports_root(args.exports_root),
                                       revalidate=revalidate, strict=args.strict, overwrite=args.force)
    except (ExportError, ExportPathError) as error:
        raise CommandError(str(error)) from error
    except InvalidSubmission as error:
        raise CommandError(str(error), ExitCode.FAILED) from error
    finally:
        engine.dispose()
    for message in result.warnings:
        print(f"warning: {result.submission_path.name}: {message}", file=sys.stderr)
    held_out = held_out_test_metrics(result)
    if args.json:
        json.dump({"submission": str(result.submission_path), "manifest": str(result.manifest_path),
                   "sha256": result.sha256, "members": result.members, "warnings": result.warnings,
                   "held_out_test": held_out},
                  sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print(f"wrote {result.submission_path} (sha256 {result.sha256[:12]}...) and {result.manifest_path.name}; "
              f"{len(result.members)} members")
        if held_out is not None:
            print(held_out_test_line(held_out))
    return ExitCode.OK
