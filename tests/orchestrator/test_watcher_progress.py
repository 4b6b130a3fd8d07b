"""The watcher's progress display and ETA."""

from __future__ import annotations

from rich.console import Console

from orchestrator.poll_summary import EtaTracker, PollSummary, RunningJob
from orchestrator.progress import format_eta, render_summary


def test_eta_comes_from_the_observed_step_rate() -> None:
    eta = EtaTracker()
    assert eta.seconds_left(1, 10, 100, clock=0.0) is None  # first sight: no rate yet
    assert eta.seconds_left(1, 20, 100, clock=5.0) == 40.0  # 10 steps in 5 s, 80 left
    assert eta.seconds_left(2, None, 100, clock=5.0) is None
    assert [format_eta(s) for s in (None, 42, 125, 7322)] == ["-", "42s", "2m 05s", "2h 02m"]


def test_display_shows_done_total_running_steps_and_failures() -> None:
    summary = PollSummary(total=34, done=10, failed=[("evaluate.val.sf8x8", "nan_loss: loss is NaN at step 7")],
                          running=[RunningJob("finetune_ava.train.fast32x2", "RUNNING", 12, 48, 90.0),
                                   RunningJob("pretrain.k600.slowfast_16x8", "PENDING", None, None, None, uncertain=True)],
                          waiting=21)
    console = Console(width=160, record=True)
    console.print(render_summary("ensemble_ava", summary))
    text = console.export_text()
    assert "10/34 done, 1 running, 1 queued, 21 waiting, 1 failed" in text
    assert "12/48" in text and "1m 30s" in text
    assert "PENDING?" in text  # an uncertain scheduler answer is shown as such
    assert "FAILED evaluate.val.sf8x8: nan_loss: loss is NaN at step 7" in text
