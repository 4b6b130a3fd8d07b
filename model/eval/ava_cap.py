"""The official 50-detections-per-keyframe cap, computed over a stream of detection blocks.

Why streaming: an AVA-val-scale detection file has millions of rows, and holding them all
(plus the sort temporaries) costs more memory than the official evaluator. The cap commutes
with splitting the file: a row with at least 51 strictly higher-scored rows of its keyframe
within one block can never be kept (the official heap's minimum never decreases), so each
block keeps only its 51 best rows per keyframe -- 51, not 50, so that a tie at the cut stays
visible. Keyframes whose final top 51 hold tied scores are resolved by replaying the official
heap over all their rows in file order; when a block had dropped rows of such a keyframe, a
second pass over the stream collects them (never needed with continuous scores).

Rows are dictionaries of equal-length arrays with the keys of :data:`ROW_FIELDS`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd

from model.eval.ava_matching import (
    DETECTIONS_PER_KEYFRAME,
    official_keyframe_order,
    row_tuples,
    segments,
    stable_argsort_ids,
)

__all__ = ["ROW_FIELDS", "KeyframeRanks", "cap_detections"]

ROW_FIELDS = ("rank", "line", "action_id", "score", "y1", "x1", "y2", "x2")
_KEEP = DETECTIONS_PER_KEYFRAME + 1

Rows = dict[str, np.ndarray]


class KeyframeRanks:
    """Rank of each keyframe by first appearance in the stream: the order in which the
    official evaluator's dictionary, and so its per-class concatenation, visits keyframes."""

    def __init__(self) -> None:
        self._index = pd.Index(np.zeros(0, dtype=np.int64))

    def __call__(self, keyframes: np.ndarray) -> np.ndarray:
        uniques = pd.unique(keyframes)
        new = uniques[self._index.get_indexer(uniques) < 0]
        if len(new):
            self._index = self._index.append(pd.Index(new))
        return self._index.get_indexer(keyframes).astype(np.int32)

    def keyframes(self, ranks: np.ndarray) -> np.ndarray:
        """The keyframe codes of ``ranks`` (inverse of calling the object)."""
        return self._index.to_numpy()[ranks]


def _take(rows: Rows, index: np.ndarray) -> Rows:
    return {k: v[index] for k, v in rows.items()}


def take_consuming(rows: Rows, index: np.ndarray) -> Rows:
    """``_take`` that frees each source column as soon as it is indexed (peak: one column)."""
    out = {}
    for key in list(rows):
        out[key] = rows.pop(key)[index]
    return out


def _concat(parts: list[Rows]) -> Rows:
    return {k: np.concatenate([p[k] for p in parts]) for k in ROW_FIELDS}


def _in_keyframe_then_score_order(rank: np.ndarray, score: np.ndarray) -> bool:
    """Whether rows already run by keyframe rank, then descending score: the concatenated
    block candidates of a file whose keyframes are contiguous (the usual layout)."""
    if len(rank) < 2:
        return True
    step = rank[1:].astype(np.int64) - rank[:-1]
    if (step < 0).any():
        return False
    same = step == 0
    return not (same & (score[1:] > score[:-1])).any()


def _by_keyframe_then_score(rank: np.ndarray, score: np.ndarray) -> np.ndarray:
    """Order by keyframe rank, then descending score (ties in any order: they are replayed).
    NaN scores (refused upstream on label-map rows) would break the order check, so it is
    only an early exit for input that is plainly in order."""
    if _in_keyframe_then_score_order(rank, score):
        return np.arange(len(rank))
    by_score = np.argsort(score)[::-1]
    return by_score[stable_argsort_ids(rank[by_score])]


