"""How a job's config names its model, dataset and member, as the dashboard labels them.

The metric names themselves are the job contract's (`contract.metric_names`).
"""

from __future__ import annotations

from typing import Any

from orchestrator.views.leaderboard import TTA_CONFIG_PATHS, tta_label

__all__ = ["model_label", "dataset_label", "member_label", "CONFIG_LABEL_PATHS", "job_labels"]

_KINETICS_VERSIONS = {"400": "K400", "600": "K600", "700": "K700"}


def _section(config: dict[str, Any], *keys: str) -> Any:
    for key in keys:
        if isinstance(config, dict) and key in config:
            return config[key]
    return None


def model_label(config: dict[str, Any] | None) -> str:
    """`model.name` of a resolved job config (a Hydra `configs/model/*.yaml`), else ""."""
    model = _section(config or {}, "model")
    if isinstance(model, dict):
        return str(model.get("name") or model.get("arch") or "")
    return str(model or "")


def dataset_label(config: dict[str, Any] | None) -> str:
    """"AVA v2.2", "K700", ... from the job config's `dataset` (or `data`) section."""
    data = _section(config or {}, "dataset", "data")
    if not isinstance(data, dict):
        return str(data or "")
    name = str(data.get("dataset") or data.get("name") or "").lower()
    version = str(data.get("version") or "")
    if name.startswith("kinetics"):
        return _KINETICS_VERSIONS.get(version.lstrip("kK"), f"Kinetics {version}".strip())
    if name == "ava":
        return f"AVA {version}".strip()
    return f"{name} {version}".strip()


def member_label(config: dict[str, Any] | None, job_kind: str, job_name: str = "") -> str:
    """The ensemble member a job belongs to, or "ensemble" for the ensemble's own jobs.

    A `member` entry in the config wins; otherwise the planner's naming convention
    `<kind>.<split>.<member>` (e.g. `evaluate.val.sf8x8`) gives it.
    """
    if job_kind == "ensemble":
        return "ensemble"
    member = _section(config or {}, "member")
    if isinstance(member, dict):
        member = member.get("name")
    if not member and job_name.count(".") >= 1:
        member = job_name.rsplit(".", 1)[-1]
    return str(member or "")


#: The config fields the leaderboard needs, as JSON paths the database extracts itself; the
#: test-time augmentation and the single-scale mark are read as the CLI reads them.
CONFIG_LABEL_PATHS = (("model", "name"), ("dataset", "dataset"), ("dataset", "version"),
                      ("data", "dataset"), ("data", "version"), ("member",), *TTA_CONFIG_PATHS)


def job_labels(kind: str, extracted: dict[tuple[str, ...], str | None], job_name: str = "") -> dict[str, Any]:
    """member/model/dataset labels, test-time augmentation (`tta`, AVA evaluations) and whether
    the ensemble averages the job (`in_ensemble`) from the `CONFIG_LABEL_PATHS` values of one job.

    The single-scale evaluation of a "++" member (`single_scale_of` in its config) is labelled
    as such and is not an ensemble member."""
    data_key = "dataset" if extracted.get(("dataset", "dataset")) is not None else "data"
    config = {"model": {"name": extracted.get(("model", "name"))},
              "dataset": {"dataset": extracted.get((data_key, "dataset")),
                          "version": extracted.get((data_key, "version"))},
              "member": extracted.get(("member",))}
    mirrored = extracted.get(("single_scale_of", "member"))
    tta = "" if kind == "ensemble" else tta_label(extracted.get(("data", "tta_scales")),
                                                  extracted.get(("data", "tta_flip")))
    if mirrored:
        tta = f"{tta}, single-scale twin of {mirrored} (not in the ensemble)"
    return {"member": member_label(config, kind, job_name), "model": model_label(config),
            "dataset": dataset_label(config), "tta": tta, "in_ensemble": kind == "evaluate" and not mirrored}
