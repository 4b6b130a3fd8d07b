"""Warm start of local jobs: tasks forked from an interpreter that imported their modules
already (orchestrator/executors/warm_server.py, warm_client.py), with real processes,
sockets and signals, and the local executor's timeout protocol through it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from orchestrator.executors import ResourceRequest
from orchestrator.executors.local import LocalProcessExecutor, WarmInterpreter
from tests.orchestrator.dag_support import toy_config
from tests.orchestrator.toy_jobs import COUNTER_KIND, expected_final_value

REPO = Path(__file__).resolve().parents[2]
PROBE = '''
import os, signal, sys, time
print("argv", sys.argv[1:], "cwd", os.getcwd(), "probe", os.environ.get("PROBE"), "ppid", os.getppid(),
      "pid", os.getpid())
print("to stderr", file=sys.stderr)
if sys.argv[1:2] == ["wait"]:
    def stop(signum, frame):
        print("signal", signum, flush=True)
        sys.exit(7)
    signal.signal(signal.SIGUSR2, stop)
    open("ready", "w").close()
    time.sleep(60)
    sys.exit(0)
sys.exit(int(sys.argv[1]))
'''


@pytest.fixture()
def server(tmp_path):
    (tmp_path / "probe_task.py").write_text(PROBE)
    sock = tmp_path / "s"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen([sys.executable, "-m", "orchestrator.executors.warm_server", "--socket", str(sock),
                                "--preload", "json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while not sock.exists():
        assert process.poll() is None and time.monotonic() < deadline, process.stdout.read().decode()
        time.sleep(0.05)
    yield process, sock
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)
    assert not sock.exists()  # a clean stop removes the socket


def _client(sock: Path, tmp_path: Path, *args: str, **popen) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "PROBE": "hello"}
    return subprocess.Popen([sys.executable, "-I", str(WarmInterpreter.CLIENT), "--socket", str(sock), "--",
                             "-u", "-m", "probe_task", *args], cwd=tmp_path, env=env,
                            stdout=open(tmp_path / "out", "w"), stderr=open(tmp_path / "err", "w"), **popen)


def test_a_forked_task_gets_the_clients_streams_arguments_environment_and_exit_status(server, tmp_path):
    process, sock = server
    assert _client(sock, tmp_path, "3", "x y").wait(timeout=30) == 3
    out = (tmp_path / "out").read_text()
    assert f"argv ['3', 'x y'] cwd {tmp_path} probe hello ppid {process.pid}" in out  # forked by the server
    assert (tmp_path / "err").read_text() == "to stderr\n"


def test_signals_reach_the_task_and_a_killed_client_takes_its_task_along(server, tmp_path):
    _, sock = server
    client = _client(sock, tmp_path, "wait")
    _wait_for_file(tmp_path / "ready")
    client.send_signal(signal.SIGUSR2)  # what the local controller sends before a time limit
    assert client.wait(timeout=30) == 7
    assert f"signal {int(signal.SIGUSR2)}" in (tmp_path / "out").read_text()

    (tmp_path / "ready").unlink()
    client = _client(sock, tmp_path, "wait")
    _wait_for_file(tmp_path / "ready")
    task_pid = int((tmp_path / "out").read_text().split()[-1])
    assert not _children(client.pid)  # the task is the server's child, not the client's
    client.kill()
    client.wait(timeout=30)
    deadline = time.monotonic() + 10
    while _alive(task_pid):
        assert time.monotonic() < deadline, "the task outlived its killed client"
        time.sleep(0.05)


def test_without_a_server_or_for_other_arguments_the_task_starts_plainly(server, tmp_path):
    _, sock = server
    client = _client(tmp_path / "no-socket", tmp_path, "4")
    assert client.wait(timeout=30) == 4
    # exec'd in place: the task is the client process itself, a child of this test
    assert f"argv ['4'] cwd {tmp_path} probe hello ppid {os.getpid()} pid {client.pid}" in (tmp_path / "out").read_text()
    # '-c CODE' is not a module run: the server refuses, the client execs the plain interpreter.
    plain = subprocess.run([sys.executable, "-I", str(WarmInterpreter.CLIENT), "--socket", str(sock), "--",
                            "-c", "import os; print(os.getppid())"], capture_output=True, text=True, timeout=30)
    assert plain.returncode == 0 and int(plain.stdout) == os.getpid()


def test_the_local_executor_runs_a_job_warm_through_a_time_limit_and_its_restart(tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.yaml").write_text(yaml.safe_dump(toy_config("counter", total_steps=60, step_seconds=0.1)))
    executor = LocalProcessExecutor(signal_delay_s=3, warm_for=lambda kind: True,
                                    warm_preload=("submitit.core._submit", "tests.orchestrator.toy_jobs"))
    warm = executor.warm_interpreter
    assert warm is not None and warm.wait_ready(60)
    try:
        # 6 s limit, USR2 3 s before it: the counter checkpoints, the controller starts it again.
        handle = executor.submit(COUNTER_KIND, run_dir, ResourceRequest(timeout_min=0.1), 1, "counter")
        deadline = time.monotonic() + 60
        while executor.observe([handle])[handle.scheduler_id].state == "RUNNING":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert executor.observe([handle])[handle.scheduler_id].state == "COMPLETED"
        result = yaml.safe_load((run_dir / "result.json").read_text())
        assert result["final_value"] == expected_final_value(60) and result["resumed_from_step"] > 0
        started = [line for line in warm.log_path.read_text().splitlines() if "started submitit.core._submit" in line]
        assert len(started) >= 2  # the first task and its restarts (one per 3 s), all forked
    finally:
        executor.close()


def test_a_gpu_job_or_a_kind_outside_the_jobs_package_is_not_started_warm():
    executor = LocalProcessExecutor()
    assert executor._python_for("evaluate", ResourceRequest(gpus_per_node=1)) is None  # noqa: SLF001
    assert executor._python_for("tests.orchestrator.toy_jobs:Counter", ResourceRequest()) is None  # noqa: SLF001
    assert executor._python_for(COUNTER_KIND, ResourceRequest()) is None  # noqa: SLF001 -- registered here
    assert LocalProcessExecutor(warm_start=False)._python_for("evaluate", ResourceRequest()) is None  # noqa: SLF001


def _children(pid: int) -> list[str]:
    return (Path("/proc") / str(pid) / "task" / str(pid) / "children").read_text().split()


def _wait_for_file(path: Path) -> None:
    deadline = time.monotonic() + 30
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[-1].split()[0] not in ("Z", "X")
