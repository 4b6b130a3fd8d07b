"""Failure reporting of the cluster scripts' shared shell functions (no cluster needed)."""

from __future__ import annotations

import subprocess
from pathlib import Path

LIB = Path(__file__).resolve().parents[2] / "scripts" / "slurm" / "lib.sh"


def _bash(script: str, tmp_path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", f"set -euo pipefail; RUN_DIR={tmp_path}; source {LIB}; {script}"],
                          capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)


def test_wait_for_times_out_with_the_daemon_log_tail(tmp_path):
    log = tmp_path / "slurmctld.log"
    log.write_text("".join(f"line {i}\n" for i in range(30)) + "fatal: Unable to bind listen port\n")
    completed = _bash(f"TIMEOUT_S=1; wait_for slurmctld {log} false; echo not reached", tmp_path)
    assert completed.returncode == 1
    assert "slurmctld did not answer within 1s" in completed.stderr
    assert "fatal: Unable to bind listen port" in completed.stderr
    assert "line 5\n" not in completed.stderr  # only the tail
    assert "not reached" not in completed.stdout


def test_a_stale_pid_file_is_not_taken_for_the_daemon(tmp_path):
    # The pid of this bash, which is not slurmd: stop must not kill it.
    completed = _bash("echo $$ > $RUN_DIR/slurmd.pid; touch $RUN_DIR/slurmd.ours; "
                      "daemon_alive slurmd && echo alive || echo stale; stop_daemon slurmd; echo survived",
                      tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == ["stale", "survived"]
    assert not (tmp_path / "slurmd.ours").exists() and not (tmp_path / "slurmd.pid").exists()


def test_daemon_conf_tells_another_clusters_daemons_apart(tmp_path):
    # pid_of_exe must not take a second cluster's slurmd (started with -f, or with SLURM_CONF
    # in its environment) for the one-node cluster's: the repair would then start nothing.
    probes = [
        subprocess.Popen(["bash", "-c", "sleep 30; true", "-f", "/etc/slurm-two-node/slurm.conf"]),
        subprocess.Popen(["bash", "-c", "sleep 30; true"], env={"SLURM_CONF": "/tmp/other/slurm.conf"}),
        subprocess.Popen(["bash", "-c", "sleep 30; true"], env={}),
    ]
    try:
        pids = " ".join(str(probe.pid) for probe in probes)
        completed = _bash(f"for pid in {pids}; do daemon_conf $pid; done", tmp_path)
    finally:
        for probe in probes:
            probe.kill()
            probe.wait()
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.split() == ["/etc/slurm-two-node/slurm.conf", "/tmp/other/slurm.conf",
                                        "/etc/slurm/slurm.conf"]
