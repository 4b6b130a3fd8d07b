"""The export job on a tiny hand-made AVA test split: the manifest it writes (what
`python -m orchestrator export` reads) and the validator's warnings in its log."""
import hashlib
import json

import yaml

from jobs.export import ExportJob
from model.data.ava_labelmap import AVA_EVALUATED_IDS, AVA_EVALUATED_LABEL_MAP_FILE, write_label_map

DETECTIONS = ["vid_a,0902,0.100,0.100,0.500,0.600,1,0.900000",
              "vid_a,0903,0.200,0.100,0.500,0.600,12,0.500000",
              "vid_a,0903,0.200,0.100,0.500,0.600,2,0.400000"]  # id 2 is not evaluated: left out


def _run_dir(tmp_path, keyframes):
    annotations = tmp_path / "ava" / "annotations"
    annotations.mkdir(parents=True)
    write_label_map(annotations / AVA_EVALUATED_LABEL_MAP_FILE, AVA_EVALUATED_IDS)
    (annotations / "ava_test_keyframes_v2.2.csv").write_text(keyframes)
    predictions = tmp_path / "ensemble.test" / "predictions" / "test.csv"
    predictions.parent.mkdir(parents=True)
    predictions.write_text("\n".join(DETECTIONS) + "\n")
    run_dir = tmp_path / "export.test"
    run_dir.mkdir()
    config = {"job": {"kind": "export", "name": "export.test", "experiment": "tiny", "seed": 1, "device": "cpu"},
              "data": {"dataset": "ava", "version": "v2.2", "root": str(tmp_path / "ava"), "split": "test",
                       "labelmap": AVA_EVALUATED_LABEL_MAP_FILE},
              "export": {"format": "ava_csv", "members": ["m1"]},
              "resources": {"nodes": 1, "gpus_per_node": 0, "cpus_per_task": 1, "mem_gb": 1, "timeout_min": 5},
              "inputs": {"predictions": {"ensemble": str(predictions)},
                         "member_predictions": {"m1": str(predictions)}}}
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config))
    return run_dir


def test_the_manifest_names_the_validated_file_with_its_hash_and_report(tmp_path, capfd):
    run_dir = _run_dir(tmp_path, "vid_a,902\nvid_a,903\n")
    result = ExportJob(run_dir)()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    submission = run_dir / manifest["submission"]
    assert manifest["submission"] == "submission/tiny_test.csv" == result["submission"]
    assert manifest["submission_sha256"] == hashlib.sha256(submission.read_bytes()).hexdigest()
    assert manifest["format"] == "ava_csv" and set(manifest["members"]) == {"m1"}
    assert manifest["validation"]["ok"] is True and manifest["validation"]["warnings"] == []
    annotations = tmp_path / "ava" / "annotations"
    assert manifest["references"] == {"labelmap": str(annotations / AVA_EVALUATED_LABEL_MAP_FILE),
                                      "test_keyframes": str(annotations / "ava_test_keyframes_v2.2.csv")}
    assert submission.read_text().splitlines() == DETECTIONS[:2]
    assert "warning" not in capfd.readouterr().err


def test_warnings_of_the_report_go_to_the_job_log(tmp_path, capfd):
    run_dir = _run_dir(tmp_path, "vid_a,902\nvid_a,903\nvid_b,902\n")
    result = ExportJob(run_dir)()
    assert result["valid"] and result["warnings"] == json.loads(
        (run_dir / "manifest.json").read_text())["validation"]["warnings"]
    (line,) = [line for line in capfd.readouterr().err.splitlines() if line.startswith("warning: ")]
    assert "tiny_test.csv" in line and "1 test keyframe has no detection (first: vid_b,0902)" in line
