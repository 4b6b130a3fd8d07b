"""How many multiply-adds per second one device sustains on these networks.

A submission's cost is its multiply-adds divided by a rate. The rate comes from a
measurement where one exists and from a stated assumption otherwise:

1. **Measured**: ``bench/results/gpu.json``, written by the GPU benchmark. Its ``train`` and
   ``inference`` entries give clips per second of one GPU for a variant, task, size and
   precision. An entry becomes a rate by multiplying with this project's own count of the
   variant's multiply-adds at the entry's size (``model.nets.info``): the same count the
   estimate divides, so the file's ``macs_per_clip`` (another counter's convention) is not
   needed. A training step is counted as 3 forward passes (forward + backward), so a
   training entry's rate is ``clips_per_s x macs_per_clip x 3``. Only ``"impl": "ours"``
   entries of the GPU whose name contains the configured ``cluster.gpu_type`` are read; the
   best one per (variant, task) is kept.
2. **Assumed**: ``ASSUMED_RATES`` below, per GPU type: the datasheet's dense BF16/FP16
   tensor peak (halved: the datasheets count a multiply-add as 2 FLOPs) times an assumed
   utilisation. These are assumptions, not measurements: 3D convolutions over few channels
   (the Fast pathway has 8-256) and the non-local blocks keep video networks far from peak.

Data loading, multi-node gradient exchange and start-up are not in either rate.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ASSUMED_RATES", "DEFAULT_MEASUREMENTS", "TRAIN_PASSES", "AssumedRate", "CostInputError",
           "DeviceRates", "Rate", "load_device_rates"]

#: forward-pass equivalents of one training step: forward, backward to activations and to weights.
TRAIN_PASSES = 3
DEFAULT_MEASUREMENTS = Path(__file__).resolve().parents[2] / "bench" / "results" / "gpu.json"


class CostInputError(ValueError):
    """A cost input that cannot be used (unknown GPU type, unreadable benchmark file); names
    the field or the file."""


@dataclass(frozen=True)
class AssumedRate:
    """A device type's assumed sustained rate: ``peak_macs_per_s x utilisation``."""

    peak_macs_per_s: float
    utilisation: float
    datasheet: str

    @property
    def macs_per_s(self) -> float:
        return self.peak_macs_per_s * self.utilisation


# ASSUMPTIONS, not measurements (docs/slurm.md, "What a submission will cost"). Peak = the
# datasheet's dense tensor-core figure without sparsity / 2 (multiply-adds). Utilisation 5%
# for every GPU: what one H200 sustained on these networks (bench/RESULTS.md, gpu: the R101
# training steps in bf16 + channels_last_3d ran at 4.0-6.6% of that peak), carried over to the
# other GPU types, where it is an assumption; bench/results/gpu.json replaces it where it
# measured the configured GPU.
# The CPU entry is per core: AVX2, 2 FMA units x 8 float32 lanes at ~2.5 GHz = 40 G
# multiply-adds/s, at 20%: a demo twin's training step ran at 7.5-8.0 G/s on one thread of
# the 2-core demo machine (tests/orchestrator/test_cost.py measures it).
ASSUMED_RATES: dict[str, AssumedRate] = {
    "V100": AssumedRate(125e12 / 2, 0.05, "V100 SXM2: 125 TFLOPS FP16 tensor"),
    "A100": AssumedRate(312e12 / 2, 0.05, "A100 SXM: 312 TFLOPS BF16 tensor, dense"),
    "H100": AssumedRate(989e12 / 2, 0.05, "H100 SXM: 989 TFLOPS BF16 tensor, dense"),
    "H200": AssumedRate(989e12 / 2, 0.05, "H200 SXM: 989 TFLOPS BF16 tensor, dense (H100's compute)"),
    "cpu": AssumedRate(40e9, 0.20, "one x86-64 core: AVX2, 2 x 8-lane FMA at ~2.5 GHz"),
}


@dataclass(frozen=True)
class Rate:
    """Multiply-adds per second of one device (one GPU, or one CPU core), and where it came from."""

    macs_per_s: float
    source: str  # "measured" | "assumed"
    note: str = ""


