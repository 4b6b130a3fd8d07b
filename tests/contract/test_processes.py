"""contract.processes.process_is_gone on real processes: running, zombie, reaped."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from contract.processes import process_is_gone


def test_a_running_process_is_not_gone():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        assert not process_is_gone(child.pid)
        assert not process_is_gone(os.getpid())
    finally:
        child.kill()
        child.wait()


def test_an_exited_unreaped_child_is_gone_though_signal_zero_reaches_it():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    while not process_is_gone(child.pid):  # exits, stays a zombie: nobody has waited for it yet
        assert time.monotonic() < deadline, f"child {child.pid} neither ran to its end nor was seen as gone"
        time.sleep(0.05)
    os.kill(child.pid, 0)  # the zombie still exists for kill(): the case this function is for
    assert child.poll() == 0


def test_a_reaped_process_is_gone():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert process_is_gone(child.pid)
