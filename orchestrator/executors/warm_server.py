"""The warm interpreter: local jobs forked from a process that has imported torch already.

A demo job runs for 3-25 s and spent 2-3.5 s of it importing (``import torch`` 1.7 s,
``torch._dynamo``, which ``torch.optim`` pulls in, 1.6 s more) before its first step. The
local executor starts one server per watcher::

    python -m orchestrator.executors.warm_server --socket SOCKET --owner-pid PID [--preload MOD ...]

It imports the preload modules once, freezes them out of the garbage collector's view, then
serves ``warm_client`` requests on a Unix socket: each request brings the task's standard
streams (as file descriptors), environment, working directory and ``[-u] -m MODULE ARGS``;
the server forks, and the child becomes that task: streams, environment, directory,
``sys.argv``, signal dispositions and random state as a fresh interpreter has them, then
runs the module as ``__main__`` and exits with its status. The server reports the child's
pid and, later, its exit code to the client, and kills the child when its client is gone.

The server is single-threaded (a fork from a threaded process could inherit a held lock);
it ends when its owner (the watcher) is gone and no child is left, or on SIGTERM once its
children end. Only the job's start changes: the job's own code, its files and its results
are those of a plain start (the demo's predictions are byte-identical either way).
"""
from __future__ import annotations

import argparse
import atexit
import gc
import importlib
import io
import logging
import os
import random
import runpy
import selectors
import shutil
import signal
import socket
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from contract.processes import process_is_gone
from orchestrator.executors.warm_client import FORWARDED_SIGNALS, receive_request

LOGGER = logging.getLogger("orchestrator.warm_server")

#: What a job of a built-in kind imports before its first step (``torch._dynamo``: building
#: ``torch.optim.SGD`` imports it).
DEFAULT_PRELOAD = ("torch", "torch._dynamo", "submitit.core.submission", "jobs.pretrain",
                   "jobs.finetune_ava", "jobs.evaluate", "jobs.ensemble", "jobs.export")


class RequestRefused(ValueError):
    """A request this server does not run (the client then starts the task plainly)."""


@dataclass(frozen=True)
class TaskRequest:
    """What a task would have been started with: ``python [-u] -m module args``."""

    module: str
    args: list[str]
    unbuffered: bool
    cwd: str
    env: dict[str, str]

    @classmethod
    def parse(cls, request: dict[str, Any]) -> "TaskRequest":
        if request.get("executable") != sys.executable:
            raise RequestRefused(f"interpreter {request.get('executable')!r} is not {sys.executable!r}")
        argv = [str(a) for a in request.get("argv", [])]
        unbuffered = bool(argv) and argv[0] == "-u"
        rest = argv[1:] if unbuffered else argv
        if len(rest) < 2 or rest[0] != "-m":
            raise RequestRefused(f"only '[-u] -m MODULE ARGS' is served, not {argv!r}")
        return cls(module=rest[1], args=rest[2:], unbuffered=unbuffered, cwd=str(request.get("cwd", "/")),
                   env={str(k): str(v) for k, v in dict(request.get("env", {})).items()})


@dataclass
class _Client:
    conn: socket.socket
    pid: int


