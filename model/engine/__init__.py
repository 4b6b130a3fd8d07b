"""The training engine: a plain, exactly resumable loop and the small parts it calls.

- ``trainer.Trainer`` / ``LoopSettings``: the loop (accumulation to the global batch, DDP,
  metrics, evaluation hook, checkpoints, preemption hook ``checkpoint_now``).
- ``schedules``: the report's half-period cosine and step schedules with linear warm-up.
- ``optim.build_sgd``: SGD, momentum 0.9, no weight decay on BN parameters.
- ``batchnorm.group_batchnorm``: BN statistics over groups of 8 clips (split or synced).
- ``precision.Precision``: autocast (bf16 on CUDA, fp16 + GradScaler, fp32 on CPU),
  channels_last_3d, optional ``torch.compile``.
- ``distributed.init_distributed``: process group from submitit's SLURM environment or
  torchrun variables (NCCL on GPU, gloo on CPU).
- ``checkpoint.CheckpointStore``: atomic, checksummed checkpoints with a ``latest`` pointer.
- ``reporting``: metrics.jsonl, status.json, TensorBoard writers.

Nothing here knows about SLURM job files or the database; ``jobs/`` wires it to config.yaml.
"""
