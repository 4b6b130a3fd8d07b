"""Run jobs as local subprocesses through submitit's LocalExecutor (laptops, the demo).

submitit's local controller (``python -m submitit.local._local``) outlives the Python
process that started it, and its pid is the job id. A watcher started later (another
``python -m orchestrator watch``) therefore cannot poll a ``Popen``: it observes the pid in
``/proc`` and the result pickle instead. A pid is only trusted while its command line is
still submitit's controller, so a recycled pid is not mistaken for our job.

The local controller implements the same timeout protocol as SLURM (USR2 ``signal_delay_s``
before ``timeout_min``, ``checkpoint()``, restart), so a Checkpointable job behaves alike.

Warm start: a job of a built-in kind (``jobs.<kind>``, on the CPU) spends 2-3.5 s importing
torch before its first step, and a demo job lasts 3-25 s. The executor therefore starts one
warm interpreter (``warm_server``) that imports torch and the job modules once, and has the
controller start its tasks through ``warm_client``, which asks that server for a forked child
(and starts the task plainly while the server is not ready, or gone). The controller, its
signals, the result pickle and the job's code are the same either way.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Sequence

import submitit

from contract.states import JobState, ObservedState

from .base import ResourceRequest, SchedulerObservation, SubmittedAttempt, attempt_log_folder
from .outcome import last_error_line, read_process_outcome
from .registry import is_builtin_kind, job_entry
from .warm_server import DEFAULT_PRELOAD

LOGGER = logging.getLogger(__name__)
_CONTROLLER_MODULE = b"submitit.local._local"


class LocalProcessExecutor:
    """One process per job on this machine; concurrency is bounded by the watcher."""

    backend = "local"

    def __init__(self, signal_delay_s: int = 30, warm_start: bool = True,
                 warm_for: Callable[[str], bool] = is_builtin_kind,
                 warm_preload: Sequence[str] = DEFAULT_PRELOAD) -> None:
        self._signal_delay_s = signal_delay_s
        # Controllers started by this process: polled (and reaped) through their Popen.
        self._children: dict[str, subprocess.Popen] = {}
        self._warm = WarmInterpreter(warm_preload) if warm_start else None
        self._warm_for = warm_for

    def submit(self, kind: str, run_dir: Path, resources: ResourceRequest, attempt_number: int,
               job_name: str) -> SubmittedAttempt:
        entry = job_entry(kind)
        folder = attempt_log_folder(run_dir, attempt_number)
        folder.mkdir(parents=True, exist_ok=True)
        executor = submitit.LocalExecutor(folder=folder, python=self._python_for(kind, resources))
        if resources.nodes > 1:
            LOGGER.warning("%s asks for %d nodes; the local executor runs it on one", job_name, resources.nodes)
        if not resources.gpus_per_node and (resources.tasks_per_node or 1) > 1:
            # One process would silently run the steps with other BN groups than planned.
            raise ValueError(f"{job_name} asks for {resources.tasks_per_node} tasks per node on the CPU; "
                             "the local executor runs one process per CPU job: use cluster=slurm")
        executor.update_parameters(
            timeout_min=resources.timeout_min,
            tasks_per_node=resources.effective_tasks_per_node if resources.gpus_per_node else 1,
            gpus_per_node=resources.gpus_per_node,
            signal_delay_s=self._signal_delay_s,
        )
        with _interruptible_children():
            job = executor.submit(entry(run_dir))
        if job._process is not None:  # noqa: SLF001 -- submitit keeps the Popen there
            self._children[str(job.job_id)] = job._process
            job._cancel_at_deletion = False
        return SubmittedAttempt(scheduler_id=str(job.job_id), backend=self.backend, log_folder=folder)

    @property
    def warm_interpreter(self) -> "WarmInterpreter | None":
        return self._warm

    def _python_for(self, kind: str, resources: ResourceRequest) -> str | None:
        """The interpreter command of the job's tasks: through the warm interpreter for a
        CPU job of a kind it has imported, else submitit's default (this Python)."""
        if self._warm is None or resources.gpus_per_node or not self._warm_for(kind):
            return None
        return self._warm.python_command()

    def close(self) -> None:
        """Stop the warm interpreter once its running tasks end (it also ends by itself
        when this process is gone and no task is left)."""
        if self._warm is not None:
            self._warm.stop()

    def observe(self, attempts: Sequence[SubmittedAttempt]) -> dict[str, SchedulerObservation]:
        return {attempt.scheduler_id: self._observe_one(attempt) for attempt in attempts}

    def _observe_one(self, attempt: SubmittedAttempt) -> SchedulerObservation:
        if self._controller_alive(attempt.scheduler_id):
            return SchedulerObservation(state=JobState.RUNNING.value, raw_state="alive", node=os.uname().nodename)
        outcome = read_process_outcome(attempt.log_folder, attempt.scheduler_id)
        if outcome.kind == "success":
            return SchedulerObservation(state=JobState.COMPLETED.value, raw_state="exited")
        if outcome.kind == "error":
            return SchedulerObservation(state=JobState.FAILED.value, raw_state="exited", reason=last_error_line(outcome.message))
        return SchedulerObservation(state=ObservedState.VANISHED.value, raw_state="no process, no result",
                                    reason=f"local controller {attempt.scheduler_id} is gone without a result")

    def wait_for_exit(self, timeout_s: float) -> None:
        """Sleep up to ``timeout_s``; return early when a controller started here exits.

        The watcher sleeps here between polls, so a finished job is seen (and its dependents
        submitted) within 0.1 s rather than at the next poll. An exited child is forgotten:
        from then on ``_controller_alive`` asks ``/proc``, where a reaped pid is gone.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            exited = [pid for pid, child in self._children.items() if child.poll() is not None]
            for pid in exited:
                del self._children[pid]
            remaining = deadline - time.monotonic()
            if exited or remaining <= 0:
                return
            time.sleep(min(0.1, remaining))

    def _controller_alive(self, pid: str) -> bool:
        child = self._children.get(pid)
        if child is not None:
            if child.poll() is None:
                return True
            del self._children[pid]
            return False
        return is_local_controller(pid)

    def cancel(self, attempt: SubmittedAttempt, grace_s: float = 5.0) -> None:
        """SIGINT to the controller: it forwards INT, then KILL, to the job's tasks. A
        controller still there after `grace_s` (one started with SIGINT ignored by an older
        version, or hung) is killed with its tasks: cancel must stop the job."""
        if not self._controller_alive(attempt.scheduler_id):
            return
        try:
            os.kill(int(attempt.scheduler_id), signal.SIGINT)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + grace_s
        while self._controller_alive(attempt.scheduler_id):
            if time.monotonic() > deadline:
                LOGGER.warning("local controller %s ignored SIGINT for %.0f s; killing it and its tasks",
                               attempt.scheduler_id, grace_s)
                self.kill(attempt)
                return
            time.sleep(0.05)

    def kill(self, attempt: SubmittedAttempt) -> None:
        """SIGKILL the controller and its tasks without checkpoint (used to simulate a lost job)."""
        for pid in [attempt.scheduler_id, *_child_pids(attempt.scheduler_id)]:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass


class WarmInterpreter:
    """The warm server of this process (started at the first warm job) and the command that
    reaches it. A CUDA job never comes here: a forked CUDA context is unusable."""

    CLIENT = Path(__file__).with_name("warm_client.py")
    #: A server that keeps dying is not started again and again: after this many, plain starts.
    MAX_STARTS = 3

    def __init__(self, preload: Sequence[str]) -> None:
        self._preload = list(preload)
        self._process: subprocess.Popen | None = None
        self._socket: Path | None = None
        self._starts = 0

    def python_command(self) -> str | None:
        """The command that reaches the server (starting it if needed); None once it failed
        ``MAX_STARTS`` times (the tasks then start plainly, as the client would anyway)."""
        if self._process is None or self._process.poll() is not None:
            if self._starts >= self.MAX_STARTS:
                return None
            if self._process is not None:
                LOGGER.warning("the warm interpreter exited (%s); starting another (log: %s)",
                               self._process.returncode, self.log_path)
            self._start()
        assert self._socket is not None
        # -I: the client imports the standard library only, never a module beside it.
        return " ".join(shlex.quote(part) for part in (
            sys.executable, "-I", str(self.CLIENT), "--socket", str(self._socket), "--"))

    def _start(self) -> None:
        self._starts += 1
        folder = Path(tempfile.mkdtemp(prefix="orchestrator-warm-"))  # 0700, a short path
        self._socket = folder / "socket"
        with open(folder / "server.log", "ab") as log, _interruptible_children():
            self._process = subprocess.Popen(
                [sys.executable, "-m", "orchestrator.executors.warm_server", "--socket", str(self._socket),
                 "--owner-pid", str(os.getpid()), "--remove-folder", "--preload", *self._preload],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        LOGGER.debug("warm interpreter pid %d on %s", self._process.pid, self._socket)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
        self._process = None  # a later warm job starts a new one
        self._starts = 0

    def wait_ready(self, timeout_s: float) -> bool:
        """Start the server if needed and wait until it answers (tests, benchmarks)."""
        if self.python_command() is None:
            return False
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._socket is not None and self._socket.exists():
                return True
            time.sleep(0.05)
        return False

    @property
    def log_path(self) -> Path | None:
        return None if self._socket is None else self._socket.with_name("server.log")


@contextlib.contextmanager
def _interruptible_children() -> Iterator[None]:
    """Start children with SIGINT at its default, even from a process that ignores it.

    A process started in the background by a non-interactive shell (`nohup ... &`, CI
    runners) ignores SIGINT, and an ignored signal stays ignored across exec: submitit's
    controller would then ignore the SIGINT that `cancel` sends it. A Python handler, unlike
    SIG_IGN, is reset to the default on exec, so one is installed for the moment of the spawn.
    """
    try:
        ignored = signal.getsignal(signal.SIGINT) == signal.SIG_IGN
        if ignored:
            signal.signal(signal.SIGINT, signal.default_int_handler)
    except ValueError:  # not the main thread: leave the disposition alone
        ignored = False
    try:
        yield
    finally:
        if ignored:
            signal.signal(signal.SIGINT, signal.SIG_IGN)


def is_local_controller(pid: str) -> bool:
    """True while ``pid`` is a live (non-zombie) submitit local controller."""
    proc = Path("/proc") / str(pid)
    try:
        stat = (proc / "stat").read_text()
        cmdline = (proc / "cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    state = stat.rsplit(")", 1)[-1].split()[0]
    return state not in ("Z", "X") and _CONTROLLER_MODULE in cmdline


def _child_pids(pid: str) -> list[str]:
    try:
        return (Path("/proc") / pid / "task" / pid / "children").read_text().split()
    except OSError:
        return []
