"""Kinetics metrics against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from model.eval.kinetics import KineticsInputError, aggregate_views, challenge_metrics, softmax, topk_accuracy


def test_aggregate_views_is_mean_softmax_per_video():
    logits = np.array([[2.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 5.0]])
    videos, probs = aggregate_views(logits, np.array(["b", "b", "a"]), kind="logits")
    assert videos.tolist() == ["a", "b"]
    e2 = np.exp(2.0)
    expected_b = (np.array([e2, 1, 1]) + np.array([1, e2, 1])) / (e2 + 2) / 2
    np.testing.assert_allclose(probs[1], expected_b, rtol=1e-12)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)


def test_mean_of_softmax_differs_from_softmax_of_mean_logits():
    logits = np.array([[10.0, 0.0], [0.0, 1.0]])
    _, probs = aggregate_views(logits, np.array([0, 0]), kind="logits")
    assert not np.allclose(probs[0], softmax(logits.mean(axis=0)))


def test_probabilities_are_checked_not_guessed():
    with pytest.raises(KineticsInputError, match="row 1 is not a probability"):
        aggregate_views(np.array([[0.5, 0.5], [2.0, 1.0]]), np.array([0, 1]), kind="probabilities")
    _, probs = aggregate_views(np.array([[0.25, 0.75], [0.75, 0.25]]), np.array([3, 3]), kind="probabilities")
    np.testing.assert_allclose(probs, [[0.5, 0.5]])
    with pytest.raises(KineticsInputError, match="kind"):
        aggregate_views(np.eye(2), np.array([0, 1]), kind="scores")
    with pytest.raises(KineticsInputError, match="video_index"):
        aggregate_views(np.eye(2), np.array([0]), kind="logits")


def test_topk_and_challenge_metric():
    # 4 videos, 6 classes; labels ranked 1st, 2nd, 6th and 5th by their video's scores.
    probs = np.array([
        [0.5, 0.1, 0.1, 0.1, 0.1, 0.1],
        [0.4, 0.3, 0.1, 0.1, 0.05, 0.05],
        [0.3, 0.25, 0.2, 0.15, 0.07, 0.03],
        [0.3, 0.25, 0.2, 0.15, 0.07, 0.03],
    ])
    labels = np.array([0, 1, 5, 4])
    assert topk_accuracy(probs, labels, 1) == 0.25
    assert topk_accuracy(probs, labels, 5) == 0.75
    m = challenge_metrics(probs, labels)
    assert m["top1"] == 0.25 and m["top5"] == 0.75
    assert m["top1_error"] == 0.75 and m["top5_error"] == 0.25
    assert m["challenge_error"] == pytest.approx(0.5)
    assert m["per_class_accuracy"] == {0: 1.0, 1: 0.0, 4: 0.0, 5: 0.0}
    assert m["mean_class_accuracy"] == 0.25


def test_bad_labels_are_rejected():
    with pytest.raises(KineticsInputError, match="labels must lie"):
        challenge_metrics(np.full((2, 3), 1 / 3), np.array([0, 3]))
    with pytest.raises(KineticsInputError, match="non-finite"):
        topk_accuracy(np.array([[np.nan, 1.0]]), np.array([0]), 1)
