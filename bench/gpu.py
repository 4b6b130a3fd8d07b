"""One GPU, one call: training and inference throughput of the paper's networks, and the feed.

    python bench/gpu.py [--out bench/results] [--budget-s 450] [--data-root DIR] [--tiny]

What it measures, each figure the mean over the timed steps after warm-up steps (CUDA
synchronised before and after the timed region; cuDNN autotuning on), in one process:

* **train**: the training step that our jobs run (``model.engine.Trainer._train_step``: per-step
  seeding, the BN-buffer snapshot kept for preemption, forward, sigmoid BCE, backward, SGD) of
  ``slowfast_8x8_r101_nl`` and ``slowfast_16x8_r101_nl`` with the AVA head (res5 stride 1,
  dilation 2, 80 classes) at 224, with and without the non-local context branch, in fp32,
  bf16 autocast, bf16 + channels_last_3d, and (one model) bf16 + channels_last_3d +
  ``torch.compile``. Batch 8 clips per GPU (the report's BN group), 2 boxes per clip.
* **peer**: PySlowFast's own model of the same architecture (``video_model_builder.SlowFast``
  with the detection head; no context branch, PySlowFast has none) and the body of its AVA
  training step (forward, its ``BCELoss`` on the sigmoid outputs, ``zero_grad``, backward,
  ``step``), fp32 and bf16 autocast, on the same batches in the same run. Only when PySlowFast
  is importable (``PYTHONPATH`` with its source and ``fvcore``/``yacs``/``iopath``; see
  ``tests/fixtures/nets/make_peer_fixtures.py``); otherwise recorded as not measured.
* **inference**: eval-mode forward under ``no_grad`` at 256 (the report's test size) of both
  networks, Kinetics head (one 256x256 view) and AVA head (context branch), fp32 and bf16 +
  channels_last_3d.
* **data**: whether the PyAV pipeline keeps a step fed: ``KineticsDataset`` in train mode
  (SlowFast 8x8 sampling, jitter [256, 340], 224 crop, flip) through a ``DataLoader`` with N
  workers, clips/s delivered to the main process (after the 2 batches per worker that the
  loader prefetches at start) against the clips/s the Kinetics-head training step of
  ``slowfast_8x8_r101_nl`` consumes (bf16 + channels_last_3d). ``--only-data RATE`` measures
  the feed alone against a given consumed rate. Without ``--data-root`` a 454x340 (the
  Kinetics release's 340p) dataset of 10-s clips is generated first.

Everything is appended to ``<out>/gpu.json`` (schema below) and ``<out>/gpu.md`` (a section for
bench/RESULTS.md) after each measurement, so a run stopped by its time limit keeps what it
measured. A global ``--budget-s`` skips what no longer fits and records it as skipped.

``--tiny`` runs the same code on the CPU with the demo's tiny twins at 64 px, two steps each
and a generated dataset of small clips, so the test suite keeps the script working.

JSON: {"machine": {...}, "train": [{impl, variant, task, nl_context, size, precision,
channels_last, compile, batch, steps, clips_per_s, step_s, peak_mem_gb, macs_per_clip}],
"inference": [...same keys...], "data": [{workers, batch, crop, clips, clips_per_s,
per_worker_clips_s, consumed_clips_s, fed}], "skipped": [{what, why}]}.
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from jobs.training import ava_step, kinetics_step  # noqa: E402
from contract.files import atomic_write_text  # noqa: E402
from model.engine.batchnorm import group_batchnorm  # noqa: E402
from model.engine.optim import build_sgd  # noqa: E402
from model.engine.precision import Precision  # noqa: E402
from model.engine.schedules import LRSchedule  # noqa: E402
from model.engine.trainer import LoopSettings, Trainer  # noqa: E402
from model.nets import build, variant_spec  # noqa: E402
from model.nets.info import gmacs_per_view, view_inputs  # noqa: E402

AVA_CLASSES, KINETICS_CLASSES, BOXES_PER_CLIP, BN_GROUP = 80, 600, 2, 8


@dataclass(frozen=True)
class Mode:
    """A numeric precision / memory layout / compilation choice of one measurement."""

    precision: str
    channels_last: bool = False
    compile: bool = False

    @property
    def label(self) -> str:
        return "+".join([self.precision] + ["channels_last_3d"] * self.channels_last
                        + ["compile"] * self.compile)


FP32, BF16, BF16_CL, BF16_CL_COMPILE = (Mode("fp32"), Mode("bf16"), Mode("bf16", True),
                                        Mode("bf16", True, True))


@dataclass(frozen=True)
class Plan:
    """Sizes of one run: the paper's on a GPU, the tiny twins' on the CPU for ``--tiny``."""

    device: torch.device
    variants: tuple[str, ...]
    train_size: int
    test_size: int
    batch: int
    warmup: int
    steps: int
    compile_variant: str | None
    workers: tuple[int, ...]
    data_batches: int


def paper_plan() -> Plan:
    return Plan(torch.device("cuda"), ("slowfast_8x8_r101_nl", "slowfast_16x8_r101_nl"),
                train_size=224, test_size=256, batch=8, warmup=3, steps=10,
                compile_variant="slowfast_8x8_r101_nl", workers=(2, 4, 8, 15), data_batches=25)


def tiny_plan() -> Plan:
    return Plan(torch.device("cpu"), ("slowfast_8x8_r101_nl_tiny",), train_size=64, test_size=64,
                batch=2, warmup=1, steps=2, compile_variant=None, workers=(0, 2), data_batches=3)


# --------------------------------------------------------------------------- recording
class Report:
    """The JSON and Markdown outputs, rewritten after every measurement."""

    def __init__(self, out: Path, machine: dict[str, Any]) -> None:
        self.out = out
        out.mkdir(parents=True, exist_ok=True)
        self.data: dict[str, Any] = {"machine": machine, "train": [], "inference": [],
                                     "data": [], "skipped": []}

    def add(self, section: str, row: dict[str, Any]) -> None:
        self.data[section].append(row)
        self.flush()
        print(f"[gpu] {section}: {json.dumps(row)}", flush=True)

    def skip(self, what: str, why: str) -> None:
        self.add("skipped", {"what": what, "why": why})

    def flush(self) -> None:
        atomic_write_text(self.out / "gpu.json", json.dumps(self.data, indent=1) + "\n")
        atomic_write_text(self.out / "gpu.md", markdown(self.data))


def machine_info(device: torch.device) -> dict[str, Any]:
    info: dict[str, Any] = {"torch": torch.__version__, "python": platform.python_version(),
                            "cpu_cores": os.cpu_count(), "host_machine": platform.machine()}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        info.update(gpu=props.name, gpu_mem_gb=round(props.total_memory / 2**30, 1),
                    sms=props.multi_processor_count, cuda=torch.version.cuda,
                    cudnn=torch.backends.cudnn.version(),
                    cudnn_tf32=torch.backends.cudnn.allow_tf32,
                    matmul_tf32=torch.backends.cuda.matmul.allow_tf32)
    else:
        info.update(gpu=None, device="cpu", threads=torch.get_num_threads())
    return info


# --------------------------------------------------------------------------- batches
def ava_batch(variant: str, size: int, clips: int, device: torch.device, seed: int) -> dict:
    """Random clips with BOXES_PER_CLIP boxes each, already on the device (the step alone)."""
    spec = variant_spec(variant)
    g = torch.Generator().manual_seed(seed)
    inputs = [x.normal_(generator=g).to(device)
              for x in view_inputs(spec, size, batch=clips)]
    k = clips * BOXES_PER_CLIP
    corners = torch.rand(k, 2, 2, generator=g) * size
    x1y1, x2y2 = corners.min(dim=1).values, corners.max(dim=1).values + 8
    owner = torch.arange(clips).repeat_interleave(BOXES_PER_CLIP).float()
    boxes = torch.cat([owner[:, None], x1y1, x2y2.clamp(max=size)], dim=1).to(device)
    labels = (torch.rand(k, AVA_CLASSES, generator=g) < 0.05).float().to(device)
    return {"inputs": inputs, "boxes": boxes, "labels": labels, "video_id": ["v"] * clips}


def kinetics_batch(variant: str, size: int, clips: int, device: torch.device, seed: int) -> dict:
    spec = variant_spec(variant)
    g = torch.Generator().manual_seed(seed)
    inputs = [x.normal_(generator=g).to(device) for x in view_inputs(spec, size, batch=clips)]
    return {"inputs": inputs, "label": torch.randint(0, KINETICS_CLASSES, (clips,), generator=g).to(device)}


class _NoData(torch.utils.data.Dataset):
    def __len__(self) -> int:
        return 1 << 20

    def __getitem__(self, i: int) -> Any:
        raise AssertionError("the benchmark feeds batches directly")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _peak_gb(device: torch.device) -> float | None:
    return round(torch.cuda.max_memory_allocated(device) / 2**30, 2) if device.type == "cuda" else None


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def time_steps(step: Callable[[], Any], plan: Plan, warmup: int | None = None) -> tuple[float, float]:
    """(seconds per step over ``plan.steps`` timed steps, seconds of the first warm-up step)."""
    _sync(plan.device)
    t0 = time.perf_counter()
    step()
    _sync(plan.device)
    first = time.perf_counter() - t0
    for _ in range((plan.warmup if warmup is None else warmup) - 1):
        step()
    _sync(plan.device)
    t0 = time.perf_counter()
    for _ in range(plan.steps):
        step()
    _sync(plan.device)
    return (time.perf_counter() - t0) / plan.steps, first


# --------------------------------------------------------------------------- ours
def our_trainer(variant: str, task: str, nl_context: bool, mode: Mode, plan: Plan,
                run_dir: Path) -> Trainer:
    """Our model and loop, built as jobs/training.py builds them (BN grouped per 8 clips)."""
    torch.manual_seed(0)
    classes = AVA_CLASSES if task == "ava" else KINETICS_CLASSES
    model = build(variant, task=task, num_classes=classes, nl_context=nl_context)
    group_batchnorm(model, group_size=min(BN_GROUP, plan.batch), per_process_batch=plan.batch)
    precision = Precision(plan.device, mode.precision, channels_last=mode.channels_last,
                          compile=mode.compile)
    model = precision.prepare_model(model)
    schedule = LRSchedule("cosine", base_lr=0.1, max_iters=10 ** 6, warmup_iters=10,
                          warmup_start_lr=0.01)
    settings = LoopSettings(max_iters=10 ** 6, per_process_batch=plan.batch,
                            global_batch=plan.batch, checkpoint_every=10 ** 9, log_every=10 ** 9)
    return Trainer(model=model, optimizer=build_sgd(model, lr=0.1), schedule=schedule,
                   dataset=_NoData(), step_fn=ava_step if task == "ava" else kinetics_step,
                   settings=settings, run_dir=run_dir, precision=precision)


def measure_train(variant: str, task: str, nl_context: bool, mode: Mode, plan: Plan) -> dict:
    _reset_peak(plan.device)
    make = ava_batch if task == "ava" else kinetics_batch
    batch = make(variant, plan.train_size, plan.batch, plan.device, seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = our_trainer(variant, task, nl_context, mode, plan, Path(tmp))

        def step() -> None:
            trainer._train_step(iter([batch]))
            trainer.step += 1

        step_s, first_s = time_steps(step, plan)
        trainer.metrics.close()
    row = _row("ours", variant, task, nl_context, plan.train_size, mode, plan, step_s)
    row.update(peak_mem_gb=_peak_gb(plan.device), first_step_s=round(first_s, 2))
    return row


def measure_inference(variant: str, task: str, mode: Mode, plan: Plan) -> dict:
    _reset_peak(plan.device)
    nl_context = task == "ava"
    classes = AVA_CLASSES if task == "ava" else KINETICS_CLASSES
    torch.manual_seed(0)
    precision = Precision(plan.device, mode.precision, channels_last=mode.channels_last)
    model = precision.prepare_model(build(variant, task=task, num_classes=classes,
                                          nl_context=nl_context)).eval()
    make = ava_batch if task == "ava" else kinetics_batch
    batch = make(variant, plan.test_size, plan.batch, plan.device, seed=2)
    inputs = [precision.prepare_input(x) for x in batch["inputs"]]
    args = (inputs, batch["boxes"]) if task == "ava" else (inputs,)

    def step() -> None:
        with torch.no_grad(), precision.autocast():
            model(*args)

    step_s, _ = time_steps(step, plan)
    row = _row("ours", variant, task, nl_context, plan.test_size, mode, plan, step_s)
    row["peak_mem_gb"] = _peak_gb(plan.device)
    return row


@functools.lru_cache(maxsize=None)
def _macs_per_clip(variant: str, task: str, size: int, nl_context: bool) -> float:
    return gmacs_per_view(variant, task=task, size=size, nl_context=nl_context) * 1e9


def _row(impl: str, variant: str, task: str, nl_context: bool, size: int, mode: Mode,
         plan: Plan, step_s: float) -> dict:
    return {"impl": impl, "variant": variant, "task": task, "nl_context": nl_context,
            "size": size, "precision": mode.precision, "channels_last": mode.channels_last,
            "compile": mode.compile, "mode": mode.label, "batch": plan.batch,
            "steps": plan.steps, "step_s": round(step_s, 4),
            "clips_per_s": round(plan.batch / step_s, 2), "macs_per_clip": _macs_per_clip(variant, task, size, nl_context)}


# --------------------------------------------------------------------------- peer
def load_peer() -> Any:
    """PySlowFast through the fixture module's config mapping; raises ImportError if absent."""
    sys.path.insert(0, str(REPO / "tests" / "fixtures" / "nets"))
    with contextlib.redirect_stdout(sys.stderr):
        import make_peer_fixtures  # noqa: PLC0415  (imports PySlowFast, installs the ROIAlign stand-in)
    return make_peer_fixtures


