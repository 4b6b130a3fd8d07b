"""What a job reports: metrics.jsonl, status.json, TensorBoard events, a progress log line.

metrics.jsonl is append-only, one JSON object per line::

    {"step": 120, "split": "train", "name": "loss", "value": 2.31, "time": 1732550000.1,
     "attempt": 1}

On resume it is cut back (atomically) to the byte length recorded in the checkpoint, so a
metric of a step after the checkpoint is never written twice.

Determinism: for a given config and seed, the fields ``step``, ``split``, ``name``, ``value``
are identical between an uninterrupted run and a killed-and-resumed one, for every name
except the timing/memory ones in ``NONDETERMINISTIC_NAMES``; ``time`` and ``attempt`` differ
by nature. ``deterministic_view`` is that projection.
"""
from __future__ import annotations

import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any, Iterable

from contract.files import atomic_write, atomic_write_json
from contract.run_dir import ErrorKind, StatusState

__all__ = ["MetricsWriter", "NONDETERMINISTIC_NAMES", "StatusWriter", "TensorBoardWriter",
           "deterministic_view", "read_metrics"]

log = logging.getLogger(__name__)

#: Metric names whose values depend on the machine's speed/memory, not on the computation.
NONDETERMINISTIC_NAMES = frozenset({"clips_per_s", "data_wait_frac", "max_mem_mb"})



class MetricsWriter:
    """Appends metric lines; only the main process writes (others get ``enabled=False``)."""

    def __init__(self, path: Path, attempt: int, enabled: bool = True) -> None:
        self.path = Path(path)
        self.attempt = attempt
        self.enabled = enabled
        self._file = None

    def _open(self):
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self.path, "ab")
        return self._file

    def write(self, step: int, split: str, name: str, value: float) -> None:
        if not self.enabled:
            return
        value = float(value)
        line = {"step": int(step), "split": split, "name": name,
                "value": value if math.isfinite(value) else str(value),
                "time": round(time.time(), 3), "attempt": self.attempt}
        self._open().write((json.dumps(line) + "\n").encode())

    def write_many(self, step: int, split: str, values: dict[str, float]) -> None:
        for name, value in values.items():
            self.write(step, split, name, value)

    def sync(self) -> int:
        """Flush and fsync; returns the file's byte length (recorded in checkpoints)."""
        if not self.enabled:
            return 0
        f = self._open()
        f.flush()
        os.fsync(f.fileno())
        return f.tell()

    def truncate_to(self, offset: int) -> None:
        """Cut the file back to ``offset`` bytes, atomically (resume after a checkpoint)."""
        if not self.enabled:
            return
        self.close()
        if not self.path.exists():
            if offset:
                log.warning("metrics file %s is missing; expected %d bytes", self.path, offset)
            return
        size = self.path.stat().st_size
        if size == offset:
            return
        if size < offset:
            log.warning("metrics file %s has %d bytes, fewer than the checkpoint's %d",
                        self.path, size, offset)
            return
        with open(self.path, "rb") as f:
            kept = f.read(offset)
        atomic_write(self.path, lambda out: out.write(kept))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def read_metrics(path: Path) -> list[dict[str, Any]]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def deterministic_view(lines: Iterable[dict[str, Any]]) -> list[tuple[int, str, str, Any]]:
    """The part of metrics.jsonl that must not change when a run is resumed."""
    return [(m["step"], m["split"], m["name"], m["value"]) for m in lines
            if m["name"] not in NONDETERMINISTIC_NAMES]


class StatusWriter:
    """status.json, rewritten atomically: ``{"state","step","total_steps","message","eta_s"}``.

    ``state`` is a ``StatusState``; ``failed`` carries ``error_kind`` (an ``ErrorKind``) and the
    message.
    """

    def __init__(self, path: Path, total_steps: int, attempt: int, enabled: bool = True) -> None:
        self.path = Path(path)
        self.total_steps = total_steps
        self.attempt = attempt
        self.enabled = enabled

    def write(self, state: str, step: int, message: str = "", eta_s: float | None = None,
              error_kind: str | None = None, **extra: Any) -> None:
        if not self.enabled:
            return
        if state not in frozenset(StatusState):  # a frozenset: `in` with a plain str
            raise ValueError(f"unknown job state {state!r}")
        body: dict[str, Any] = {"state": state, "step": int(step),
                                "total_steps": int(self.total_steps), "message": message,
                                "eta_s": None if eta_s is None else round(float(eta_s), 1),
                                "attempt": self.attempt, "updated": round(time.time(), 3)}
        if state == StatusState.FAILED:
            if error_kind not in frozenset(ErrorKind):
                raise ValueError(f"failed status needs an error_kind in {[kind.value for kind in ErrorKind]}")
            body["error_kind"] = error_kind
        body.update(extra)
        atomic_write_json(self.path, body)


def next_attempt(status_path: Path) -> int:
    """1 for a fresh run directory, previous attempt + 1 after a preemption or crash."""
    try:
        return int(json.loads(Path(status_path).read_text()).get("attempt", 0)) + 1
    except (FileNotFoundError, ValueError, TypeError):
        return 1


class TensorBoardWriter:
    """Scalars to ``<run_dir>/tensorboard``; on resume the events after the step are purged."""

    def __init__(self, log_dir: Path, purge_step: int | None, enabled: bool = True) -> None:
        self._writer = None
        if enabled:
            from torch.utils.tensorboard import SummaryWriter
            self._writer = SummaryWriter(log_dir=str(log_dir), purge_step=purge_step)

    def write_many(self, step: int, split: str, values: dict[str, float]) -> None:
        if self._writer is None:
            return
        for name, value in values.items():
            self._writer.add_scalar(f"{split}/{name}", float(value), step)

    def flush(self) -> None:
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
