"""Writing and hashing run-directory files: the one implementation for the whole system.

Atomic write: a reader sees the old file or the new one, never half of one. Write a
temporary file in the same directory, flush + fsync, ``os.replace`` onto the target, fsync
the directory so that the rename itself survives a crash. ``write_temporary`` and
``replace_durably`` are the two halves, for a writer that must check what it wrote (or write
several files) before any of them appears.

Canonical JSON (sorted keys, no spaces, non-ASCII kept as UTF-8) is what content and config
hashes are taken over: the planner's `content_hash` (job reuse) and the export manifest's
config hashes. For ASCII content ``ensure_ascii`` makes no difference to the bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO, Callable

__all__ = ["atomic_output_path", "atomic_write", "atomic_write_bytes", "atomic_write_json", "atomic_write_text",
           "canonical_json", "fsync_dir", "replace_durably", "sha256_file", "write_temporary"]

_HASH_BLOCK = 1 << 20


def fsync_dir(directory: str | os.PathLike[str]) -> None:
    """fsync a directory, so that a rename into it is on disk."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_temporary(target: str | os.PathLike[str], write: Callable[[BinaryIO], None]) -> Path:
    """Call ``write(f)`` on a new hidden temporary file beside ``target`` (same filesystem,
    so the later rename is atomic), flushed and fsynced; returns its path. On an error the
    temporary file is removed."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)


def replace_durably(temporary: str | os.PathLike[str], target: str | os.PathLike[str]) -> None:
    """Move ``temporary`` onto ``target`` (atomic) and fsync the directory."""
    target = Path(target)
    os.replace(temporary, target)
    fsync_dir(target.parent)


def atomic_write(path: str | os.PathLike[str], write: Callable[[BinaryIO], None]) -> None:
    """Call ``write(f)`` on a temporary file, then move it onto ``path`` atomically."""
    temporary = write_temporary(path, write)
    try:
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_dir(Path(path).parent)


@contextmanager
def atomic_output_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path beside ``path`` for a writer that opens files by name (a video
    muxer); once the body returns, the file is fsynced and moved onto ``path`` (directory
    fsynced too). On an error nothing appears under ``path`` and the temporary is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    temporary = Path(tmp)
    # The writer creates the file itself, so it gets the usual permissions (umask), not
    # mkstemp's owner-only ones: a generated dataset is read by other users' jobs.
    temporary.unlink()
    try:
        yield temporary
        with open(temporary, "rb+") as handle:
            os.fsync(handle.fileno())
        replace_durably(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    atomic_write(path, lambda handle: handle.write(data))


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8, newlines as given) atomically; returns the path written."""
    path = Path(path)
    atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))
    return path


def atomic_write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Indented, sorted-key JSON with a final newline (status.json, result.json, manifests)."""
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks (checkpoints are large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_HASH_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def canonical_json(value: Any) -> str:
    """One text per value: sorted keys, no whitespace, non-ASCII characters as themselves."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