def measure_peer_train(peer: Any, variant: str, mode: Mode, plan: Plan) -> dict:
    """PySlowFast's AVA model and the body of its train_epoch step, on our batch."""
    _reset_peak(plan.device)
    batch = ava_batch(variant, plan.train_size, plan.batch, plan.device, seed=1)
    torch.manual_seed(0)
    if variant in peer.FULL:
        kw = peer.FULL[variant]
    else:  # a tiny twin: the fixtures' tiny topology with the twin's clip length
        kw = dict(peer.TINY_SLOWFAST_NL, fast_frames=variant_spec(variant).fast_num_frames)
    model = peer.build_pyslowfast(**kw, task="ava", num_classes=AVA_CLASSES,
                                  crop=plan.train_size).to(plan.device).train()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    loss_fn = torch.nn.BCELoss()
    autocast = (torch.autocast(plan.device.type, dtype=torch.bfloat16) if mode.precision == "bf16"
                else contextlib.nullcontext())

    def step() -> None:
        with autocast:
            preds = model(batch["inputs"], batch["boxes"])
        loss = loss_fn(preds.float(), batch["labels"])
        if not torch.isfinite(loss):  # PySlowFast's check_nan_losses: a host sync per step
            raise RuntimeError("peer loss is not finite")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    step_s, _ = time_steps(step, plan)
    row = _row("pyslowfast", variant, "ava", False, plan.train_size, mode, plan, step_s)
    row["peak_mem_gb"] = _peak_gb(plan.device)
    return row


