"""Export: the test-server submission file, validated, with a provenance manifest.

Writes ``submission/<experiment>_<split>.csv`` (AVA, 60 evaluated classes, every test
keyframe) or ``.json`` (Kinetics top-5 per test video) through ``model.eval.submission``,
which validates before replacing the file atomically, and ``manifest.json``: for each member,
its predictions, the checkpoint that produced them and the configs, each with its sha256,
and the validator's report. `python -m orchestrator export` reads that manifest (it does not
validate again) and extends it with the database lineage. The report's warnings (e.g. test
keyframes without a detection, which the official evaluator scores) go to the job log.
"""
from __future__ import annotations

import csv
import sys
from pathlib import Path
from typing import Any

import yaml

from contract.files import atomic_write_json, sha256_file
from contract.run_dir import CONFIG_FILE, MANIFEST_FILE, SUBMISSION_DIR
from jobs.base import RunDirJob, run_cli
from jobs.config import JobConfig
from jobs.ensemble import member_paths
from jobs.errors import BadConfigError, BadDataError
from jobs.predictions import evaluation_labelmap, read_kinetics_predictions

__all__ = ["AVA_TEST_KEYFRAMES_FILE", "ExportJob", "Job", "member_provenance"]

#: Every AVA v2.2 test keyframe, in ``<data.root>/annotations`` (the official file name).
AVA_TEST_KEYFRAMES_FILE = "ava_test_keyframes_v2.2.csv"


def member_provenance(predictions: Path) -> dict[str, Any]:
    """predictions -> the job that wrote them -> the checkpoint it evaluated, with hashes."""
    eval_dir = predictions.parent.parent
    entry: dict[str, Any] = {"predictions": str(predictions),
                             "predictions_sha256": sha256_file(predictions)}
    config_path = eval_dir / CONFIG_FILE
    if config_path.is_file():
        entry["config"] = str(config_path)
        entry["config_sha256"] = sha256_file(config_path)
        config = yaml.safe_load(config_path.read_text()) or {}
        checkpoint = (config.get("inputs") or {}).get("checkpoint")
        if checkpoint and Path(checkpoint).is_file():
            checkpoint = Path(checkpoint)
            entry["checkpoint"] = str(checkpoint)
            entry["checkpoint_sha256"] = sha256_file(checkpoint)
            trained_config = checkpoint.parent.parent / CONFIG_FILE
            if trained_config.is_file():
                entry["checkpoint_config"] = str(trained_config)
                entry["checkpoint_config_sha256"] = sha256_file(trained_config)
    return entry


def _test_video_ids(path: Path) -> list[str]:
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [row["youtube_id"] for row in rows]


class ExportJob(RunDirJob):
    """Writes and validates the challenge submission file and its manifest."""

    kind = "export"

    def run(self, cfg: JobConfig) -> dict[str, Any]:
        from model.eval.ava_io import read_ava_csv
        from model.eval.submission import write_ava_submission, write_kinetics_submission

        fmt = cfg.spec.export.format
        split = cfg.spec.data.split
        source = member_paths(cfg)["ensemble"] if "ensemble" in cfg.require("inputs.predictions") \
            else next(iter(member_paths(cfg).values()))
        annotations = Path(cfg.spec.data.root) / "annotations"
        name = f"{cfg.spec.job.experiment}_{split}"
        folder = self.run_dir / SUBMISSION_DIR
        folder.mkdir(parents=True, exist_ok=True)
        if fmt == "ava_csv":
            labelmap = annotations / evaluation_labelmap(cfg.spec.data.labelmap, cfg.path)
            keyframes = annotations / AVA_TEST_KEYFRAMES_FILE
            for needed in (labelmap, keyframes):
                if not needed.is_file():
                    raise BadDataError(f"{needed}: needed to validate the AVA submission")
            target = folder / f"{name}.csv"
            references = {"labelmap": str(labelmap), "test_keyframes": str(keyframes)}
            report = write_ava_submission(read_ava_csv(source, scored=True), target,
                                          labelmap=labelmap, test_keyframes=keyframes)
        elif fmt == "kinetics_json":
            probs, _ = read_kinetics_predictions(source)
            classes_file, videos_file = annotations / "classes.txt", annotations / "test.csv"
            classes = [c.strip() for c in classes_file.read_text().splitlines() if c.strip()] \
                if classes_file.is_file() else list(probs.columns)
            if not videos_file.is_file():
                raise BadDataError(f"{videos_file}: needed to validate the Kinetics submission")
            target = folder / f"{name}.json"
            references = {"classes": str(classes_file) if classes_file.is_file() else None,
                          "test_videos": str(videos_file)}
            report = write_kinetics_submission(
                probs, target, test_video_ids=_test_video_ids(videos_file), class_names=classes,
                external_data_used=False)
        else:
            raise BadConfigError(f"{cfg.path}: field 'export.format' must be ava_csv or "
                                 f"kinetics_json, got {fmt!r}")
        # Valid, yet worth reading before submitting (e.g. test keyframes without a detection):
        # the job log is where whoever runs the experiment looks.
        for message in report.warnings:
            print(f"warning: {target}: {message}", file=sys.stderr)
        members = cfg.spec.inputs.get("member_predictions")
        if not isinstance(members, dict):
            raise BadConfigError(f"{cfg.path}: field 'inputs.member_predictions' is missing or not a mapping")
        manifest = {
            "submission": str(target.relative_to(self.run_dir)),
            "submission_sha256": sha256_file(target), "format": fmt,
            "ensemble": member_provenance(source),
            "members": {str(m): member_provenance(Path(str(p))) for m, p in members.items()},
            "validation": report.to_dict(),
            "references": references,  # what it was validated against: `export --revalidate`'s default
        }
        atomic_write_json(self.run_dir / MANIFEST_FILE, manifest)
        return {"kind": self.kind, "submission": manifest["submission"],
                "submission_sha256": manifest["submission_sha256"], "valid": bool(report.ok),
                "rows": report.rows, "covered": report.covered, "expected": report.expected,
                "warnings": list(report.warnings)}


Job = ExportJob

if __name__ == "__main__":
    raise SystemExit(run_cli(ExportJob))
