"""What the watcher reads from a run directory each poll: status.json and result.json.

Both files are written atomically by the job (tmp + rename), so a read sees a whole file
or none; a file that still fails to parse is reported as unreadable, never guessed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contract.run_dir import RESULT_FILE, STATUS_FILE, ErrorKind, StatusState


@dataclass(frozen=True)
class RunDirSnapshot:
    """``status`` is the parsed status.json (or None); ``result`` the parsed result.json."""

    status: dict[str, Any] | None
    result: dict[str, Any] | None
    problems: tuple[str, ...] = ()

    @property
    def status_state(self) -> str:
        return str((self.status or {}).get("state", "")).lower()

    @property
    def failed_message(self) -> str | None:
        """The job's own verdict of a deterministic failure (NaN loss, bad config, bad data)."""
        if self.status_state == StatusState.FAILED and not self.rank_lost_message:
            status = self.status or {}
            message = str(status.get("message") or "the job reported failure without a message")
            kind = status.get("error_kind")  # a contract.run_dir.ErrorKind
            return f"{kind}: {message}" if kind and not message.startswith(f"{kind}:") else message
        return None

    @property
    def rank_lost_message(self) -> str | None:
        """A process of a distributed job died (``error_kind: rank_lost``, the rank named): the
        cluster's doing, not the job's, so it is resubmitted like a node failure."""
        status = self.status or {}
        if self.status_state == StatusState.FAILED and status.get("error_kind") == ErrorKind.RANK_LOST:
            return str(status.get("message") or "a process of the job died")
        return None

    @property
    def step(self) -> int | None:
        value = (self.status or {}).get("step")
        return int(value) if isinstance(value, (int, float)) else None

    @property
    def total_steps(self) -> int | None:
        value = (self.status or {}).get("total_steps")
        return int(value) if isinstance(value, (int, float)) else None


def _read_json(path: Path, problems: list[str]) -> dict[str, Any] | None:
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    except OSError as error:
        problems.append(f"{path}: {error}")
        return None
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as error:
        problems.append(f"{path}: line {error.lineno}: {error.msg}")
        return None
    if not isinstance(payload, dict):
        problems.append(f"{path}: expected a JSON object")
        return None
    return payload


def read_run_dir(run_dir: str | Path) -> RunDirSnapshot:
    run_dir = Path(run_dir)
    problems: list[str] = []
    status = _read_json(run_dir / STATUS_FILE, problems)
    result = _read_json(run_dir / RESULT_FILE, problems)
    return RunDirSnapshot(status=status, result=result, problems=tuple(problems))