# (variant, task, height, width, nl_context) -> multiply-adds of one view; see network_costs.py.
MacsOfView = Callable[[str, str, int, int, bool], float]


@dataclass
class DeviceRates:
    """The rates of one device type: measured per (variant, task) where the benchmark has
    them, the assumed constant otherwise."""

    device: str                      # "H200", "cpu", ...
    assumed: AssumedRate
    measured_train: dict[tuple[str, str], float] = field(default_factory=dict)
    measured_inference: dict[tuple[str, str], float] = field(default_factory=dict)
    measured_from: str = ""          # the benchmark file and its machine, for the report
    # One measured rate for every network (a figure measured on this machine, e.g. by a test
    # that times a few training steps on the CPU); used before the per-network entries.
    measured_any: float | None = None

    def rate(self, variant: str, task: str, *, training: bool) -> Rate:
        measured = self.measured_any or (self.measured_train if training else self.measured_inference).get(
            (variant, task))
        if measured is not None:
            return Rate(measured, "measured", self.measured_from)
        return Rate(self.assumed.macs_per_s, "assumed",
                    f"{self.assumed.datasheet} x {self.assumed.utilisation:.0%} utilisation (assumed)")


def _assumed(device: str) -> AssumedRate:
    for name, rate in ASSUMED_RATES.items():
        if name.lower() == device.lower():
            return rate
    raise CostInputError(f"cluster.gpu_type={device!r}: no assumed rate for it; expected one of "
                         f"{', '.join(ASSUMED_RATES)} (or add it to orchestrator/cost/throughput.py)")


def _best_rates(entries: Any, field_name: str, passes: int, macs_of_view: MacsOfView,
                path: Path) -> dict[tuple[str, str], float]:
    if entries is None:
        return {}
    if not isinstance(entries, list):
        raise CostInputError(f"{path}: field {field_name!r} must be a list of entries")
    best: dict[tuple[str, str], float] = {}
    for index, entry in enumerate(entries):
        where = f"{path}: {field_name}[{index}]"
        if not isinstance(entry, Mapping):
            raise CostInputError(f"{where} is not an object")
        if entry.get("impl", "ours") != "ours":
            continue
        try:
            variant, task = str(entry["variant"]), str(entry["task"])
            size, clips_per_s = int(entry["size"]), float(entry["clips_per_s"])
        except KeyError as missing:
            raise CostInputError(f"{where}: missing field {missing.args[0]!r}") from None
        except (TypeError, ValueError) as error:
            raise CostInputError(f"{where}: {error}") from None
        if clips_per_s <= 0:
            continue
        macs = macs_of_view(variant, task, size, size, bool(entry.get("nl_context", False)))
        rate = clips_per_s * macs * passes
        best[(variant, task)] = max(rate, best.get((variant, task), 0.0))
    return best


def load_device_rates(device: str, macs_of_view: MacsOfView, path: Path | None = DEFAULT_MEASUREMENTS
                      ) -> DeviceRates:
    """The rates for ``device`` (``cluster.gpu_type``, or ``"cpu"`` for CPU-only jobs).

    ``path``: the benchmark file (``None``: assumed rates only). A missing file is not an
    error (nothing has been measured yet); an unreadable one is.
    """
    rates = DeviceRates(device=device, assumed=_assumed(device))
    if path is None or device.lower() == "cpu" or not Path(path).is_file():
        return rates
    path = Path(path)
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise CostInputError(f"{path}: not a readable JSON benchmark file ({error})") from None
    if not isinstance(document, Mapping):
        raise CostInputError(f"{path}: expected a JSON object with 'machine', 'train', 'inference'")
    machine = document.get("machine") or {}
    gpu = str(machine.get("gpu", "")) if isinstance(machine, Mapping) else ""
    if device.lower() not in gpu.lower():
        return rates  # measured on another GPU: not evidence for this one
    rates.measured_train = _best_rates(document.get("train"), "train", TRAIN_PASSES, macs_of_view, path)
    rates.measured_inference = _best_rates(document.get("inference"), "inference", 1, macs_of_view, path)
    rates.measured_from = f"{path.name} ({gpu}, torch {machine.get('torch', '?')})"
    return rates
