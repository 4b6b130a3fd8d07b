"""`python -m orchestrator export EXPERIMENT --out PATH [--json]`: the test-server file.

Validates the file the experiment's export job wrote (AVA CSV or Kinetics JSON), refuses an
invalid one (exit 1, the problems on stderr), and writes it with `PATH.manifest.json` (each
member's checkpoint and config sha256) inside the exports folder: `--exports-root`,
$ORCH_EXPORTS_ROOT, or `<runs_root>/exports`. PATH may not leave that folder (exit 2).
"""

from __future__ import annotations

import argparse
import json
import sys

from contract.exit_codes import ExitCode
from orchestrator.commands.context import CommandError, add_database_arguments, open_engine


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("experiment")
    parser.add_argument("--out", required=True, help="file name inside the exports folder")
    parser.add_argument("--exports-root", default=None, help="allowed folder (default: <runs_root>/exports)")
    parser.add_argument("--force", action="store_true", help="replace an existing export")
    parser.add_argument("--labelmap", default=None, help="AVA: evaluated-classes pbtxt")
    parser.add_argument("--test-keyframes", default=None, help="AVA: test keyframes CSV or test video ids")
    parser.add_argument("--classes", default=None, help="Kinetics: classes.txt")
    parser.add_argument("--test-videos", default=None, help="Kinetics: test.csv or one video id per line")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    add_database_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from orchestrator.db import session_scope
    from orchestrator.export import (ExportError, ExportPathError, InvalidSubmission, ValidationInputs,
                                     export_experiment)
    from orchestrator.export_paths import resolve_exports_root

    inputs = ValidationInputs(labelmap=args.labelmap, test_keyframes=args.test_keyframes, classes=args.classes,
                              test_videos=args.test_videos)
    engine = open_engine(args)
    try:
        with session_scope(engine) as session:
            result = export_experiment(session, args.experiment, args.out,
                                       exports_root=resolve_exports_root(args.exports_root),
                                       inputs=inputs, overwrite=args.force)
    except (ExportError, ExportPathError) as error:
        raise CommandError(str(error)) from error
    except InvalidSubmission as error:
        raise CommandError(str(error), ExitCode.FAILED) from error
    finally:
        engine.dispose()
    if args.json:
        json.dump({"submission": str(result.submission_path), "manifest": str(result.manifest_path),
                   "sha256": result.sha256, "members": result.members}, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        print(f"wrote {result.submission_path} (sha256 {result.sha256[:12]}...) and {result.manifest_path.name}; "
              f"{len(result.members)} members")
    return ExitCode.OK
