"""What a submission will cost, before it is made, and what it cost once it ran.

    estimate = estimate_plan(plan)            # per job: device-hours, wall, disk; the programme
    print(render_estimate(estimate))          # the lines ``submit --dry-run`` adds

How the figures are made and what they leave out: ``estimate.py`` and ``throughput.py``, and
docs/slurm.md, "What a submission will cost". Importing this package does not import torch;
counting a network's multiply-adds does, on first use.
"""

from orchestrator.cost.estimate import JobEstimate, PlanEstimate, estimate_plan
from orchestrator.cost.render import format_duration, format_bytes, render_estimate
from orchestrator.cost.throughput import (ASSUMED_RATES, AssumedRate, CostInputError, DeviceRates, Rate,
                                          load_device_rates)

__all__ = ["ASSUMED_RATES", "AssumedRate", "CostInputError", "DeviceRates", "JobEstimate", "PlanEstimate", "Rate",
           "estimate_plan", "format_bytes", "format_duration", "load_device_rates", "render_estimate"]
