"""The report's published numbers as a DataFrame for the leaderboard page.

The rows come from ``orchestrator.views.published`` (the ``published:`` lists of
``configs/experiment/*.yaml``), the same source as ``python -m orchestrator leaderboard``: Table 2
(AVA val/test mAP) and Sec. 3 / Table 3 (Kinetics top-1/top-5, the K700 ensemble's challenge
error). They are never mixed into the ranking of our runs.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pandas as pd

from orchestrator.views.published import PUBLISHED_SOURCE, published_rows

__all__ = ["published_reference", "PUBLISHED_SOURCE", "PUBLISHED_COLUMNS"]

PUBLISHED_COLUMNS = ["source", "task", "model", "dataset", "frame_map", "test_map", "top1", "top5",
                     "challenge_error"]


@functools.lru_cache(maxsize=4)
def published_reference(config_dir: Path | None = None) -> pd.DataFrame:
    """Reference rows (columns `PUBLISHED_COLUMNS`), scores in percent as printed in the report."""
    rows = [{column: getattr(row, column) for column in PUBLISHED_COLUMNS} for row in published_rows(None, config_dir)]
    return pd.DataFrame(rows, columns=PUBLISHED_COLUMNS)
