"""The training loop: plain, top to bottom, resumable to the bit.

One optimisation step = ``accum`` micro-batches of ``per_process_batch`` clips on each of
``world_size`` processes, so the step's batch is ``global_batch`` clips whatever the hardware
(gradient accumulation reproduces the report's 1024-clip batch on fewer GPUs). Per step:

1. seed every generator from (seed, rank, step) -- the step's randomness (dropout) is then a
   function of the step alone, whatever happened before a resume;
2. lr from the schedule (a pure function of the step);
3. forward/backward over the micro-batches (DDP syncs gradients on the last one only);
4. the loss, averaged over processes, must be finite (else ``NonFiniteLossError``);
5. *commit* -- optimizer step, step counter, metrics, evaluation, checkpoint -- with the
   preemption signals blocked, so a checkpoint taken from the signal handler always sees the
   state of a step boundary.

``checkpoint_now()`` is what a job's ``checkpoint()`` (submitit's preemption/timeout hook)
calls: during the forward/backward part it saves the state of the last completed step (BN
running statistics restored from the snapshot taken at the step's start).

With several processes a signal handler cannot save for all of them (the others may be in
the middle of a collective), so a preemption is agreed instead: ``request_stop()`` (safe in
a signal handler) raises a flag that travels with the step's loss all-reduce, every process
learns in the same step that one of them was signalled, and the loop ends after committing
that step on all of them: rank 0 writes its checkpoint and ``stopped_at`` holds the step,
equal on every rank. Each process's loss is weighted by its share of the step's items
(AVA: boxes), so the step's gradient and logged loss are the mean over the global batch,
as in one process holding it all.
"""
from __future__ import annotations

import contextlib
import logging
import math
import resource
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from model.engine.checkpoint import CheckpointStore
from model.engine.data_order import SeededDataset, epoch_indices
from model.engine.distributed import DistContext
from model.engine.optim import set_lr
from model.engine.precision import Precision
from model.engine.reporting import (MetricsWriter, StatusWriter, TensorBoardWriter,
                                    next_attempt)
from model.engine.rng import capture_rng, derive_seed, restore_rng, seed_everything
from model.engine.schedules import LRSchedule, PlateauCuts

__all__ = ["EmptyDatasetError", "LoopSettings", "NonFiniteLossError", "Trainer"]

log = logging.getLogger(__name__)
_PREEMPTION_SIGNALS = {signal.SIGUSR2, signal.SIGTERM}

#: ``step_fn(model, batch, precision) -> (mean loss over the batch's items, items)``: items are
#: what the mean is over (clips for Kinetics, boxes for AVA)
StepFn = Callable[[nn.Module, Any, Precision], tuple[torch.Tensor, int]]
#: ``evaluate(model, step) -> {name: value}``, written under split "val"
EvalFn = Callable[[nn.Module, int], dict[str, float]]


class NonFiniteLossError(RuntimeError):
    """The loss became NaN/inf: a deterministic failure, never retried as a preemption."""

    def __init__(self, step: int, lr: float, checkpoint: Path | None) -> None:
        self.step, self.lr, self.checkpoint = step, lr, checkpoint
        where = f"last checkpoint {checkpoint}" if checkpoint else "no checkpoint written yet"
        super().__init__(f"loss is not finite at step {step} (lr {lr:.6g}); {where}")


class EmptyDatasetError(ValueError):
    """The split holds fewer samples than one optimisation step needs."""


@dataclass(frozen=True)
class LoopSettings:
    max_iters: int
    per_process_batch: int
    global_batch: int
    checkpoint_every: int
    eval_every: int = 0
    log_every: int = 10
    keep_checkpoints: int = 3
    seed: int = 0
    num_workers: int = 0


