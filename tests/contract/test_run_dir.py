"""The run-directory names and status.json words as jobs write them today."""

from __future__ import annotations

from contract.run_dir import ErrorKind, StatusState


def test_status_states_and_error_kinds_are_the_words_in_status_json():
    assert [s.value for s in StatusState] == ["running", "completed", "failed", "checkpointed"]
    assert [k.value for k in ErrorKind] == ["exception", "nan_loss", "bad_config", "bad_data", "rank_lost"]
    assert {"state": StatusState.FAILED, "error_kind": ErrorKind.RANK_LOST} == {"state": "failed",
                                                                                "error_kind": "rank_lost"}


def test_the_status_writer_accepts_the_same_words():
    from model.engine.reporting import ERROR_KINDS, STATES

    assert tuple(StatusState) == STATES and tuple(ErrorKind) == ERROR_KINDS