@dataclass
class WarmServer:
    socket_path: Path
    owner_pid: int | None = None
    _children: dict[int, _Client] = field(default_factory=dict)
    _stopping: bool = False
    _wake_fds: tuple[int, int] = (-1, -1)
    _listener: Any = None
    _selector: Any = None

    def serve(self) -> None:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(str(self.socket_path))
        listener.listen(16)
        wake_read, wake_write = os.pipe()
        self._wake_fds = (wake_read, wake_write)
        os.set_blocking(wake_write, False)
        os.set_blocking(wake_read, False)
        signal.set_wakeup_fd(wake_write)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGTERM, self._stop)
        selector = selectors.DefaultSelector()
        self._listener, self._selector = listener, selector
        selector.register(listener, selectors.EVENT_READ, "listener")
        selector.register(wake_read, selectors.EVENT_READ, "wake")
        LOGGER.info("serving on %s", self.socket_path)
        try:
            while not self._finished():
                if self._stopping and listener.fileno() >= 0:
                    # New tasks start plainly from now on (their connect fails); ours finish.
                    selector.unregister(listener)
                    listener.close()
                    self.socket_path.unlink(missing_ok=True)
                for key, _ in selector.select(timeout=1.0):
                    if key.data == "listener":
                        self._accept(listener, selector)
                    elif key.data == "wake":
                        _drain(wake_read)
                    elif isinstance(key.data, _Client):
                        self._client_readable(key.data, selector)
                self._reap(selector)
        finally:
            selector.close()
            listener.close()
            self.socket_path.unlink(missing_ok=True)
            LOGGER.info("stopped")

    def _stop(self, *_: Any) -> None:
        self._stopping = True

    def _finished(self) -> bool:
        if self._children:
            return False
        return self._stopping or (self.owner_pid is not None and process_is_gone(self.owner_pid))

    def _accept(self, listener: socket.socket, selector: selectors.BaseSelector) -> None:
        conn, _ = listener.accept()
        fds: list[int] = []
        try:
            conn.settimeout(10.0)
            raw, fds = receive_request(conn)
            if len(fds) != 3:
                raise RequestRefused(f"expected 3 file descriptors, got {len(fds)}")
            task = TaskRequest.parse(raw)
        except (RequestRefused, ConnectionError, OSError, ValueError) as error:
            LOGGER.warning("request refused: %s", error)
            _reply(conn, f"refused {type(error).__name__}\n")
            conn.close()
            for fd in fds:
                os.close(fd)
            return
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            _become_task(task, fds, close=[*self._server_fds(), conn.fileno()])
        for fd in fds:
            os.close(fd)
        client = _Client(conn=conn, pid=pid)
        self._children[pid] = client
        conn.setblocking(False)
        selector.register(conn, selectors.EVENT_READ, client)
        _reply(conn, f"pid {pid}\n")
        LOGGER.info("started %s %s as pid %d", task.module, " ".join(task.args), pid)

    def _server_fds(self) -> list[int]:
        """The server's own descriptors, which a task must not hold."""
        fds = [*self._wake_fds, *(c.conn.fileno() for c in self._children.values())]
        if self._listener.fileno() >= 0:
            fds.append(self._listener.fileno())
        selector_fd = getattr(self._selector, "fileno", None)
        return fds + ([selector_fd()] if selector_fd is not None else [])

    def _client_readable(self, client: _Client, selector: selectors.BaseSelector) -> None:
        try:
            data = client.conn.recv(64)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            return  # clients send nothing after the request
        selector.unregister(client.conn)
        if client.pid in self._children:  # the client is gone before its task: nothing may outlive it
            LOGGER.warning("client of pid %d is gone; killing the task", client.pid)
            try:
                os.kill(client.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def _reap(self, selector: selectors.BaseSelector) -> None:
        while self._children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            client = self._children.pop(pid, None)
            if client is None:
                continue
            code = os.waitstatus_to_exitcode(status)
            LOGGER.info("pid %d exited with %d", pid, code)
            _reply(client.conn, f"exit {code}\n")
            try:
                selector.unregister(client.conn)
            except (KeyError, ValueError):
                pass
            client.conn.close()


def _reply(conn: socket.socket, text: str) -> None:
    try:
        conn.setblocking(True)
        conn.sendall(text.encode())
    except OSError:
        pass  # the client is gone; its task is killed when the connection is seen closed


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass


_FRESH_TORCH_RNG: Any = None  # torch's CPU generator state as `import torch` leaves it


def _become_task(task: TaskRequest, fds: Sequence[int], close: Sequence[int]) -> None:
    """In the forked child: turn into ``python [-u] -m module args`` and exit with its status.
    ``close``: the server's descriptors (listener, wake-up pipe, selector, clients' sockets);
    descriptors the preloaded libraries opened stay open, as in a plain start."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        for signum in (*FORWARDED_SIGNALS, signal.SIGCHLD):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        for target, fd in zip((0, 1, 2), fds):
            os.dup2(fd, target)
        for fd in {*close, *fds} - {0, 1, 2}:
            try:
                os.close(fd)
            except OSError:
                pass
        _fresh_stdio(task.unbuffered)
        os.chdir(task.cwd)
        os.environ.clear()
        os.environ.update(task.env)
        _fresh_random_state()
        logging.getLogger().handlers.clear()  # the server's log handler; a fresh start has none
        logging.getLogger().setLevel(logging.WARNING)
        sys.argv = [task.module, *task.args]
        if task.cwd not in sys.path:
            sys.path.insert(0, task.cwd)  # as `python -m` puts the working directory first
        code = 0
        runpy.run_module(task.module, run_name="__main__", alter_sys=True)
    except SystemExit as exit_:
        code = _exit_code(exit_.code)
    except KeyboardInterrupt:
        _finish(0)
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    except BaseException:  # noqa: BLE001 -- as the interpreter: print it, status 1
        traceback.print_exc()
        code = 1
    _finish(code)


def _finish(code: int) -> None:
    try:
        atexit._run_exitfuncs()  # noqa: SLF001 -- what the interpreter runs at its exit
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)


def _exit_code(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, int):
        return value & 0xFF
    print(value, file=sys.stderr)
    return 1


def _fresh_stdio(unbuffered: bool) -> None:
    """New stream objects on fds 0-2 (``-u``: unbuffered, as the plain start would have)."""
    sys.stdin = sys.__stdin__ = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
    for fd, name in ((1, "stdout"), (2, "stderr")):
        raw = io.FileIO(fd, "w", closefd=False)
        binary = raw if unbuffered else io.BufferedWriter(raw)
        stream = io.TextIOWrapper(binary, encoding="utf-8", errors="backslashreplace",  # type: ignore[arg-type]
                                  write_through=unbuffered, line_buffering=not unbuffered and fd == 2)
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)


def _fresh_random_state() -> None:
    """A fresh interpreter seeds `random` and numpy's global generator from the OS, and torch's
    generator with its fixed default: the same here, not the server's state shared by all."""
    random.seed()
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()
    torch = sys.modules.get("torch")
    if torch is not None and _FRESH_TORCH_RNG is not None:
        torch.set_rng_state(_FRESH_TORCH_RNG)


def preload(modules: Sequence[str]) -> None:
    """Import ``modules`` (a missing one is logged, not fatal: jobs import what they need)."""
    global _FRESH_TORCH_RNG
    for name in modules:
        began = time.perf_counter()
        try:
            importlib.import_module(name)
        except Exception as error:  # noqa: BLE001 -- the server still helps the other kinds
            LOGGER.warning("preload of %s failed: %s: %s", name, type(error).__name__, error)
            continue
        if name == "torch" and _FRESH_TORCH_RNG is None:
            _FRESH_TORCH_RNG = sys.modules["torch"].get_rng_state()
        LOGGER.info("preloaded %s in %.2f s", name, time.perf_counter() - began)
    gc.collect()
    gc.freeze()  # children share these pages; the collector then never touches (copies) them


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--socket", required=True, type=Path)
    parser.add_argument("--owner-pid", type=int, default=None,
                        help="end once this process is gone and no task is left")
    parser.add_argument("--preload", nargs="*", default=list(DEFAULT_PRELOAD))
    parser.add_argument("--remove-folder", action="store_true",
                        help="remove the socket's folder (and this server's log in it) after a clean stop")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    preload(args.preload)
    WarmServer(socket_path=args.socket, owner_pid=args.owner_pid).serve()
    if args.remove_folder:
        shutil.rmtree(args.socket.parent, ignore_errors=True)


if __name__ == "__main__":
    main()