# --------------------------------------------------------------------------- data
def ensure_dataset(root: Path | None, tiny: bool, tmp: Path) -> Path:
    if root is not None:
        if not (root / "annotations").is_dir():
            raise SystemExit(f"--data-root {root}: no annotations/ folder (a Kinetics-format root)")
        return root
    from model.data.synthetic.kinetics_gen import generate_kinetics  # noqa: PLC0415

    size = "small" if tiny else "bench"
    print(f"[gpu] generating a {size} Kinetics-like dataset under {tmp}", flush=True)
    return generate_kinetics(tmp / "kinetics", videos_per_class=2 if tiny else 8,
                             eval_videos_per_class=1, size=size, duration_s=3 if tiny else 10)


def measure_feed(root: Path, workers: int, plan: Plan, consumed: float | None) -> dict:
    """Clips/s the loader hands to the main process, after its first batch (worker start-up)."""
    from torch.utils.data import DataLoader  # noqa: PLC0415

    from model.data.build import build_dataset  # noqa: PLC0415
    from model.data.collate import kinetics_collate  # noqa: PLC0415

    cfg = {"dataset": "kinetics", "root": str(root), "split": "train", "num_frames": 8,
           "sampling_rate": 8, "alpha": 4, "train_jitter_scales": [256, 340],
           "train_crop_size": plan.train_size}
    dataset = build_dataset(cfg, mode="train")
    # The loader prefetches 2 batches per worker: those are drained before the clock starts,
    # so the figure is the steady state, not a full queue read at once.
    prefetched = 2 * workers
    timed = max(plan.data_batches, 4 * workers)
    sampler = torch.utils.data.RandomSampler(dataset, replacement=True,
                                             num_samples=plan.batch * (1 + prefetched + timed))
    loader = DataLoader(dataset, batch_size=plan.batch, sampler=sampler, num_workers=workers,
                        collate_fn=kinetics_collate, pin_memory=plan.device.type == "cuda",
                        drop_last=True)
    batches = iter(loader)
    for _ in range(1 + prefetched):
        next(batches)
    t0 = time.perf_counter()
    n = 0
    for b in batches:
        for x in b["inputs"]:
            x.to(plan.device, non_blocking=True)
        n += len(b["label"])
    _sync(plan.device)
    rate = n / (time.perf_counter() - t0)
    return {"workers": workers, "batch": plan.batch, "crop": plan.train_size, "clips": n,
            "clips_per_s": round(rate, 2),
            "per_worker_clips_s": round(rate / max(workers, 1), 2),
            "consumed_clips_s": consumed, "fed": None if consumed is None else rate >= consumed}


