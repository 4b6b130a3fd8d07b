"""SQL for the dashboard: plain functions of an Engine returning pandas DataFrames or small
dataclasses. No Streamlit here (the benchmark and the tests call them directly); caching lives
in `dashboard.data`. Every query is bounded: by experiment, by job, by a LIMIT, or by the
`ix_metrics_val_name_job_step` index; none reads the whole metrics table."""
