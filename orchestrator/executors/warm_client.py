"""Start a local job's Python from the warm interpreter (``warm_server``), or plainly.

submitit's local controller starts each task as ``<python> -u -m submitit.core._submit
FOLDER``. With warm start, ``<python>`` is this file run by the same interpreter::

    python .../warm_client.py --socket SOCKET -- -u -m submitit.core._submit FOLDER

It hands its standard streams, environment, working directory and arguments to the server,
which forks a child with torch and the job modules already imported; the client then stands
in for that child towards the controller: it forwards every signal the controller sends
(SIGUSR2 before a time limit, SIGINT and SIGTERM to stop) and exits as the child exited. If
the client dies (SIGKILL), the server kills the child, so nothing outlives its controller.
With no server to answer (not started yet, gone, or refusing), the client becomes the plain
``python -u -m ...`` by ``exec``: the job runs exactly as without warm start.

Run by file path, this module imports the standard library only: it is the one part of a
job's start that every task pays.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import struct
import sys
import time
from typing import Sequence, TextIO

#: Signals a controller (or a user) sends to a task, passed on to the job's process.
FORWARDED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT,
                     signal.SIGUSR1, signal.SIGUSR2, signal.SIGCONT)
_HEADER = struct.Struct("!I")  # length of the JSON request that follows the header


def send_request(sock: socket.socket, request: dict, fds: Sequence[int]) -> None:
    """The header travels with the file descriptors (SCM_RIGHTS), the JSON after it."""
    payload = json.dumps(request).encode()
    socket.send_fds(sock, [_HEADER.pack(len(payload))], list(fds))
    sock.sendall(payload)


def receive_request(sock: socket.socket, max_fds: int = 3) -> tuple[dict, list[int]]:
    header, fds, _flags, _addr = socket.recv_fds(sock, _HEADER.size, max_fds)
    if len(header) != _HEADER.size:
        for fd in fds:
            os.close(fd)
        raise ConnectionError("short request header")
    (length,) = _HEADER.unpack(header)
    payload = b""
    while len(payload) < length:
        chunk = sock.recv(length - len(payload))
        if not chunk:
            for fd in fds:
                os.close(fd)
            raise ConnectionError("request cut short")
        payload += chunk
    return json.loads(payload), fds


def parse_arguments(argv: Sequence[str]) -> tuple[str, list[str]]:
    """``--socket PATH -- PYTHON_ARGS...`` -> (PATH, PYTHON_ARGS)."""
    if len(argv) < 3 or argv[0] != "--socket" or argv[2] != "--":
        raise SystemExit(f"usage: warm_client.py --socket PATH -- PYTHON_ARGS... (got {list(argv)!r})")
    return argv[1], list(argv[3:])


def exec_plain(python_args: Sequence[str]) -> None:
    """Become ``python PYTHON_ARGS`` (no return)."""
    os.execv(sys.executable, [sys.executable, *python_args])


def _ask_server(socket_path: str, python_args: Sequence[str]) -> tuple[socket.socket, TextIO, int] | None:
    """Connect and ask for a child: (socket, its reader, the child's pid), or None where the
    server is absent or refuses."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(socket_path)
        send_request(sock, {"executable": sys.executable, "argv": list(python_args),
                            "cwd": os.getcwd(), "env": dict(os.environ)}, [0, 1, 2])
        reader = sock.makefile("r")
        reply = reader.readline().split()
    except OSError:
        sock.close()
        return None
    if len(reply) == 2 and reply[0] == "pid":
        return sock, reader, int(reply[1])
    sock.close()
    return None


def _exit_like(code: int) -> None:
    """Exit as the child did: with its status, or killed by the same signal."""
    if code < 0:
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
        time.sleep(1.0)  # a stopped-and-continued signal may take a moment
    os._exit(code if code >= 0 else 128 - code)


def _wait_for_exit(reader: TextIO, pid: int) -> int:
    """The child's exit code from the server; if the server is gone first, wait for the pid."""
    line = reader.readline().split()
    if len(line) == 2 and line[0] == "exit":
        return int(line[1])
    while True:  # no word from the server: the child is not ours to reap, watch it go
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return 1
        time.sleep(0.1)


def main(argv: Sequence[str]) -> None:
    socket_path, python_args = parse_arguments(argv)
    answer = _ask_server(socket_path, python_args)
    if answer is None:
        exec_plain(python_args)
        return
    sock, reader, pid = answer

    def forward(signum: int, _frame: object) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for signum in FORWARDED_SIGNALS:
        signal.signal(signum, forward)
    _exit_like(_wait_for_exit(reader, pid))


if __name__ == "__main__":
    main(sys.argv[1:])
