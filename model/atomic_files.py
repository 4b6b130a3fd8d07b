"""Atomic file writes for the library: the contract's one implementation, re-exported so that
``model`` code keeps importing from inside its own package (see ``contract.files``)."""
from __future__ import annotations

from contract.files import atomic_write, atomic_write_bytes, atomic_write_json, atomic_write_text, fsync_dir

__all__ = ["atomic_write", "atomic_write_bytes", "atomic_write_json", "atomic_write_text", "fsync_dir"]
