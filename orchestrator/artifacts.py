"""Artefacts of a run directory -> `artifacts` rows (path, kind, sha256, bytes).

Scanned by `orchestrator.ingest.ingest_job`: files under checkpoints/, predictions/ and
submission/ (and metrics.jsonl once the job is done). In-flight temporaries (`*.tmp`,
`*.partial`, dot files) and symlinks (the `latest` checkpoint pointer) are skipped; a file
whose size and mtime are unchanged is not hashed again (checkpoints can be gigabytes).
"""

from __future__ import annotations

import os
from pathlib import Path

from contract.files import sha256_file
from contract.run_dir import CHECKPOINTS_DIR, METRICS_FILE, PREDICTIONS_DIR, SUBMISSION_DIR
from orchestrator.db.models import Artifact, Job

__all__ = ["ARTIFACT_FOLDERS", "record_artifacts"]

# folder in the run dir -> Artifact.kind
ARTIFACT_FOLDERS = {CHECKPOINTS_DIR: "checkpoint", PREDICTIONS_DIR: "predictions", SUBMISSION_DIR: "submission"}


def _artifact_candidates(run_dir: Path, done: bool):
    for folder, kind in ARTIFACT_FOLDERS.items():
        root = run_dir / folder
        if not root.is_dir():
            continue
        for dirpath, dirnames, filenames in os.walk(root):  # does not follow symlinked dirs
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for filename in sorted(filenames):
                path = Path(dirpath) / filename
                # Skip in-flight temporaries and the `latest` pointer (a link to a real file).
                if filename.startswith(".") or filename.endswith((".tmp", ".partial")) or path.is_symlink():
                    continue
                yield path, kind
    if done and (run_dir / METRICS_FILE).is_file():
        yield run_dir / METRICS_FILE, "metrics"


def record_artifacts(job: Job, run_dir: Path, *, done: bool) -> tuple[int, int]:
    """Add/update the job's Artifact rows (caller commits); returns (added, updated)."""
    added = updated = 0
    known = {artifact.path: artifact for artifact in job.artifacts}
    for path, kind in _artifact_candidates(run_dir, done):
        try:
            stat = path.stat()
        except FileNotFoundError:  # removed between listing and stat (checkpoint rotation)
            continue
        relative = path.relative_to(run_dir).as_posix()
        existing = known.get(relative)
        if existing is not None and existing.bytes == stat.st_size and existing.mtime_ns == stat.st_mtime_ns:
            continue
        try:
            digest = sha256_file(path)
        except FileNotFoundError:
            continue
        if existing is None:
            job.artifacts.append(Artifact(path=relative, kind=kind, sha256=digest,
                                          bytes=stat.st_size, mtime_ns=stat.st_mtime_ns))
            added += 1
        else:
            existing.sha256, existing.bytes, existing.mtime_ns = digest, stat.st_size, stat.st_mtime_ns
            updated += 1
    return added, updated
