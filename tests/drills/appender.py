"""A job kind for ingest drills: appends metric lines to metrics.jsonl until told to stop.

``Appender`` keeps the run-directory contract (metrics.jsonl appended in whole lines,
status.json replaced atomically, result.json written last) and grows its file fast, so a
watcher that ingests it is busy most of the time. It continues after the last step already in
the file (``appender.first_step`` in config.yaml), writes ``appender.names_per_step`` metrics
per step in chunks of ``appender.chunk_steps`` steps every ``appender.pause_s`` seconds, and
finishes once the file ``stop`` appears in its run directory (or after ``appender.max_steps``).

The job kind is the entry point ``tests.drills.appender:Appender`` so that a watcher started
as ``python -m orchestrator watch`` from the repository root resolves it; it is pickled by
value, so submitit's controller never needs this folder on its path.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import cloudpickle
import yaml

cloudpickle.register_pickle_by_value(sys.modules[__name__])

APPENDER_KIND = "tests.drills.appender:Appender"
STOP_FILE = "stop"


def metric_value(step: int, index: int) -> float:
    """A deterministic, non-round float per (step, metric): equality after a DB round trip is exact."""
    return ((step * 2654435761 + index * 40503) % 1_000_003) / 997.0 + step * 1e-7


def metric_line(step: int, index: int, attempt: int = 1) -> str:
    return json.dumps({"step": step, "split": "train", "name": f"m{index:02d}", "value": metric_value(step, index),
                       "time": 1.7e9 + step, "attempt": attempt}) + "\n"


def write_history(path: Path, steps: int, names_per_step: int) -> None:
    """What the job wrote before the watcher started: steps 0..steps-1, in one go."""
    with path.open("w") as handle:
        for first in range(0, steps, 1000):
            handle.write("".join(metric_line(step, index) for step in range(first, min(first + 1000, steps))
                                 for index in range(names_per_step)))


def _write_json_atomic(path: Path, payload: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload))
    os.replace(tmp, path)


class Appender:
    def __init__(self, run_dir: str | Path) -> None:
        self.run_dir = Path(run_dir)

    def __call__(self) -> dict:
        settings = yaml.safe_load((self.run_dir / "config.yaml").read_text())["appender"]
        step, names = int(settings["first_step"]), int(settings["names_per_step"])
        chunk, pause, last = int(settings["chunk_steps"]), float(settings["pause_s"]), int(settings["max_steps"])
        stop = self.run_dir / STOP_FILE
        with (self.run_dir / "metrics.jsonl").open("a") as metrics:
            while step < last and not stop.exists():
                end = min(step + chunk, last)
                metrics.write("".join(metric_line(s, index) for s in range(step, end) for index in range(names)))
                metrics.flush()
                step = end
                _write_json_atomic(self.run_dir / "status.json",
                                   {"state": "running", "step": step, "total_steps": last, "message": ""})
                time.sleep(pause)
        result = {"steps": step}
        _write_json_atomic(self.run_dir / "result.json", result)
        _write_json_atomic(self.run_dir / "status.json",
                           {"state": "completed", "step": step, "total_steps": step, "message": ""})
        return result