def _ranked(rows: Rows) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``order``, then rank, position within keyframe and tie-with-previous along it."""
    order = _by_keyframe_then_score(rows["rank"], rows["score"])
    r, s = rows["rank"][order], rows["score"][order]
    _, within = segments(r)
    tie = np.zeros(len(order), dtype=bool)
    tie[1:] = (r[1:] == r[:-1]) & (s[1:] == s[:-1])
    return order, r, within, tie


def _block_candidates(rows: Rows) -> tuple[Rows, np.ndarray]:
    """A block's 51 best rows per keyframe (all rows of keyframes with tied scores), and the
    ranks of keyframes that lost rows."""
    order, r, within, tie = _ranked(rows)
    keep = within < _KEEP
    tied = np.unique(r[tie])
    if len(tied):
        keep |= np.isin(r, tied)
    return _take(rows, order[keep]), np.unique(r[~keep])


def _replay(rows: Rows) -> tuple[Rows, np.ndarray]:
    """Official heap over each keyframe's rows in file order: kept rows and their positions."""
    order = np.lexsort((rows["line"], rows["rank"]))
    rows = _take(rows, order)
    tuples = row_tuples(rows, np.arange(len(order)))
    starts, _ = segments(rows["rank"])
    kept, position = [], []
    for s, e in zip(starts.tolist(), np.append(starts[1:], len(order)).tolist()):
        chosen = official_keyframe_order(tuples[s:e], DETECTIONS_PER_KEYFRAME)
        kept.append(s + np.asarray(chosen, dtype=np.int64))
        position.append(np.arange(len(chosen)))
    index = np.concatenate(kept) if kept else np.zeros(0, dtype=np.int64)
    return _take(rows, index), np.concatenate(position) if position else np.zeros(0, dtype=np.int64)


def _whole_keyframes(blocks: Iterator[Rows]) -> Iterator[Rows]:
    """The same rows, with each block's rows of its last keyframe moved to the next block.

    Blocks are cut by bytes, so a keyframe usually straddles two of them; moving its rows
    keeps the concatenated candidates in keyframe order when the file's keyframes are
    contiguous, and the final ordering is then only a check. Any regrouping of rows into
    blocks gives the same cap (see the module docstring), so this is never wrong, only
    sometimes useless.
    """
    carry: Rows | None = None
    for block in blocks:
        if carry is not None:
            block = _concat([carry, block])
        if not len(block["rank"]):
            carry = block
            continue
        rank = block["rank"]
        tail = rank == rank[-1]
        start = int(np.argmax(tail))
        if tail[start:].all():  # the usual case: the keyframe's rows end the block
            carry = {k: v[start:] for k, v in block.items()}
            head = {k: v[:start] for k, v in block.items()}
        else:
            carry, head = _take(block, np.flatnonzero(tail)), _take(block, np.flatnonzero(~tail))
        if len(head["rank"]):
            yield head
    if carry is not None and len(carry["rank"]):
        yield carry


def cap_detections(stream: Callable[[], Iterator[Rows]]) -> Rows:
    """Rows the official ``read_csv(..., capacity=50)`` keeps, in its output order: keyframes by
    first appearance, then its within-keyframe order. ``stream()`` yields filtered row blocks
    (label-map ids only, excluded keyframes removed) with ``rank`` from one
    :class:`KeyframeRanks`; it is called a second time only for tied keyframes that lost rows.
    """
    parts, lost = [], []
    for block in _whole_keyframes(stream()):
        candidates, dropped = _block_candidates(block)
        parts.append(candidates)
        lost.append(dropped)
    if not parts:
        return {k: np.zeros(0, dtype=np.float64 if k in ("score", "y1", "x1", "y2", "x2") else np.int32)
                for k in ROW_FIELDS}
    rows = {}
    for key in ROW_FIELDS:  # column by column, freeing the blocks' copies as we go
        rows[key] = np.concatenate([p.pop(key) for p in parts])
    del parts
    lost_ranks = np.unique(np.concatenate(lost))
    order, r, within, tie = _ranked(rows)
    replay = np.unique(r[tie & (within < _KEEP)])
    del tie
    plain = within < DETECTIONS_PER_KEYFRAME
    if not len(replay):
        del r, within
        return take_consuming(rows, order[plain])
    plain &= ~np.isin(r, replay)
    capped_pos = within[plain]
    replay_candidates = _take(rows, np.flatnonzero(np.isin(rows["rank"], replay)))
    del r, within
    capped = take_consuming(rows, order[plain])
    del order, plain
    incomplete = np.intersect1d(replay, lost_ranks)
    sources = [_take(replay_candidates, np.flatnonzero(~np.isin(replay_candidates["rank"], incomplete)))]
    if len(incomplete):
        sources += [_take(block, np.flatnonzero(np.isin(block["rank"], incomplete))) for block in stream()]
    replayed, replayed_pos = _replay(_concat(sources))
    merged = _concat([capped, replayed])
    position = np.concatenate([capped_pos, replayed_pos])
    return _take(merged, np.lexsort((position, merged["rank"])))
