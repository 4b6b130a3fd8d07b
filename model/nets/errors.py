"""Typed errors of model.nets: every message says what was expected and what was given."""

from __future__ import annotations

__all__ = ["InputShapeError", "BoxError", "CheckpointMismatchError"]


class InputShapeError(ValueError):
    """Clip tensors whose count, rank, channels or frame counts do not fit the network."""


class BoxError(ValueError):
    """AVA boxes of the wrong shape, with a bad batch index, or outside the frame."""


class CheckpointMismatchError(ValueError):
    """A checkpoint key that cannot be mapped, is missing, or has the wrong shape.

    `key` names the first offending key (in the source checkpoint's naming when known).
    """

    def __init__(self, message: str, *, key: str | None = None) -> None:
        super().__init__(message)
        self.key = key
