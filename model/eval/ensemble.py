"""Score averaging over ensemble members (the report's 7-model ensemble).

AVA: the members are run on the same person proposals, so their detection rows can be
matched exactly on (video, second, box at the CSV's 3 decimals, action id); a row present in
one member and absent from another means the members did not share proposals or classes,
which is an error, not a silent zero. Kinetics: mean of the per-video softmax probabilities.
Weights are optional; the default is the equal-weight mean.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from model.eval.ava_io import BOX_COLUMNS, read_ava_csv, validate_frame

__all__ = ["EnsembleError", "ensemble_ava", "ensemble_kinetics"]

BOX_DECIMALS = 3  # the AVA CSV precision
_KEY = ["video_id", "timestamp", "bx1", "by1", "bx2", "by2", "action_id"]


class EnsembleError(ValueError):
    """Members that cannot be averaged; the message names the member and the key."""


def _weights(names: Sequence[str], weights: Mapping[str, float] | Sequence[float] | None) -> np.ndarray:
    if weights is None:
        return np.full(len(names), 1.0 / len(names))
    if isinstance(weights, Mapping):
        unknown = set(weights) - set(names)
        missing = [n for n in names if n not in weights]
        if unknown or missing:
            raise EnsembleError(f"weights do not match members: missing {missing}, unknown {sorted(unknown)}")
        w = np.array([float(weights[n]) for n in names])
    else:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (len(names),):
            raise EnsembleError(f"{len(w)} weights for {len(names)} members")
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise EnsembleError(f"weights must be non-negative with a positive sum, got {w.tolist()}")
    return w / w.sum()


def _ava_member(name: str, source: pd.DataFrame | str | os.PathLike[str]) -> pd.DataFrame:
    frame = (validate_frame(source, f"<member {name}>", scored=True) if isinstance(source, pd.DataFrame)
             else read_ava_csv(source, scored=True))
    keyed = pd.DataFrame({"video_id": frame["video_id"].astype(str), "timestamp": frame["timestamp"]})
    for column in BOX_COLUMNS:
        keyed["b" + column] = np.rint(frame[column].to_numpy() * 10**BOX_DECIMALS).astype(np.int64)
    keyed["action_id"] = frame["action_id"].to_numpy()
    keyed["score"] = frame["score"].to_numpy()
    duplicated = keyed.duplicated(_KEY)
    if duplicated.any():
        raise EnsembleError(f"member {name!r}: row {int(np.flatnonzero(duplicated)[0]) + 1} repeats "
                            f"the key {_describe(keyed.iloc[int(np.flatnonzero(duplicated)[0])])}")
    return keyed


def _describe(row: pd.Series) -> str:
    box = ",".join(f"{row['b' + c] / 10**BOX_DECIMALS:.{BOX_DECIMALS}f}" for c in BOX_COLUMNS)
    return f"(video {row['video_id']}, second {row['timestamp']}, box {box}, action {row['action_id']})"


def ensemble_ava(member_frames: Mapping[str, pd.DataFrame | str | os.PathLike[str]],
                 weights: Mapping[str, float] | Sequence[float] | None = None) -> pd.DataFrame:
    """Weighted mean of the members' AVA detection scores, per (keyframe, box, action).

    Members are detection CSV paths or frames with the columns ``video_id, timestamp, x1, y1,
    x2, y2, action_id, score``. Every member must hold exactly the same keys; the first
    difference raises :class:`EnsembleError` naming the member and the key. The result has
    the detection columns, in the first member's row order, boxes rounded to 3 decimals.
    """
    names = list(member_frames)
    if not names:
        raise EnsembleError("no members to ensemble")
    w = _weights(names, weights)
    reference = _ava_member(names[0], member_frames[names[0]])
    total = reference["score"].to_numpy() * w[0]
    for name, weight in zip(names[1:], w[1:]):
        member = _ava_member(name, member_frames[name])
        joined = reference[_KEY].merge(member, on=_KEY, how="outer", indicator=True, sort=False)
        only_ref = joined["_merge"] == "left_only"
        only_member = joined["_merge"] == "right_only"
        if only_ref.any():
            raise EnsembleError(f"member {name!r} lacks {_describe(joined[only_ref].iloc[0])} "
                                f"that member {names[0]!r} has ({int(only_ref.sum())} keys missing)")
        if only_member.any():
            raise EnsembleError(f"member {name!r} has {_describe(joined[only_member].iloc[0])} "
                                f"that member {names[0]!r} lacks ({int(only_member.sum())} extra keys)")
        aligned = reference[_KEY].merge(member, on=_KEY, how="left", sort=False)
        total = total + aligned["score"].to_numpy() * weight
    out = pd.DataFrame({"video_id": reference["video_id"], "timestamp": reference["timestamp"]})
    for column in BOX_COLUMNS:
        out[column] = reference["b" + column].to_numpy() / 10**BOX_DECIMALS
    out["action_id"] = reference["action_id"]
    out["score"] = total
    return out


def ensemble_kinetics(member_probs: Mapping[str, pd.DataFrame],
                      weights: Mapping[str, float] | Sequence[float] | None = None) -> pd.DataFrame:
    """Weighted mean of per-video probabilities; members are frames indexed by video id with
    one column per class. All members must have the same videos and classes (else
    :class:`EnsembleError` naming the member and the video or class); the result follows the
    first member's row and column order."""
    names = list(member_probs)
    if not names:
        raise EnsembleError("no members to ensemble")
    w = _weights(names, weights)
    reference = member_probs[names[0]]
    for name in names:
        frame = member_probs[name]
        if frame.index.has_duplicates:
            raise EnsembleError(f"member {name!r}: video {frame.index[frame.index.duplicated()][0]!r} appears twice")
    total = reference.to_numpy(dtype=np.float64) * w[0]
    for name, weight in zip(names[1:], w[1:]):
        frame = member_probs[name]
        for what, mine, theirs in (("video", reference.index, frame.index),
                                   ("class", reference.columns, frame.columns)):
            lacking = mine.difference(theirs, sort=False)
            extra = theirs.difference(mine, sort=False)
            if len(lacking):
                raise EnsembleError(f"member {name!r} lacks {what} {lacking[0]!r} ({len(lacking)} missing)")
            if len(extra):
                raise EnsembleError(f"member {name!r} has {what} {extra[0]!r} that {names[0]!r} lacks")
        total = total + frame.loc[reference.index, reference.columns].to_numpy(dtype=np.float64) * weight
    return pd.DataFrame(total, index=reference.index.copy(), columns=reference.columns.copy())