class Trainer:
    """Owns the loop; the model, optimizer, schedule, data and step function come in built."""

    def __init__(self, *, model: nn.Module, optimizer: torch.optim.Optimizer,
                 schedule: LRSchedule, dataset: Dataset, step_fn: StepFn,
                 settings: LoopSettings, run_dir: Path, precision: Precision,
                 dist_ctx: DistContext = DistContext(), collate_fn: Callable | None = None,
                 sampler: Any = None, evaluate: EvalFn | None = None,
                 extra_state: dict[str, Any] | None = None, attempt: int | None = None) -> None:
        self.s = settings
        self.run_dir = Path(run_dir)
        self.dist = dist_ctx
        self.precision = precision
        self.core = model
        self.model: nn.Module = model
        if dist_ctx.distributed:
            self.model = nn.parallel.DistributedDataParallel(
                model, device_ids=[precision.device.index] if precision.device.type == "cuda"
                else None)
        self.optimizer, self.schedule, self.step_fn = optimizer, schedule, step_fn
        self.evaluate, self.extra_state = evaluate, dict(extra_state or {})
        #: The report's AVA rule (schedule "plateau"): cut points decided from the val metric.
        self.plateau: PlateauCuts | None = None
        if schedule.name == "plateau":
            if evaluate is None or settings.eval_every <= 0:
                raise ValueError("schedule.name=plateau cuts the learning rate when the val metric stops "
                                 "improving: it needs an evaluation function and schedule.eval_every > 0")
            self.plateau = PlateauCuts.of(schedule)
        self.scaler = precision.grad_scaler()
        per_step = settings.per_process_batch * dist_ctx.world_size
        if settings.global_batch % per_step:
            raise ValueError(f"schedule.global_batch={settings.global_batch} is not a multiple of "
                             f"data.batch_size x processes = {per_step}")
        self.accum = settings.global_batch // per_step
        self.dataset = SeededDataset(dataset, settings.seed)
        self.collate_fn = collate_fn
        self.sampler = sampler if sampler is not None else DistributedSampler(
            dataset, num_replicas=dist_ctx.world_size, rank=dist_ctx.rank, shuffle=True,
            seed=settings.seed, drop_last=True)
        self.checkpoints = CheckpointStore(self.run_dir / "checkpoints", settings.keep_checkpoints)
        main = dist_ctx.is_main
        attempt = attempt or next_attempt(self.run_dir / "status.json")
        self.metrics = MetricsWriter(self.run_dir / "metrics.jsonl", attempt, enabled=main)
        self.status = StatusWriter(self.run_dir / "status.json", settings.max_iters, attempt,
                                   enabled=main)
        self.tb: TensorBoardWriter | None = None
        self.step = self.epoch = self.step_in_epoch = 0
        self.last_checkpoint: Path | None = None
        self._eval_pending = False
        self._in_step = False
        self._buffers_at_step_start: dict[str, torch.Tensor] = {}
        self._rng_at_boundary: dict[str, Any] = capture_rng()
        self._stop_requested = False
        self._stop_agreed = False
        #: The step at which an agreed stop (a preemption of a distributed job) ended the loop.
        self.stopped_at: int | None = None

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        """Everything a resume needs, at the last step boundary (see module docstring)."""
        model_state = self.core.state_dict()
        if self._in_step:
            model_state = {k: self._buffers_at_step_start.get(k, v) for k, v in model_state.items()}
        samples_per_step = self.s.per_process_batch * self.accum
        return {
            "format": 1, "step": self.step, "epoch": self.epoch,
            "step_in_epoch": self.step_in_epoch, "model": model_state,
            "optimizer": self.optimizer.state_dict(), "schedule": self.schedule.state_dict(),
            "grad_scaler": self.scaler.state_dict(),
            "sampler": {"epoch": self.epoch, "position": self.step_in_epoch * samples_per_step,
                        "seed": self.s.seed, "world_size": self.dist.world_size},
            "rng": self._rng_at_boundary, "metrics_offset": self.metrics.sync(),
            "eval_pending": self._eval_pending,
            **({"plateau": self.plateau.state_dict()} if self.plateau is not None else {}),
            **self.extra_state,
        }

    def save_checkpoint(self) -> Path | None:
        if not self.dist.is_main:
            return None
        self.last_checkpoint = self.checkpoints.save(self.state_dict(), self.step)
        if self.tb is not None:
            self.tb.flush()
        return self.last_checkpoint

    def checkpoint_now(self) -> Path | None:
        """Preemption hook: save the last step boundary's state and mark the run checkpointed."""
        path = self.save_checkpoint()
        self.status.write("checkpointed", self.step, f"checkpoint {path}")
        return path

    def request_stop(self) -> None:
        """Ask every process to stop after the current step (signal-handler safe: a flag)."""
        self._stop_requested = True

    def _resume(self) -> None:
        """Load the latest valid checkpoint, if any; ``resumed_from_step`` says where from
        (0: a fresh start), so a requeued job can show that it did not start over."""
        self.resumed_from_step = 0
        found = self.checkpoints.load_latest(map_location="cpu")
        offset = 0
        if found is not None:
            state, path = found
            self.schedule.check_compatible(state["schedule"])
            self.core.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.scaler.load_state_dict(state["grad_scaler"])
            self.step, self.epoch = int(state["step"]), int(state["epoch"])
            self.step_in_epoch = int(state["step_in_epoch"])
            self._eval_pending = bool(state.get("eval_pending", False))
            if self.plateau is not None:
                self.plateau.load_state_dict(state["plateau"])
            restore_rng(state["rng"])
            self._rng_at_boundary = state["rng"]
            offset = int(state["metrics_offset"])
            self.last_checkpoint = path
            self.resumed_from_step = self.step
            log.info("resumed from %s at step %d", path, self.step)
        self.metrics.truncate_to(offset)
        self.tb = TensorBoardWriter(self.run_dir / "tensorboard", purge_step=self.step,
                                    enabled=self.dist.is_main)

    # ------------------------------------------------------------------ data
    def _micro_batches(self) -> Iterator[Any]:
        """Micro-batches from the current position on, epoch after epoch (never ends)."""
        samples_per_step = self.s.per_process_batch * self.accum
        while True:
            start = self.step_in_epoch * samples_per_step
            indices = epoch_indices(self.sampler, self.epoch, samples_per_step, start)
            if not indices and start == 0:
                raise EmptyDatasetError(
                    f"the training split has {len(self.dataset)} samples: fewer than one step "
                    f"needs ({samples_per_step} per process x {self.dist.world_size} processes)")
            self.dataset.epoch = self.epoch
            # The loader draws its workers' base seed from this generator (seed, epoch, step),
            # not from the global one, whose state must depend on the step alone.
            workers_seed = torch.Generator().manual_seed(
                derive_seed(self.s.seed, self.dist.rank, self.epoch, self.step))
            loader = DataLoader(self.dataset, batch_size=self.s.per_process_batch,
                                sampler=indices, drop_last=True, collate_fn=self.collate_fn,
                                num_workers=self.s.num_workers, generator=workers_seed,
                                pin_memory=self.precision.device.type == "cuda")
            yield from loader
            self.epoch += 1
            self.step_in_epoch = 0

    # ------------------------------------------------------------------ loop
    def run(self) -> dict[str, float]:
        """Train to ``max_iters`` (resuming if a checkpoint exists); returns the last eval."""
        self._resume()
        final: dict[str, float] = {}
        if self._eval_pending:
            final = self._evaluate()
        batches = self._micro_batches()
        t_last, clips_since, wait_since = time.perf_counter(), 0, 0.0
        while self.step < self.s.max_iters:
            loss, lr, wait = self._train_step(batches)
            clips_since += self.s.global_batch
            wait_since += wait
            with _signals_blocked():
                self.step += 1
                self.step_in_epoch += 1
                self._rng_at_boundary = capture_rng()
                if self.step % self.s.log_every == 0 or self.step == self.s.max_iters:
                    elapsed = time.perf_counter() - t_last
                    self._log_train(loss, lr, clips_since / elapsed, wait_since / elapsed)
                    t_last, clips_since, wait_since = time.perf_counter(), 0, 0.0
                due_eval = self.s.eval_every and self.step % self.s.eval_every == 0
                self._eval_pending = bool(self.evaluate and (due_eval or
                                                             self.step == self.s.max_iters))
            if self._stop_agreed:
                self._stop_at_boundary()
                break
            if self._eval_pending:
                final = self._evaluate()
            if self.step % self.s.checkpoint_every == 0 or self.step == self.s.max_iters:
                with _signals_blocked():
                    self.save_checkpoint()
        if self.tb is not None:
            self.tb.close()
        self.metrics.close()
        return final

    def _stop_at_boundary(self) -> None:
        """The agreed stop: rank 0 saves this step (once, pending evaluation included), every
        process leaves the loop at the same step."""
        with _signals_blocked():
            path = self.save_checkpoint()
            self.status.write("checkpointed", self.step, f"checkpoint {path}")
        self.stopped_at = self.step
        log.warning("rank %d: stopping at step %d for a preemption (checkpoint written by rank 0)",
                    self.dist.rank, self.step)

    def _train_step(self, batches: Iterator[Any]) -> tuple[float, float, float]:
        seed_everything(derive_seed(self.s.seed, self.dist.rank, self.step))
        self._buffers_at_step_start = {k: v.detach().clone()
                                       for k, v in self.core.named_buffers()}
        self._in_step = True
        self.model.train()
        lr = self.schedule.lr_at(self.step, self.plateau.cuts if self.plateau is not None else ())
        set_lr(self.optimizer, lr)
        self.optimizer.zero_grad(set_to_none=True)
        total, wait = torch.zeros((), device=self.precision.device), 0.0
        for k in range(self.accum):
            t0 = time.perf_counter()
            batch = next(batches)
            wait += time.perf_counter() - t0
            sync = k == self.accum - 1 or not isinstance(self.model, nn.parallel.DistributedDataParallel)
            with contextlib.nullcontext() if sync else self.model.no_sync():
                with self.precision.autocast():
                    loss, items = self.step_fn(self.model, batch, self.precision)
                if self.dist.distributed:
                    loss = loss * self._share_weight(items)
                self.scaler.scale(loss / self.accum).backward()
            total += loss.detach().float()
        mean_loss = total / self.accum
        if self.dist.distributed:
            # The stop flag rides along: every process sees the same sum, so all stop together.
            both = torch.stack([mean_loss, torch.tensor(float(self._stop_requested),
                                                        device=mean_loss.device)])
            dist.all_reduce(both)
            mean_loss = both[0] / self.dist.world_size
            self._stop_agreed = bool(both[1] > 0)
        value = float(mean_loss)
        if not math.isfinite(value):
            self._in_step = False
            raise NonFiniteLossError(self.step, lr, self.last_checkpoint)
        with _signals_blocked():
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self._in_step = False
        return value, lr, wait

    def _share_weight(self, items: int) -> torch.Tensor:
        """``items x world / items over all processes``: scales this process's mean loss so that
        DDP's average of the gradients is the gradient of the mean over the global batch (1.0
        exactly when every process holds as many items, e.g. Kinetics clips)."""
        counts = torch.tensor([float(items)], device=self.precision.device)
        dist.all_reduce(counts)
        return float(items) * self.dist.world_size / counts[0]

    def _log_train(self, loss: float, lr: float, clips_per_s: float, wait_frac: float) -> None:
        values = {"loss": loss, "lr": lr, "clips_per_s": clips_per_s,
                  "data_wait_frac": wait_frac, "max_mem_mb": _max_memory_mb(self.precision)}
        self.metrics.write_many(self.step, "train", values)
        if self.tb is not None:
            self.tb.write_many(self.step, "train", values)
        eta = (self.s.max_iters - self.step) * self.s.global_batch / max(clips_per_s, 1e-9)
        self.status.write("running", self.step, f"loss {loss:.4f}", eta_s=eta)
        if self.dist.is_main:
            log.info("step %d/%d  loss %.4f  lr %.5g  %.1f clips/s  data wait %.0f%%  eta %.0fs",
                     self.step, self.s.max_iters, loss, lr, clips_per_s, 100 * wait_frac, eta)

    def _evaluate(self) -> dict[str, float]:
        values: dict[str, float] = {}
        if self.dist.is_main and self.evaluate is not None:
            self.core.eval()
            with torch.no_grad():
                values = self.evaluate(self.core, self.step)
            self.core.train()
            with _signals_blocked():
                self.metrics.write_many(self.step, "val", values)
                if self.tb is not None:
                    self.tb.write_many(self.step, "val", values)
        with _signals_blocked():  # the cut and the end of the pending evaluation are one step
            if self.plateau is not None:
                self._observe_plateau(values)
            self._eval_pending = False
        return values

    def _observe_plateau(self, values: dict[str, float]) -> None:
        """Every process sees rank 0's metric (only rank 0 evaluates) and makes the same cut."""
        metric = self.schedule.plateau_metric
        value = float(values.get(metric, math.nan)) if self.dist.is_main else math.nan
        if self.dist.distributed:
            shared = torch.tensor([value], dtype=torch.float64, device=self.precision.device)
            dist.broadcast(shared, src=0)
            value = float(shared[0])
        if math.isnan(value):
            raise ValueError(f"schedule.plateau.metric={metric!r} is not among the evaluation's metrics")
        if self.plateau.observe(self.step, value):
            log.info("step %d: val %s %.4f has not improved on %.4f for %d evaluations: learning rate cut",
                     self.step, metric, value, self.plateau.best, self.plateau.patience)


def _max_memory_mb(precision: Precision) -> float:
    if precision.device.type == "cuda":
        return torch.cuda.max_memory_allocated(precision.device) / 2 ** 20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@contextlib.contextmanager
def _signals_blocked() -> Iterator[None]:
    """Defer SIGUSR2/SIGTERM (submitit's preemption/timeout) until the block ends."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _PREEMPTION_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
