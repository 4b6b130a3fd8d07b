"""The contract between the parts of the system: what a job writes into its run directory,
the states a job goes through, the metric names, and how those files are written.

Standard library only, on purpose: `model/`, `jobs/` (compute nodes), `orchestrator/` (whose
CLI must start in well under a second) and `dashboard/` all import it, so it may depend on
nothing of theirs and on no third-party package (no torch, SQLAlchemy, pandas).
"""