# --------------------------------------------------------------------------- run
def feed(plan: Plan, report: Report, data_root: Path | None, consumed: float | None,
         attempt: Callable[..., dict | None]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = ensure_dataset(data_root, plan.device.type == "cpu", Path(tmp))
        for workers in plan.workers:
            attempt(f"data feed {workers} workers", lambda: measure_feed(root, workers, plan, consumed),
                    "data", 0 if plan.device.type == "cpu" else 25)


def run(plan: Plan, out: Path, budget_s: float, data_root: Path | None,
        only_data: float | None = None) -> dict:
    deadline = time.monotonic() + budget_s
    report = Report(out, machine_info(plan.device))
    if plan.device.type == "cuda":
        torch.backends.cudnn.benchmark = True

    def attempt(what: str, fn: Callable[[], dict], section: str, min_left_s: float) -> dict | None:
        left = deadline - time.monotonic()
        if left < min_left_s:
            report.skip(what, f"time budget: {left:.0f} s left, needs about {min_left_s:.0f} s")
            return None
        try:
            row = fn()
        except Exception as error:  # noqa: BLE001  (one failed configuration must not end the run)
            report.skip(what, f"{type(error).__name__}: {str(error)[:300]}")
            if plan.device.type == "cuda":
                torch.cuda.empty_cache()
            return None
        report.add(section, row)
        return row

    small = plan.device.type == "cpu"
    train_s = 0 if small else 20
    if only_data is not None:
        feed(plan, report, data_root, only_data, attempt)
        return report.data
    for variant in plan.variants:
        for nl_context in (False, True):
            for mode in (FP32, BF16, BF16_CL):
                attempt(f"train {variant} ava ctx={nl_context} {mode.label}",
                        lambda: measure_train(variant, "ava", nl_context, mode, plan), "train",
                        train_s * (2 if "16x8" in variant else 1))
    consumer = attempt(f"train {plan.variants[0]} kinetics {BF16_CL.label}",
                       lambda: measure_train(plan.variants[0], "kinetics", False, BF16_CL, plan),
                       "train", train_s)
    try:
        peer = load_peer()
    except Exception as error:  # noqa: BLE001
        report.skip("peer (PySlowFast)", f"not importable here: {type(error).__name__}: {error}")
        peer = None
    if peer is not None:
        for variant in plan.variants:
            for mode in (FP32, BF16):
                attempt(f"peer train {variant} ava {mode.label}",
                        lambda: measure_peer_train(peer, variant, mode, plan), "train",
                        train_s * (2 if "16x8" in variant else 1))
    for variant in plan.variants:
        for task in ("kinetics", "ava"):
            for mode in (FP32, BF16_CL):
                attempt(f"inference {variant} {task} {mode.label}",
                        lambda: measure_inference(variant, task, mode, plan), "inference",
                        train_s / 2)
    feed(plan, report, data_root, consumer["clips_per_s"] if consumer else None, attempt)
    if plan.compile_variant:
        attempt(f"train {plan.compile_variant} ava {BF16_CL_COMPILE.label}",
                lambda: measure_train(plan.compile_variant, "ava", False, BF16_CL_COMPILE, plan),
                "train", 150)
    return report.data


# --------------------------------------------------------------------------- markdown
def markdown(data: dict) -> str:
    m = data["machine"]
    where = (f"{m.get('gpu')} ({m.get('gpu_mem_gb')} GiB, {m.get('sms')} SMs), CUDA {m.get('cuda')}, "
             f"cuDNN {m.get('cudnn')}" if m.get("gpu") else f"CPU ({m.get('threads')} threads)")
    crop = data["data"][0]["crop"] if data["data"] else ""
    lines = ["<!-- section: gpu -->", "## One GPU: training and inference throughput (`bench/gpu.py`)",
             "", f"Machine: {where}; torch {m['torch']}, Python {m['python']}, "
             f"{m['cpu_cores']} CPU cores. Command: `python bench/gpu.py`.", "",
             "### Training step (batch per GPU, AVA head: 80 classes, 2 boxes per clip)", "",
             "| impl | variant | task | context | size | mode | batch | clips/s | s/step | peak GiB | GMACs/clip |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in data["train"]:
        lines.append(f"| {r['impl']} | {r['variant']} | {r['task']} | {'yes' if r['nl_context'] else 'no'} "
                     f"| {r['size']} | {r['mode']} | {r['batch']} | {r['clips_per_s']} | {r['step_s']} "
                     f"| {r.get('peak_mem_gb')} | {r['macs_per_clip'] / 1e9:.1f} |")
    lines += ["", "### Inference (eval, no_grad, one view)", "",
              "| variant | task | size | mode | batch | clips/s | s/batch | peak GiB |",
              "|---|---|---|---|---|---|---|---|"]
    for r in data["inference"]:
        lines.append(f"| {r['variant']} | {r['task']} | {r['size']} | {r['mode']} | {r['batch']} "
                     f"| {r['clips_per_s']} | {r['step_s']} | {r.get('peak_mem_gb')} |")
    lines += ["", f"### Data feed (PyAV, KineticsDataset train mode, SlowFast 8x8 sampling, {crop} crop)", "",
              "| workers | clips/s delivered | per worker | consumed by the step | fed |",
              "|---|---|---|---|---|"]
    for r in data["data"]:
        lines.append(f"| {r['workers']} | {r['clips_per_s']} | {r['per_worker_clips_s']} "
                     f"| {r['consumed_clips_s']} | {r['fed']} |")
    if data["skipped"]:
        lines += ["", "Not measured:", ""] + [f"- {s['what']}: {s['why']}" for s in data["skipped"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results")
    parser.add_argument("--budget-s", type=float, default=450.0,
                        help="stop starting new measurements after this many seconds")
    parser.add_argument("--data-root", type=Path, default=None,
                        help="a Kinetics-format root (default: generate one)")
    parser.add_argument("--tiny", action="store_true", help="CPU, tiny twins: a smoke run")
    parser.add_argument("--only-data", type=float, default=None, metavar="CLIPS_PER_S",
                        help="measure only the data feed, against this consumed rate")
    args = parser.parse_args(argv)
    if args.tiny:
        plan = tiny_plan()
        torch.set_num_threads(min(2, os.cpu_count() or 1))
    else:
        if not torch.cuda.is_available():
            parser.error("no CUDA device is visible; use --tiny for the CPU smoke run")
        plan = paper_plan()
    data = run(plan, args.out, args.budget_s, args.data_root, only_data=args.only_data)
    print(markdown(data))
    return 0


if __name__ == "__main__":
    sys.exit(main())
