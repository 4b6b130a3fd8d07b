"""`python -m orchestrator`: start-up cost, exit codes, and the read-only commands on a real
database (both SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from orchestrator.cli import COMMANDS, main
from orchestrator.db import head_revision, make_engine

REPO_ROOT = Path(__file__).resolve().parents[2]
HEAVY_MODULES = ("torch", "pandas", "streamlit", "numpy")


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)


def test_cli_import_and_help_do_not_pull_heavy_modules():
    probe = _python(
        "import sys\nfrom orchestrator.cli import main\n"
        "code = main(['--help'])\n"
        f"print(code, sorted(m for m in {HEAVY_MODULES!r} if m in sys.modules))")
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip().splitlines()[-1] == "0 []"


def test_status_does_not_pull_heavy_modules(seeded_db):
    probe = _python(
        "import sys\nfrom orchestrator.cli import main\n"
        f"code = main(['status', '--json', '--db-url', {seeded_db.url!r}])\n"
        f"print(code, sorted(m for m in {HEAVY_MODULES!r} if m in sys.modules))")
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip().splitlines()[-1] == "0 []"


def test_python_dash_m_runs_and_every_command_has_help():
    result = subprocess.run([sys.executable, "-m", "orchestrator", "--help"], cwd=REPO_ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for name in COMMANDS:
        assert name in result.stdout
    for name in ("status", "leaderboard", "logs", "db", "dashboard", "export"):
        assert main([name, "--help"]) == 0


def test_usage_errors_exit_2(capsys):
    assert main([]) == 2
    assert main(["no-such-command"]) == 2
    assert main(["status", "--no-such-flag"]) == 2


def test_status_json_reports_states_attempts_progress_and_key_metric(seeded_db, capsys):
    assert main(["status", seeded_db.ava_experiment, "--json", "--db-url", seeded_db.url]) == 0
    rows = {row["job"]: row for row in json.loads(capsys.readouterr().out)}
    assert len(rows) == 7
    ensemble = rows["ensemble.val"]
    assert (ensemble["state"], ensemble["attempts"], ensemble["key_metric"]) == ("COMPLETED", 1, "val/frame_map")
    assert ensemble["key_metric_value"] == pytest.approx(0.334)
    running = rows["finetune_ava.trainval.sf16x8_ctx"]
    assert (running["state"], running["progress_step"], running["progress_total"]) == ("RUNNING", 40, 100)
    # 40 steps in the 9 minutes since the attempt started -> 60 steps left at that rate: 13.5 min.
    assert running["eta_seconds"] == pytest.approx(60 * 540 / 40, rel=0.05)
    assert rows["pretrain_k600.sf8x8"]["key_metric"] is None


def test_status_table_renders(seeded_db, capsys):
    assert main(["status", "--db-url", seeded_db.url]) == 0
    out = capsys.readouterr().out
    assert "ensemble.val" in out and "COMPLETED" in out and "33.40%" in out


def test_status_shows_the_corrupt_metrics_lines_ingest_skipped(seeded_db, session_factory, capsys):
    from sqlalchemy import select

    from orchestrator.db import Job, session_scope
    from orchestrator.ingest import ingest_job

    with session_scope(session_factory) as session:
        job = session.scalars(select(Job).where(Job.name == "finetune_ava.trainval.sf16x8_ctx")).one()
        metrics_file = Path(job.run_dir) / "metrics.jsonl"
        good_lines = metrics_file.read_text().count("\n")
        with metrics_file.open("a") as handle:
            handle.write('{"step": 41, "split": "train", "name": "loss", "value": NaN}\n')
            handle.write('{"step": 42, "split": "train", "name": "loss", "value": 0.5}\n')
        ingest_job(session, job)
    assert main(["status", seeded_db.ava_experiment, "--json", "--db-url", seeded_db.url]) == 0
    row = {row["job"]: row for row in json.loads(capsys.readouterr().out)}["finetune_ava.trainval.sf16x8_ctx"]
    assert (row["metrics_corrupt_lines"], row["metrics_corrupt_first"]) == (1, [good_lines + 1])
    assert main(["status", seeded_db.ava_experiment, "--db-url", seeded_db.url]) == 0
    out = capsys.readouterr().out
    assert (f"finetune_ava.trainval.sf16x8_ctx: 1 corrupt metrics.jsonl line(s) skipped (line {good_lines + 1})"
            in out)


def test_status_of_an_unknown_experiment_exits_2(seeded_db, capsys):
    assert main(["status", "nope", "--db-url", seeded_db.url]) == 2
    assert "no experiment 'nope'" in capsys.readouterr().err


def test_leaderboard_orders_ava_by_frame_map_and_kinetics_by_challenge_error(seeded_db, capsys):
    assert main(["leaderboard", "--json", "--db-url", seeded_db.url]) == 0
    boards = json.loads(capsys.readouterr().out)
    assert [row["job"] for row in boards["ava"]] == [
        "ensemble.val", "evaluate.val.sf16x8_ctx", "evaluate.val.sf8x8", "evaluate.val.fast32x2"]
    assert boards["ava"][0]["is_ensemble"] and not boards["ava"][1]["is_ensemble"]
    kinetics = boards["kinetics"]
    assert [row["job"] for row in kinetics] == ["ensemble.val.k700", "evaluate.val.sf8x8_k700",
                                                "evaluate.val.fast32x2_k700"]
    # (1 - 0.79 + 1 - 0.94) / 2
    assert kinetics[0]["challenge_error"] == pytest.approx(0.135)
    assert main(["leaderboard", "--task", "ava", "--db-url", seeded_db.url]) == 0
    out = capsys.readouterr().out
    assert "33.40" in out and "Kinetics" not in out


def test_logs_prints_the_attempt_files(seeded_db, capsys):
    run_dir = seeded_db.runs_root / seeded_db.ava_experiment / "ensemble.val"
    folder = run_dir / "logs" / "attempt_001"
    folder.mkdir(parents=True)
    (folder / "4242_0_log.out").write_text("step 1\nstep 2\nfinal line\n")
    (folder / "4242_0_log.err").write_text("a warning\n")
    reference = f"{seeded_db.ava_experiment}/ensemble.val"
    assert main(["logs", reference, "--db-url", seeded_db.url]) == 0
    out = capsys.readouterr().out
    assert "final line" in out and "a warning" in out
    assert main(["logs", reference, "--tail", "1", "--db-url", seeded_db.url]) == 0
    out = capsys.readouterr().out
    assert "final line" in out and "step 1" not in out
    assert main(["logs", reference, "--attempt", "5", "--db-url", seeded_db.url]) == 2
    assert "no attempt 5" in capsys.readouterr().err
    assert main(["logs", "no/such", "--db-url", seeded_db.url]) == 2
    assert main(["logs", "evaluate.val.sf8x8", "--db-url", seeded_db.url]) == 1  # no log files written
    assert "no log files" in capsys.readouterr().err


def test_database_problems_exit_3_with_the_fix(empty_db_url, capsys):
    assert main(["status", "--db-url", empty_db_url]) == 3
    assert "python -m orchestrator db upgrade" in capsys.readouterr().err
    assert main(["db", "current", "--db-url", empty_db_url]) == 3
    assert main(["db", "upgrade", "--db-url", empty_db_url]) == 0
    assert main(["db", "current", "--db-url", empty_db_url]) == 0
    assert f"code head: {head_revision()}" in capsys.readouterr().out
    engine = make_engine(empty_db_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'ffff_newer'"))
    engine.dispose()
    assert main(["status", "--db-url", empty_db_url]) == 3
    assert "newer than this code" in capsys.readouterr().err


def test_unreachable_database_exits_3(capsys):
    assert main(["leaderboard", "--db-url", "postgresql+psycopg://nobody@127.0.0.1:1/none"]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot connect" in err


def test_runs_root_option_places_the_sqlite_file(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("ORCH_DB_URL", raising=False)
    monkeypatch.delenv("ORCH_RUNS_ROOT", raising=False)
    assert main(["--runs-root", str(tmp_path / "runs"), "db", "upgrade"]) == 0
    assert (tmp_path / "runs" / "orchestrator.sqlite").is_file()


def test_dashboard_binds_loopback_unless_told(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'o.sqlite'}"
    assert main(["dashboard", "--print-command", "--db-url", url]) == 0
    command = capsys.readouterr().out
    assert "--server.address 127.0.0.1" in command and "dashboard/app.py" in command
    assert main(["dashboard", "--host", "0.0.0.0", "--db-url", url]) == 2
    assert "--allow-remote" in capsys.readouterr().err
    assert main(["dashboard", "--host", "0.0.0.0", "--allow-remote", "--print-command", "--db-url", url]) == 0
    captured = capsys.readouterr()
    assert "--server.address 0.0.0.0" in captured.out and "warning" in captured.err


def _parsed(argv: list[str]):
    """What `main` hands a command, without running it."""
    import importlib

    from orchestrator.cli import _command_parser, build_parser, parse_command_arguments

    args, rest = build_parser().parse_known_args(argv)
    module = importlib.import_module(f"orchestrator.commands.{args.command}")
    return parse_command_arguments(_command_parser(args.command, module), rest, namespace=args)


@pytest.mark.parametrize("argv", [
    ["submit", "ensemble_ava", "--dry-run", "scale=paper", "cluster=slurm"],
    ["submit", "--dry-run", "ensemble_ava", "scale=paper", "cluster=slurm"],
    ["submit", "ensemble_ava", "scale=paper", "--dry-run", "cluster=slurm"],
    ["submit", "ensemble_ava", "scale=paper", "cluster=slurm", "--dry-run"],
    ["--db-url", "sqlite:///x.sqlite", "submit", "ensemble_ava", "scale=paper", "--dry-run", "cluster=slurm"],
])
def test_submit_flags_may_stand_before_between_or_after_the_overrides(argv):
    args = _parsed(argv)
    assert (args.experiment, args.overrides, args.dry_run) == ("ensemble_ava", ["scale=paper", "cluster=slurm"], True)
    assert args.wait is None and args.record_only is False


def test_submit_options_with_values_and_global_options_between_overrides():
    args = _parsed(["submit", "kinetics_challenge", "scale=demo", "--poll-interval", "5", "cluster=local",
                    "--db-url", "sqlite:///x.sqlite", "--no-wait", "seed=3"])
    assert args.overrides == ["scale=demo", "cluster=local", "seed=3"]
    assert (args.poll_interval, args.db_url, args.wait) == (5.0, "sqlite:///x.sqlite", False)


def test_other_commands_take_flags_on_either_side_of_their_positionals():
    assert _parsed(["status", "--json", "ava"]).experiment == "ava"
    assert _parsed(["watch", "--once", "ava", "--quiet"]).experiment == "ava"
    args = _parsed(["retry", "--wait", "finetune_ava.train.sf8x8", "--experiment", "ava"])
    assert (args.job, args.experiment, args.wait) == ("finetune_ava.train.sf8x8", "ava", True)


def test_dry_run_with_the_flag_before_an_override_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["submit", "ensemble_ava", "--dry-run", "scale=paper"]) == 0
    assert "pretrain" in capsys.readouterr().out
    assert not (tmp_path / "runs").exists()
    assert main(["submit", "ensemble_ava", "--dry-run", "scale=paper", "--no-such-flag"]) == 2
    assert "--no-such-flag" in capsys.readouterr().err


def test_status_shows_the_used_device_hours_beside_the_estimate(seeded_db, session_factory, capsys):
    from sqlalchemy import select

    from orchestrator.db import Job, session_scope

    with session_scope(session_factory) as session:
        jobs = {job.name: job for job in session.scalars(select(Job))}
        pretrain = jobs["pretrain_k600.sf8x8"]
        pretrain.estimate = {"unit": "GPU-h", "device_hours": 56.0, "wall_s": 1575.0, "disk_bytes": 1}
        pretrain.attempts[0].gpu_seconds, pretrain.attempts[0].cpu_seconds = 61 * 3600, 610 * 3600
        ensemble = jobs["ensemble.val"]
        ensemble.estimate = {"unit": "core-h", "device_hours": 0.0, "wall_s": 0.0, "disk_bytes": 1}
        ensemble.attempts[0].gpu_seconds, ensemble.attempts[0].cpu_seconds = 0, 36
    assert main(["status", seeded_db.ava_experiment, "--json", "--db-url", seeded_db.url]) == 0
    rows = {row["job"]: row for row in json.loads(capsys.readouterr().out)}
    assert (rows["pretrain_k600.sf8x8"]["estimate_hours"], rows["pretrain_k600.sf8x8"]["used_gpu_hours"]) == (56.0, 61.0)
    assert rows["ensemble.val"]["used_cpu_hours"] == pytest.approx(0.01)
    assert rows["evaluate.val.sf8x8"]["estimate_hours"] is None  # recorded before estimates
    assert main(["status", seeded_db.ava_experiment, "--db-url", seeded_db.url]) == 0
    out = capsys.readouterr().out
    assert "56.0 GPU-h" in out and "61.0 GPU-h" in out and "0.010 core-h" in out
    assert (f"{seeded_db.ava_experiment}: used 61.0 GPU-hours + 0.010 CPU core-hours of an estimated "
            "56.0 GPU-hours + 0.000 CPU core-hours") in out


def test_logs_of_a_multi_process_job_picks_the_rank(seeded_db, capsys):
    from sqlalchemy import select

    from orchestrator.db import Job, session_scope

    engine = make_engine(seeded_db.url)
    with session_scope(engine) as session:
        job = session.scalars(select(Job).where(Job.name == "ensemble.val")).one()
        job.resources = {**job.resources, "tasks_per_node": 2}
        session.commit()
    engine.dispose()
    folder = seeded_db.runs_root / seeded_db.ava_experiment / "ensemble.val" / "logs" / "attempt_001"
    folder.mkdir(parents=True)
    for rank in (0, 1):
        (folder / f"4242_{rank}_log.out").write_text(f"rank {rank} trains\n")
        (folder / f"4242_{rank}_log.err").write_text(f"rank {rank} warns\n")
    reference = f"{seeded_db.ava_experiment}/ensemble.val"
    assert main(["logs", reference, "--db-url", seeded_db.url]) == 0
    out = capsys.readouterr().out
    assert "rank 0 trains" in out and "rank 0 warns" in out and "rank 1" not in out
    assert main(["logs", reference, "--rank", "1", "--db-url", seeded_db.url]) == 0
    out = capsys.readouterr().out
    assert "rank 1 trains" in out and "rank 1 warns" in out and "rank 0" not in out
    assert main(["logs", reference, "--rank", "2", "--db-url", seeded_db.url]) == 2
    assert f"{reference} has no rank 2: it has ranks 0-1 (2 processes)" in capsys.readouterr().err
    assert main(["logs", "evaluate.val.sf8x8", "--rank", "1", "--db-url", seeded_db.url]) == 2
    assert "has no rank 1: it has rank 0 only (one process)" in capsys.readouterr().err


def test_submit_with_a_db_url_to_a_missing_sqlite_file_says_how_to_create_it(tmp_path, capsys):
    """Only <runs root>/orchestrator.sqlite is created by submit itself: a mistyped --db-url
    must not start a second, empty history; the message names the path and the command."""
    url = f"sqlite:///{tmp_path / 'team.db'}"
    code = main(["submit", "ensemble_ava", "scale=demo", "cluster=local", "--record-only",
                 "--db-url", url, "--runs-root", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 3
    assert str(tmp_path / "team.db") in err and f"db upgrade --db-url {url}" in err
    assert not (tmp_path / "team.db").exists()
    assert main(["db", "upgrade", "--db-url", url]) == 0
    assert main(["submit", "ensemble_ava", "scale=demo", "cluster=local", "--record-only",
                 "--db-url", url, "--runs-root", str(tmp_path / "runs")]) == 0
