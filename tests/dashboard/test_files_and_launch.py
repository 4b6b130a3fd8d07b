"""Paths from the database are served only from under the runs root; the launch command
binds 127.0.0.1 and is an argv list (no shell)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from dashboard.files import (UnsafePathError, kinetics_confusion, read_bytes_under_root,
                             resolve_under_root)
from dashboard.launch import APP_PATH, is_loopback, streamlit_command
from dashboard.settings import load_settings


@pytest.fixture
def runs_root(tmp_path):
    root = tmp_path / "runs"
    (root / "exp" / "export" / "submission").mkdir(parents=True)
    (root / "exp" / "export" / "submission" / "test.csv").write_bytes(b"a,b\n")
    (tmp_path / "secret.txt").write_text("not yours")
    return root


def test_relative_and_absolute_paths_inside_the_root_are_served(runs_root):
    assert read_bytes_under_root("exp/export/submission/test.csv", runs_root) == b"a,b\n"
    absolute = runs_root / "exp" / "export" / "submission" / "test.csv"
    assert resolve_under_root(str(absolute), runs_root) == absolute.resolve()


@pytest.mark.parametrize("path", ["../secret.txt", "exp/../../secret.txt", "/etc/passwd"])
def test_paths_leaving_the_root_are_refused(runs_root, path):
    with pytest.raises(UnsafePathError, match="outside the runs root"):
        read_bytes_under_root(path, runs_root)


def test_a_symlink_out_of_the_root_is_refused(runs_root):
    (runs_root / "exp" / "link.txt").symlink_to(runs_root.parent / "secret.txt")
    with pytest.raises(UnsafePathError, match="outside the runs root"):
        read_bytes_under_root("exp/link.txt", runs_root)


def test_a_folder_or_missing_file_is_refused(runs_root):
    with pytest.raises(UnsafePathError, match="not a file"):
        resolve_under_root("exp", runs_root)
    with pytest.raises(UnsafePathError, match="not a file"):
        resolve_under_root("exp/nothing.csv", runs_root)


def test_kinetics_confusion_counts_top_classes_and_other(runs_root):
    labels = np.array([0, 0, 0, 1, 1, 2])
    scores = np.eye(3)[[0, 0, 2, 1, 0, 2]]  # two mistakes: 0->2, 1->0
    np.savez(runs_root / "exp" / "p.npz", probs=scores, labels=labels)
    frame = kinetics_confusion("exp/p.npz", runs_root, top_classes=2)
    cells = {(t, p): n for t, p, n in frame.itertuples(index=False)}
    assert cells == {("class 0", "class 0"): 2, ("class 0", "other"): 1,
                     ("class 1", "class 1"): 1, ("class 1", "class 0"): 1}


def test_kinetics_confusion_names_a_bad_file(runs_root):
    np.savez(runs_root / "exp" / "bad.npz", probs=np.zeros((3, 2)))
    with pytest.raises(UnsafePathError, match="lacks 'probs' or 'labels'"):
        kinetics_confusion("exp/bad.npz", runs_root)


def test_a_url_from_the_environment_stays_off_the_command_line(monkeypatch):
    secret = "postgresql+psycopg://orch:s3cret@db.example/orch"
    monkeypatch.setenv("ORCH_DB_URL", secret)
    argv = streamlit_command("127.0.0.1", 8501, secret)
    assert not any("s3cret" in arg for arg in argv)
    assert load_settings([]).db_url == secret  # the app still finds it


def test_streamlit_command_binds_loopback_headless_with_a_minimal_toolbar(monkeypatch):
    monkeypatch.delenv("ORCH_DB_URL", raising=False)
    argv = streamlit_command("127.0.0.1", 8765, "sqlite:////x/orchestrator.sqlite", runs_root="/x")
    assert argv[1:4] == ["-m", "streamlit", "run"] and argv[4] == str(APP_PATH)
    flags = dict(zip(argv[5::2], argv[6::2]))
    assert flags["--server.address"] == "127.0.0.1" and flags["--server.port"] == "8765"
    assert flags["--server.headless"] == "true" and flags["--client.toolbarMode"] == "minimal"
    assert argv[argv.index("--") + 1:] == ["--db-url", "sqlite:////x/orchestrator.sqlite", "--runs-root", "/x"]
    assert load_settings(argv[argv.index("--") + 1:]).db_url == "sqlite:////x/orchestrator.sqlite"
    with pytest.raises(ValueError, match="port"):
        streamlit_command("127.0.0.1", 70000, None)


def test_loopback_detection():
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")


def test_settings_fall_back_to_the_orchestrator_resolver(monkeypatch, tmp_path):
    monkeypatch.delenv("ORCH_DB_URL", raising=False)
    monkeypatch.setenv("ORCH_RUNS_ROOT", str(tmp_path))
    settings = load_settings([])
    assert settings.db_url == f"sqlite:///{tmp_path / 'orchestrator.sqlite'}"
    assert settings.runs_root == tmp_path


def test_the_launcher_refuses_a_remote_host_and_prints_streamlits_command(monkeypatch, capsys):
    from dashboard.launch import main

    monkeypatch.delenv("ORCH_DB_URL", raising=False)
    assert main(["--host", "0.0.0.0", "--print-command"]) == 2
    assert "--allow-remote" in capsys.readouterr().err
    assert main(["--port", "8765", "--db-url", "sqlite:////x/o.sqlite", "--runs-root", "/x", "--print-command"]) == 0
    printed = capsys.readouterr().out
    assert "--server.address 127.0.0.1" in printed and "--server.port 8765" in printed
    assert printed.rstrip().endswith("-- --db-url sqlite:////x/o.sqlite --runs-root /x")


def test_the_cli_runs_the_launcher_as_its_own_process(monkeypatch, tmp_path):
    """argv, no shell; the repository root on PYTHONPATH so `-m dashboard.launch` imports this
    checkout from any directory; the URL kept off the command line when it is in the environment."""
    import subprocess

    from orchestrator.cli import main
    from orchestrator.commands.dashboard import REPO_ROOT

    url = f"sqlite:///{tmp_path / 'o.sqlite'}"
    calls = []

    class Launcher:
        def __init__(self, argv, **kwargs):
            calls.append((argv, kwargs))

        def wait(self):
            return 0

    monkeypatch.setattr(subprocess, "Popen", Launcher)
    monkeypatch.setenv("ORCH_DB_URL", url)
    assert main(["dashboard", "--port", "8600"]) == 0
    (argv, kwargs), = calls
    assert argv[1:3] == ["-m", "dashboard.launch"] and "shell" not in kwargs
    assert argv[argv.index("--host") + 1] == "127.0.0.1" and argv[argv.index("--port") + 1] == "8600"
    assert url not in argv
    assert kwargs["env"]["PYTHONPATH"].split(os.pathsep)[0] == str(REPO_ROOT)
