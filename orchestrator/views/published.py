"""The report's published numbers: the one source the CLI leaderboard and the dashboard share.

They are the ``published:`` lists of ``configs/experiment/*.yaml`` (each number written once in
the config tree, with its table cited there): Table 2 for AVA (val mAP, the ensemble's test
mAP) and Sec. 3.1 for Kinetics (top-1 / top-5, the K700 ensemble's challenge error). Scores are
in percent as the report prints them. They are reference rows, marked ``published`` and never
ranked with our runs.

Read with PyYAML, not Hydra: the ``published`` lists hold plain values and no interpolation.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import yaml

from orchestrator.planner.compose import configs_dir

__all__ = ["PUBLISHED_SOURCE", "PublishedRow", "published_rows", "published_value"]

PUBLISHED_SOURCE = "published: SlowFast ActivityNet 2019 report"
_TASK_OF = {"ensemble_ava": "ava", "kinetics_challenge": "kinetics"}


@dataclass(frozen=True)
class PublishedRow:
    """One published result. ``None`` where the report prints no number (e.g. "-")."""

    task: str
    model: str
    dataset: str
    frame_map: float | None = None       # AVA val mAP (%), Table 2
    test_map: float | None = None        # AVA test mAP (%), Table 2
    top1: float | None = None            # Kinetics top-1 (%), Sec. 3.1
    top5: float | None = None
    challenge_error: float | None = None  # mean of top-1 and top-5 error (%), Sec. 3.1
    source: str = PUBLISHED_SOURCE

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "published": True}


def _dataset(entry: dict, task: str) -> str:
    if task == "ava":
        return "AVA v2.1" if "v2.1" in str(entry.get("model", "")) else "AVA v2.2"
    text = str(entry.get("dataset", ""))
    for version in ("400", "600", "700"):
        if version in text:
            return f"K{version}" + (" test" if "test" in text else "")
    return text


@functools.lru_cache(maxsize=4)
def _read(config_dir: Path) -> tuple[PublishedRow, ...]:
    rows = []
    for path in sorted((config_dir / "experiment").glob("*.yaml")):
        document = yaml.safe_load(path.read_text()) or {}
        task = _TASK_OF.get(path.stem) or (document.get("experiment") or {}).get("task", "")
        for entry in document.get("published") or []:
            rows.append(PublishedRow(task=task, model=str(entry.get("model", "")), dataset=_dataset(entry, task),
                                     frame_map=entry.get("val_map"), test_map=entry.get("test_map"),
                                     top1=entry.get("top1"), top5=entry.get("top5"),
                                     challenge_error=entry.get("challenge_error")))
    return tuple(rows)


def published_rows(task: str | None = None, config_dir: Path | None = None) -> list[PublishedRow]:
    """The published rows of ``task`` (``ava``, ``kinetics``; all when None), in file order."""
    rows = _read(Path(config_dir) if config_dir is not None else configs_dir())
    return [row for row in rows if task is None or row.task == task]


def published_value(task: str, model: str, field: str, config_dir: Path | None = None) -> float | None:
    """One published number, e.g. ``published_value("ava", "SlowFast++, 16x8", "frame_map")``."""
    for row in published_rows(task, config_dir):
        if row.model == model:
            return getattr(row, field)
    return None
