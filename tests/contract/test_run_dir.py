"""The run-directory names and status.json words as jobs write them today."""

from __future__ import annotations

from contract.run_dir import ErrorKind, StatusState


def test_status_states_and_error_kinds_are_the_words_in_status_json():
    assert [s.value for s in StatusState] == ["running", "completed", "failed", "checkpointed"]
    assert [k.value for k in ErrorKind] == ["exception", "nan_loss", "bad_config", "bad_data", "rank_lost"]
    assert {"state": StatusState.FAILED, "error_kind": ErrorKind.RANK_LOST} == {"state": "failed",
                                                                                "error_kind": "rank_lost"}


def test_the_status_writer_accepts_the_same_words_and_no_others(tmp_path):
    import json

    import pytest

    from model.engine.reporting import StatusWriter

    writer = StatusWriter(tmp_path / "status.json", total_steps=10, attempt=1)
    for state in StatusState:
        kind = ErrorKind.RANK_LOST.value if state == StatusState.FAILED else None
        writer.write(state.value, 3, error_kind=kind)
        assert json.loads((tmp_path / "status.json").read_text())["state"] == state.value
    for kind in ErrorKind:
        writer.write("failed", 3, error_kind=kind.value)
        assert json.loads((tmp_path / "status.json").read_text())["error_kind"] == kind.value
    with pytest.raises(ValueError, match="unknown job state"):
        writer.write("done", 3)
    with pytest.raises(ValueError, match="error_kind"):
        writer.write("failed", 3, error_kind="oops")
