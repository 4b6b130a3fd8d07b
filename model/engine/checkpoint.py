"""Checkpoints: atomic, checksummed, the last ``keep`` kept, a ``latest`` pointer.

Layout in ``<run_dir>/checkpoints/``::

    step_000120.pt          torch.save of the state dict below
    step_000120.pt.sha256   hex digest of the .pt file (written after it)
    latest                  JSON {"file": "step_000120.pt", "step": 120, "sha256": ...}

Each file is written atomically (``contract.files``), in the order .pt, .sha256, latest, so a crash
at any point leaves the previous checkpoint complete and pointed to. Loading verifies the
checksum; a truncated or corrupt newest checkpoint is skipped with a warning and the previous
one is used. Loading uses ``weights_only=True``: the state holds only tensors, numbers,
strings, lists and dicts (RNG states are converted, see ``rng.py``).

State contents (``Trainer.state_dict`` in ``trainer.py`` builds it): ``format``, ``model``,
``optimizer``, ``schedule``, ``grad_scaler``, ``step``, ``epoch``, ``step_in_epoch``,
``sampler``, ``rng``, ``metrics_offset`` (byte length of metrics.jsonl at this step),
``eval_pending``, ``plateau`` when the schedule has one, and what the job adds
(``extra_state``, e.g. ``arch``: model name, num_classes; ``config``).
"""
from __future__ import annotations

import json
import logging
import re
import warnings
from pathlib import Path
from typing import Any

import torch

from contract.files import atomic_write, atomic_write_bytes, atomic_write_json, sha256_file

__all__ = ["CheckpointError", "CheckpointStore", "describe_load_error", "load_checkpoint_file", "sha256_file"]

log = logging.getLogger(__name__)
_STEP_FILE = re.compile(r"^step_(\d+)\.pt$")
_REFUSED_GLOBAL = re.compile(r"Unsupported global: GLOBAL (\S+)")


def describe_load_error(exc: BaseException) -> str:
    """One line on why ``torch.load(weights_only=True)`` refused a file.

    torch's own messages run over several lines (with terminal colour codes) and suggest
    loading with ``weights_only=False``, which would run the file's code: a checkpoint that
    needs that is not a weights file, and the message says so instead.
    """
    text = str(exc)
    refused = _REFUSED_GLOBAL.search(text)
    if refused:
        return (f"it holds a Python object ({refused.group(1)}) that weights_only loading refuses: "
                "not a weights file")
    if "Weights only load failed" in text:
        return "it holds Python objects that weights_only loading refuses: not a weights file"
    first = re.sub(r"\x1b\[[0-9;]*m", "", text).strip().splitlines()[0] if text.strip() else type(exc).__name__
    return f"truncated or not a PyTorch file ({first.split('. ')[0].rstrip('.')})"


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used (missing, corrupt, wrong contents); names the file."""


def load_checkpoint_file(path: Path, *, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load one checkpoint file (``weights_only=True``), verifying its ``.sha256`` if present.

    Used for upstream artefacts (``inputs.init_checkpoint``, ``inputs.checkpoint``).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    sidecar = path.with_name(path.name + ".sha256")
    if sidecar.is_file():
        expected = sidecar.read_text().strip()
        actual = sha256_file(path)
        if actual != expected:
            raise CheckpointError(f"checkpoint {path} is corrupt: sha256 {actual} != {expected}")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for truncated/garbage files
        raise CheckpointError(f"checkpoint {path} cannot be read: {describe_load_error(exc)}") from exc
    if not isinstance(state, dict):
        raise CheckpointError(f"checkpoint {path} does not hold a state dict")
    return state


class CheckpointStore:
    """The checkpoints of one run directory."""

    def __init__(self, directory: Path, keep: int = 3) -> None:
        if keep < 1:
            raise CheckpointError(f"keep must be >= 1, got {keep}")
        self.directory = Path(directory)
        self.keep = keep

    def path_for(self, step: int) -> Path:
        return self.directory / f"step_{step:06d}.pt"

    @property
    def latest_pointer(self) -> Path:
        return self.directory / "latest"

    def save(self, state: dict[str, Any], step: int) -> Path:
        """Write ``state`` as the checkpoint of ``step``, point ``latest`` at it, prune."""
        path = self.path_for(step)
        atomic_write(path, lambda f: torch.save(state, f))
        digest = sha256_file(path)
        atomic_write_bytes(path.with_name(path.name + ".sha256"), (digest + "\n").encode())
        atomic_write_json(self.latest_pointer, {"file": path.name, "step": step, "sha256": digest})
        self._prune()
        return path

    def steps(self) -> list[int]:
        """Steps of the checkpoint files present, newest first."""
        if not self.directory.is_dir():
            return []
        found = []
        for entry in self.directory.iterdir():
            match = _STEP_FILE.match(entry.name)
            if match:
                found.append(int(match.group(1)))
        return sorted(found, reverse=True)

    def _prune(self) -> None:
        for step in self.steps()[self.keep:]:
            path = self.path_for(step)
            path.unlink(missing_ok=True)
            path.with_name(path.name + ".sha256").unlink(missing_ok=True)

    def _candidates(self) -> list[Path]:
        ordered: list[Path] = []
        try:
            pointer = json.loads(self.latest_pointer.read_text())
            ordered.append(self.directory / str(pointer["file"]))
        except FileNotFoundError:
            pass
        except (ValueError, KeyError, TypeError):
            self._warn(f"checkpoint pointer {self.latest_pointer} is corrupt; scanning the files")
        for step in self.steps():
            path = self.path_for(step)
            if path not in ordered:
                ordered.append(path)
        return ordered

    def load_latest(self, *, map_location: str | torch.device = "cpu"
                    ) -> tuple[dict[str, Any], Path] | None:
        """The newest checkpoint that passes its checksum, or None if there is none.

        A corrupt or truncated newer file is skipped with a warning (logged and
        ``warnings.warn``), never silently.
        """
        for path in self._candidates():
            if not path.is_file():
                self._warn(f"checkpoint {path} named by 'latest' is missing")
                continue
            sidecar = path.with_name(path.name + ".sha256")
            if not sidecar.is_file():
                self._warn(f"checkpoint {path} has no checksum file (interrupted write); skipped")
                continue
            try:
                return load_checkpoint_file(path, map_location=map_location), path
            except CheckpointError as exc:
                self._warn(f"{exc}; falling back to the previous checkpoint")
        return None

    @staticmethod
    def _warn(message: str) -> None:
        log.warning(message)
        warnings.warn(message, stacklevel=3)
