"""The report's published numbers, shown beside ours as clearly marked reference rows.

They come from the `published:` lists of `configs/experiment/*.yaml` (each number lives once in
the config tree, with its table cited there): Table 2 (AVA val/test mAP) and Sec. 3 / Table 3
(Kinetics top-1/top-5, the K700 ensemble's challenge error). They are never mixed into the
ranking of our runs.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pandas as pd
import yaml

__all__ = ["published_reference", "PUBLISHED_SOURCE", "PUBLISHED_COLUMNS"]

PUBLISHED_SOURCE = "published: SlowFast ActivityNet 2019 report"
PUBLISHED_COLUMNS = ["source", "task", "model", "dataset", "frame_map", "test_map", "top1", "top5",
                     "challenge_error"]
_EXPERIMENT_CONFIGS = Path(__file__).resolve().parents[1] / "configs" / "experiment"
_TASK_OF = {"ensemble_ava": "ava", "kinetics_challenge": "kinetics"}


def _dataset(entry: dict, task: str) -> str:
    if task == "ava":
        return "AVA v2.1" if "v2.1" in str(entry.get("model", "")) else "AVA v2.2"
    text = str(entry.get("dataset", ""))
    for version in ("400", "600", "700"):
        if version in text:
            return f"K{version}" + (" test" if "test" in text else "")
    return text


@functools.lru_cache(maxsize=4)
def published_reference(config_dir: Path = _EXPERIMENT_CONFIGS) -> pd.DataFrame:
    """Reference rows (columns `PUBLISHED_COLUMNS`), scores in percent as printed in the report."""
    rows = []
    for path in sorted(Path(config_dir).glob("*.yaml")):
        document = yaml.safe_load(path.read_text()) or {}
        task = _TASK_OF.get(path.stem) or (document.get("experiment") or {}).get("task", "")
        for entry in document.get("published") or []:
            rows.append({"source": PUBLISHED_SOURCE, "task": task, "model": str(entry.get("model", "")),
                         "dataset": _dataset(entry, task), "frame_map": entry.get("val_map"),
                         "test_map": entry.get("test_map"), "top1": entry.get("top1"),
                         "top5": entry.get("top5"), "challenge_error": entry.get("challenge_error")})
    return pd.DataFrame(rows, columns=PUBLISHED_COLUMNS)
