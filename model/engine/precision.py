"""Numeric precision and memory layout of a training/eval step.

Defaults: bfloat16 autocast on CUDA (no loss scaling needed: bf16 has fp32's exponent range),
fp16 autocast with a ``GradScaler`` as an option for GPUs without bf16, fp32 on the CPU (CPU
autocast is slower than fp32 on most CPUs and would change the exact-resume guarantees).
``channels_last_3d`` puts 5-D activations in NDHWC, which cuDNN's 3-D convolutions prefer;
``torch.compile`` is optional. None of them changes the result beyond float tolerance
(``tests/model/engine/test_precision.py``).
"""
from __future__ import annotations

import contextlib
import functools
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import torch
from torch import nn

__all__ = ["Precision", "PrecisionError", "resolve_device", "describe_device", "cpu_kind"]


class PrecisionError(ValueError):
    """An unknown or unsupported precision/device setting (names the field)."""


def resolve_device(device: str) -> torch.device:
    """``job.device``: 'auto' -> CUDA when available, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda"):
        raise PrecisionError(f"job.device must be auto, cpu or cuda, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise PrecisionError("job.device is 'cuda' but no CUDA device is visible")
    return torch.device(device)


@functools.cache
def cpu_kind() -> str:
    """The CPU's vendor and the vector instructions PyTorch's kernels use: ``GenuineIntel AVX512``.

    Two CPUs of one kind run the same float kernels, so a CPU run is reproducible on that
    kind; another kind (AVX2 against AVX-512, Intel against AMD) rounds differently, and a
    from-scratch training amplifies that into other final numbers.
    """
    vendor = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("vendor_id"):
                vendor = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{vendor or platform.processor() or platform.machine()} {torch.backends.cpu.get_cpu_capability()}"


def describe_device(device: torch.device) -> str:
    """What result.json records of where a job ran: ``cpu (GenuineIntel AVX512)`` or
    ``cuda:0 (NVIDIA H200)``.

    ``job.device: auto`` decides at run time, so only the job can say where it actually ran.
    """
    if device.type == "cpu":
        return f"cpu ({cpu_kind()})"
    if device.type != "cuda":
        return device.type
    index = device.index if device.index is not None else torch.cuda.current_device()
    return f"cuda:{index} ({torch.cuda.get_device_name(index)})"


@dataclass(frozen=True)
class Precision:
    """``dtype`` is 'auto', 'fp32', 'bf16' or 'fp16'; 'auto' = bf16 on CUDA, fp32 on CPU."""

    device: torch.device
    dtype: str = "auto"
    channels_last: bool = True
    compile: bool = False

    def __post_init__(self) -> None:
        if self.dtype not in ("auto", "fp32", "bf16", "fp16"):
            raise PrecisionError(f"precision must be auto, fp32, bf16 or fp16, got {self.dtype!r}")
        if self.dtype == "fp16" and self.device.type != "cuda":
            raise PrecisionError("fp16 autocast with loss scaling needs a CUDA device")

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        """The autocast dtype, or None for plain fp32."""
        choice = self.dtype
        if choice == "auto":
            choice = "bf16" if self.device.type == "cuda" else "fp32"
        return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[choice]

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        dtype = self.autocast_dtype
        if dtype is None:
            yield
            return
        with torch.autocast(device_type=self.device.type, dtype=dtype):
            yield

    def grad_scaler(self) -> torch.amp.GradScaler:
        """A scaler that is active only for fp16 (a disabled one is a no-op, still checkpointed)."""
        return torch.amp.GradScaler(self.device.type,
                                    enabled=self.autocast_dtype == torch.float16)

    def prepare_model(self, model: nn.Module) -> nn.Module:
        """Move to the device and layout; returns the (possibly compiled) module to call."""
        model = model.to(self.device)
        if self.channels_last:
            # Only the 5-D (Conv3d) weights: a 4-D tensor cannot take the 3-D layout.
            for param in model.parameters():
                if param.dim() == 5:
                    param.data = param.data.contiguous(memory_format=torch.channels_last_3d)
        if self.compile:
            return torch.compile(model)  # type: ignore[return-value]
        return model

    def prepare_input(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True)
        if self.channels_last and x.dim() == 5:
            x = x.contiguous(memory_format=torch.channels_last_3d)
        return x
