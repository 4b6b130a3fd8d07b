"""What `submit --wait` prints when an experiment has finished: the experiment's leaderboard
and its test-server submission, exported and validated into the exports folder, with its
test score where the dataset keeps its test labels aside (the generated data does: the test
server's figure, computed here because here the labels exist).

The export is the same code path as `python -m orchestrator export` (validation, manifest
with the members' sha256, a Submission row), so the file the demo announces is one the
dashboard lists and a user could upload.
"""

from __future__ import annotations

import sys

from orchestrator.commands.leaderboard import print_boards

# What an experiment's export job writes, by task (the planner's `export.format`).
_SUFFIX_BY_TASK = {"ava": ".csv", "kinetics": ".json"}


def report_finished_experiment(engine, experiment: str, runs_root) -> int:
    """Print the leaderboard and export the submission; returns 0, or 1 if the export failed."""
    from orchestrator.db import Experiment, session_scope
    from orchestrator.export import (ExportError, ExportPathError, InvalidSubmission, export_experiment,
                                     held_out_test_line, held_out_test_metrics)
    from orchestrator.export_paths import resolve_exports_root
    from orchestrator.views.leaderboard import ava_leaderboard, kinetics_leaderboard
    from sqlalchemy import select

    with session_scope(engine) as session:
        task = session.scalars(select(Experiment.task).where(Experiment.name == experiment)).one()
        boards = {"ava": ava_leaderboard(session, experiment)} if task == "ava" else \
                 {"kinetics": kinetics_leaderboard(session, experiment)}
    print_boards(boards)
    out = f"{experiment}_test{_SUFFIX_BY_TASK.get(task, '.csv')}"
    try:
        with session_scope(engine) as session:
            result = export_experiment(session, experiment, out,
                                       exports_root=resolve_exports_root(runs_root / "exports"), overwrite=True)
    except (ExportError, ExportPathError, InvalidSubmission) as error:
        print(f"export of {experiment} failed: {error}", file=sys.stderr)
        return 1
    print(f"submission: {result.submission_path} (validated; {len(result.members)} members, "
          f"manifest {result.manifest_path.name})")
    held_out = held_out_test_line(held_out_test_metrics(result))
    if held_out:
        print(held_out)
    for message in result.warnings:
        print(f"warning: {result.submission_path.name}: {message}", file=sys.stderr)
    return 0
