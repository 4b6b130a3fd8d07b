"""Ensembling: averages aligned scores, refuses members that do not share boxes or classes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from model.eval.ensemble import EnsembleError, ensemble_ava, ensemble_kinetics


def _member(scores, order=None, box_noise=0.0):
    rows = [("vid_a", 902, 0.1, 0.2, 0.5, 0.9, 1), ("vid_a", 902, 0.1, 0.2, 0.5, 0.9, 4),
            ("vid_a", 903, 0.3, 0.2, 0.6, 0.8, 1), ("vid_b", 1500, 0.0, 0.0, 1.0, 1.0, 4)]
    frame = pd.DataFrame(rows, columns=["video_id", "timestamp", "x1", "y1", "x2", "y2", "action_id"])
    frame["x1"] += box_noise
    frame["score"] = scores
    return frame if order is None else frame.iloc[order].reset_index(drop=True)


def test_equal_weights_average_matched_rows_whatever_the_row_order(tmp_path):
    a = _member([0.2, 0.4, 0.6, 0.8])
    b = _member([0.4, 0.0, 0.2, 0.4], order=[3, 2, 1, 0], box_noise=1e-5)  # same boxes at 3 decimals
    path = tmp_path / "b.csv"
    b.to_csv(path, header=False, index=False)
    out = ensemble_ava({"m1": a, "m2": path})
    np.testing.assert_allclose(out["score"], [0.3, 0.2, 0.4, 0.6])
    assert out["video_id"].tolist() == ["vid_a", "vid_a", "vid_a", "vid_b"]


def test_weights_are_normalised():
    out = ensemble_ava({"m1": _member([1.0] * 4), "m2": _member([0.0] * 4)}, weights={"m1": 3, "m2": 1})
    np.testing.assert_allclose(out["score"], 0.75)
    with pytest.raises(EnsembleError, match="missing"):
        ensemble_ava({"m1": _member([1.0] * 4), "m2": _member([0.0] * 4)}, weights={"m1": 1})


def test_missing_class_names_member_and_key():
    b = _member([0.1] * 4).drop(index=1)
    with pytest.raises(EnsembleError, match=r"member 'm2' lacks \(video vid_a, second 902, box 0.100,0.200,0.500,0.900, action 4\)"):
        ensemble_ava({"m1": _member([0.1] * 4), "m2": b})


def test_extra_box_is_an_error_too():
    b = pd.concat([_member([0.1] * 4), _member([0.1] * 4, box_noise=0.05).iloc[[0]]], ignore_index=True)
    with pytest.raises(EnsembleError, match="m2.*has .*box 0.150"):
        ensemble_ava({"m1": _member([0.1] * 4), "m2": b})


def test_kinetics_mean_and_mismatch():
    a = pd.DataFrame([[0.9, 0.1], [0.2, 0.8]], index=["v1", "v2"], columns=["run", "jump"])
    b = pd.DataFrame([[0.4, 0.6], [0.7, 0.3]], index=["v2", "v1"], columns=["jump", "run"])
    out = ensemble_kinetics({"a": a, "b": b})
    np.testing.assert_allclose(out.loc["v1"].to_numpy(), [0.6, 0.4])
    np.testing.assert_allclose(out.loc["v2"].to_numpy(), [0.4, 0.6])
    with pytest.raises(EnsembleError, match="member 'b' lacks video 'v2'"):
        ensemble_kinetics({"a": a, "b": b.drop(index="v2")})
