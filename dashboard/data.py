"""The dashboard's only door to data: a cached read-only engine and cached query results.

Pages import this module and nothing below it. `st.cache_resource` keeps one engine (one
connection pool) per database URL for the server's lifetime; `st.cache_data` keeps query
results for a short TTL, so a page rerun (a filter change, an auto-refresh) costs no SQL while
fresh, and a new ingest shows up within the TTL. Results are keyed by the URL, so two
databases never share entries.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from dashboard import files
from dashboard.published import published_reference
from dashboard.queries import compare, jobs, leaderboard, runs, submissions
from dashboard.readonly import DatabaseStatus, database_status, open_readonly_engine
from dashboard.settings import DashboardSettings, load_settings

__all__ = ["settings", "status", "leaderboard_table", "published", "experiments", "experiment_jobs",
           "job_edges", "experiment_attempts", "job_attempts", "usage", "estimated_usage", "hours_text", "run_info", "job_choices", "metric_series_names",
           "metric_curve", "per_class_ap", "comparable_jobs", "comparable_default", "default_selection",
           "training_sources", "per_class_ap_table", "value_rank", "ava_class_names", "config_diff", "submissions_of",
           "submission_bytes", "manifest_of", "members_table", "job_artifacts", "kinetics_confusion", "gpu_hours",
           "LIVE_TTL_S", "RESULTS_TTL_S"]

LIVE_TTL_S = 5        # job states: the Jobs page auto-refreshes
RESULTS_TTL_S = 30    # scores, curves, submissions: change at most once per ingest


def settings() -> DashboardSettings:
    return load_settings()


@st.cache_resource(show_spinner=False)
def _engine(db_url: str) -> Engine:
    return open_readonly_engine(db_url)


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def _status(db_url: str) -> DatabaseStatus:
    return database_status(_engine(db_url), where=db_url)


def status() -> DatabaseStatus:
    """Checked before every page (a revision read and a count), at most every few seconds:
    an upgrade or a first experiment shows up without restarting the dashboard."""
    return _status(settings().db_url)


def _url() -> str:
    return settings().db_url


@st.cache_data(ttl=RESULTS_TTL_S, show_spinner=False)
def _leaderboard(db_url: str) -> pd.DataFrame:
    return leaderboard.leaderboard(_engine(db_url))


def leaderboard_table() -> pd.DataFrame:
    return _leaderboard(_url())


def published() -> pd.DataFrame:
    return published_reference()


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def _experiments(db_url: str) -> pd.DataFrame:
    return jobs.experiments(_engine(db_url))


def experiments() -> pd.DataFrame:
    return _experiments(_url())


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def _experiment_jobs(db_url: str, experiment_id: int) -> pd.DataFrame:
    return jobs.experiment_jobs(_engine(db_url), experiment_id)


def experiment_jobs(experiment_id: int) -> pd.DataFrame:
    return _experiment_jobs(_url(), int(experiment_id))


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def _job_edges(db_url: str, experiment_id: int) -> list[tuple[int, int]]:
    return jobs.job_edges(_engine(db_url), experiment_id)


def job_edges(experiment_id: int) -> list[tuple[int, int]]:
    return _job_edges(_url(), int(experiment_id))


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def _experiment_attempts(db_url: str, experiment_id: int) -> pd.DataFrame:
    return jobs.experiment_attempts(_engine(db_url), experiment_id)


def experiment_attempts(experiment_id: int) -> pd.DataFrame:
    return _experiment_attempts(_url(), int(experiment_id))


gpu_hours = jobs.gpu_hours
usage = jobs.usage


def hours_text(hours: float) -> str:
    """Device-hours to a tenth, and to a thousandth below one hour (a demo's 0.004 core-h is not 0.0)."""
    return f"{hours:.1f}" if hours >= 1 else f"{hours:.3f}"


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def _estimated_usage(db_url: str, experiment_id: int | None, job_id: int | None, unit: str) -> float | None:
    return jobs.estimated_usage(_engine(db_url), experiment_id=experiment_id, job_id=job_id, unit=unit)


def estimated_usage(*, unit: str, experiment_id: int | None = None, job_id: int | None = None) -> float | None:
    return _estimated_usage(_url(), experiment_id, job_id, unit)


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def _job_attempts(db_url: str, job_id: int) -> pd.DataFrame:
    return jobs.job_attempts(_engine(db_url), job_id)


def job_attempts(job_id: int) -> pd.DataFrame:
    return _job_attempts(_url(), int(job_id))


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def _run_info(db_url: str, job_id: int) -> runs.RunInfo | None:
    return runs.run_info(_engine(db_url), job_id)


def run_info(job_id: int) -> runs.RunInfo | None:
    return _run_info(_url(), int(job_id))


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def _job_choices(db_url: str, experiment_id: int) -> pd.DataFrame:
    return runs.job_choices(_engine(db_url), experiment_id)


def job_choices(experiment_id: int) -> pd.DataFrame:
    return _job_choices(_url(), int(experiment_id))


@st.cache_data(ttl=RESULTS_TTL_S, show_spinner=False)
def _metric_series_names(db_url: str, job_id: int) -> pd.DataFrame:
    return runs.metric_series_names(_engine(db_url), job_id)


def metric_series_names(job_id: int) -> pd.DataFrame:
    return _metric_series_names(_url(), int(job_id))


@st.cache_data(ttl=RESULTS_TTL_S, show_spinner=False)
def _metric_curve(db_url: str, job_id: int, split: str, name: str) -> pd.DataFrame:
    return runs.metric_curve(_engine(db_url), job_id, split, name)


def metric_curve(job_id: int, split: str, name: str) -> pd.DataFrame:
    return _metric_curve(_url(), int(job_id), split, name)


@st.cache_data(show_spinner=False)
def ava_class_names() -> dict[int, str]:
    """The official AVA v2.2 label map's names (the 60 evaluated classes among them)."""
    from model.data.ava_labelmap import AVA_ACTION_NAMES

    return dict(AVA_ACTION_NAMES)


@st.cache_data(ttl=RESULTS_TTL_S, show_spinner=False)
def _per_class_ap(db_url: str, job_id: int) -> pd.DataFrame:
    return runs.per_class_ap(_engine(db_url), job_id, ava_class_names())


def per_class_ap(job_id: int) -> pd.DataFrame:
    return _per_class_ap(_url(), int(job_id))


config_diff = runs.config_diff
comparable_default = runs.comparable_default
default_selection = compare.default_selection
value_rank = compare.value_rank


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def _comparable_jobs(db_url: str, experiment_id: int) -> pd.DataFrame:
    return compare.comparable_jobs(_engine(db_url), experiment_id)


def comparable_jobs(experiment_id: int) -> pd.DataFrame:
    return _comparable_jobs(_url(), int(experiment_id))


@st.cache_data(ttl=RESULTS_TTL_S, show_spinner=False)
def _training_sources(db_url: str, job_ids: tuple[int, ...]) -> dict[int, int]:
    return compare.training_sources(_engine(db_url), list(job_ids))


def training_sources(job_ids: list[int]) -> dict[int, int]:
    return _training_sources(_url(), tuple(int(i) for i in job_ids))


@st.cache_data(ttl=RESULTS_TTL_S, show_spinner=False)
def _per_class_ap_table(db_url: str, job_ids: tuple[int, ...]) -> pd.DataFrame:
    return compare.per_class_ap_table(_engine(db_url), list(job_ids), ava_class_names())


def per_class_ap_table(job_ids: list[int]) -> pd.DataFrame:
    return _per_class_ap_table(_url(), tuple(int(i) for i in job_ids))


@st.cache_data(ttl=RESULTS_TTL_S, show_spinner=False)
def _submissions(db_url: str, experiment_id: int) -> pd.DataFrame:
    return submissions.submissions(_engine(db_url), experiment_id)


def submissions_of(experiment_id: int) -> pd.DataFrame:
    return _submissions(_url(), int(experiment_id))


@st.cache_data(ttl=RESULTS_TTL_S, show_spinner=False)
def _job_artifacts(db_url: str, job_id: int, kind: str | None) -> pd.DataFrame:
    return submissions.job_artifacts(_engine(db_url), job_id, kind)


def job_artifacts(job_id: int, kind: str | None = None) -> pd.DataFrame:
    return _job_artifacts(_url(), int(job_id), kind)


def submission_bytes(path: str) -> bytes:
    """The file's bytes; `files.UnsafePathError` unless it is a file under the runs root."""
    return files.read_bytes_under_root(path, settings().runs_root)


members_table = submissions.members_table


def manifest_of(path: str):
    return files.read_json_under_root(path, settings().runs_root)


@st.cache_data(ttl=RESULTS_TTL_S, show_spinner=False)
def _kinetics_confusion(path: str, runs_root: str) -> pd.DataFrame:
    return files.kinetics_confusion(path, runs_root)


def kinetics_confusion(run_dir: str, relative_path: str) -> pd.DataFrame:
    return _kinetics_confusion(str(Path(run_dir) / relative_path), str(settings().runs_root))
