"""Converters against peer outputs (fixtures from tests/fixtures/nets/make_peer_fixtures.py)."""

import gzip
import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from model.nets import CheckpointMismatchError, build, load_backbone_from_classification
from model.nets.convert import convert_checkpoint, convert_state_dict, read_checkpoint
from model.nets.convert import main as convert_main

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "nets"
REPO = Path(__file__).resolve().parents[3]

CASES = {
    "pyslowfast_tiny_kinetics": ("pyslowfast", "slowfast_8x8_r101_nl_tiny", "kinetics", 10),
    "pyslowfast_tiny_ava": ("pyslowfast", "slowfast_8x8_r101_nl_tiny", "ava", 5),
    "pytorchvideo_tiny": ("pytorchvideo", "slowfast_8x8_r50_tiny", "kinetics", 10),
}


def load_fixture(name):
    payload = torch.load(FIXTURES / f"{name}.pt", weights_only=True)
    state = {k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()}
    inputs = [x.float() for x in payload["inputs"]]
    return state, inputs, payload.get("boxes"), payload["logits"]


@pytest.mark.parametrize("fixture", sorted(CASES))
def test_converted_model_gives_the_peer_output(fixture):
    source, variant, task, classes = CASES[fixture]
    state, inputs, boxes, peer_logits = load_fixture(fixture)
    model = build(variant, task=task, num_classes=classes).eval()
    model.load_state_dict(convert_state_dict(state, model, source=source), strict=True)
    with torch.no_grad():
        logits = model(inputs, boxes) if task == "ava" else model(inputs)
    assert_matches_peer(logits, peer_logits)


def assert_matches_peer(logits: torch.Tensor, peer_logits: torch.Tensor) -> None:
    """Equal to the peer's float32 output up to float rounding, relative to its largest logit.

    Not bit-equal: the fixtures were computed on another CPU, and oneDNN picks other
    convolution kernels (other summation orders) on other instruction sets; on an AMD EPYC the
    logits of order 1e5 differ from the fixtures' by up to ~0.1 (1e-6 relative).
    """
    scale = peer_logits.abs().max().clamp(min=1.0)
    torch.testing.assert_close(logits / scale, peer_logits / scale, atol=1e-5, rtol=0)


def test_unmapped_key_is_named():
    state, *_ = load_fixture("pyslowfast_tiny_kinetics")
    state["s2.pathway0_res0.branch2.se.fc1.weight"] = torch.zeros(1)
    model = build("slowfast_8x8_r101_nl_tiny", num_classes=10)
    with pytest.raises(CheckpointMismatchError, match="branch2.se.fc1.weight") as info:
        convert_state_dict(state, model, source="pyslowfast")
    assert info.value.key == "s2.pathway0_res0.branch2.se.fc1.weight"


def test_wrong_variant_fails_on_the_first_mismatching_key():
    state, *_ = load_fixture("pyslowfast_tiny_kinetics")
    model = build("slowfast_8x8_r50_tiny", num_classes=10)  # lateral 7x1^2, no NL
    with pytest.raises(CheckpointMismatchError, match="s1_fuse.conv_f2s.weight.*shape"):
        convert_state_dict(state, model, source="pyslowfast")


def test_missing_key_is_reported():
    state, *_ = load_fixture("pytorchvideo_tiny")
    del state["blocks.6.proj.bias"]
    model = build("slowfast_8x8_r50_tiny", num_classes=10)
    with pytest.raises(CheckpointMismatchError, match="head.projection.bias"):
        convert_state_dict(state, model, source="pytorchvideo")


def test_cli_converts_a_pyslowfast_checkpoint_file(tmp_path, capsys):
    state, inputs, _, peer_logits = load_fixture("pyslowfast_tiny_kinetics")
    checkpoint = tmp_path / "checkpoint_epoch_00196.pyth"
    torch.save({"epoch": 196, "model_state": {f"module.{k}": v for k, v in state.items()},
                "cfg": "TRAIN:\n  ENABLE: True\n"}, checkpoint)
    out = tmp_path / "ours.pt"
    result = subprocess.run(
        [sys.executable, "-m", "model.nets.convert", "--source", "pyslowfast",
         "--variant", "slowfast_8x8_r101_nl_tiny", str(checkpoint), str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    model = build("slowfast_8x8_r101_nl_tiny", num_classes=10).eval()
    model.load_state_dict(torch.load(out, weights_only=True), strict=True)
    with torch.no_grad():
        assert_matches_peer(model(inputs), peer_logits)
    code = convert_main(["--source", "pyslowfast", "--variant", "slowfast_8x8_r50_tiny",
                         str(checkpoint), str(tmp_path / "no.pt")])
    assert code == 2 and "s1_fuse.conv_f2s.weight" in capsys.readouterr().err
    assert not (tmp_path / "no.pt").exists()


def test_unreadable_checkpoint_is_a_typed_error(tmp_path):
    path = tmp_path / "broken.pyth"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointMismatchError, match="broken.pyth"):
        read_checkpoint(path)
    with pytest.raises(CheckpointMismatchError):
        convert_checkpoint("pyslowfast", "slowfast_8x8_r50_tiny", path, tmp_path / "out.pt")


def test_ava_detector_initialised_from_a_kinetics_classifier():
    state, inputs, *_ = load_fixture("pyslowfast_tiny_kinetics")
    classifier = build("slowfast_8x8_r101_nl_tiny", num_classes=10)
    classifier.load_state_dict(convert_state_dict(state, classifier, source="pyslowfast"))
    detector = build("slowfast_8x8_r101_nl_tiny", task="ava", num_classes=80, nl_context=True)
    head_before = {k: v.clone() for k, v in detector.state_dict().items() if k.startswith("head.")}
    skipped = load_backbone_from_classification(detector, classifier.state_dict())
    assert skipped == ["head.projection.bias", "head.projection.weight"]
    for key, value in detector.state_dict().items():
        if key.startswith("backbone."):
            assert torch.equal(value, classifier.state_dict()[key]), key
        else:
            assert torch.equal(value, head_before[key]), key
    # the dilated res5 reuses the classifier's weights: same Slow/Fast res4 features
    classifier.eval(), detector.eval()
    with torch.no_grad():
        torch.testing.assert_close(detector.backbone.res4[0](torch.ones(1, 80, 2, 4, 4)),
                                   classifier.backbone.res4[0](torch.ones(1, 80, 2, 4, 4)))


def test_backbone_loading_names_a_missing_backbone_key():
    classifier = build("slowfast_8x8_r101_tiny", num_classes=10)  # the same without NL
    detector = build("slowfast_8x8_r101_nl_tiny", task="ava", num_classes=80)
    with pytest.raises(CheckpointMismatchError, match="nonlocal_blocks"):
        load_backbone_from_classification(detector, classifier.state_dict())


def test_backbone_loading_names_a_wrong_shape():
    classifier = build("slowfast_8x8_r50_tiny", num_classes=10)  # lateral 7x1^2
    detector = build("slowfast_8x8_r101_tiny", task="ava", num_classes=80)  # lateral 5x1^2
    with pytest.raises(CheckpointMismatchError, match="backbone.lateral.pool1.conv.weight.*shape"):
        load_backbone_from_classification(detector, classifier.state_dict())


def test_caffe2_model_zoo_pickle_converts_to_the_peer_output(tmp_path):
    """Blob names were checked against PySlowFast's own Caffe2 name converter."""
    _, inputs, _, peer_logits = load_fixture("pyslowfast_tiny_kinetics")
    out = tmp_path / "from_caffe2.pt"
    convert_checkpoint("pyslowfast", "slowfast_8x8_r101_nl_tiny", FIXTURES / "pyslowfast_tiny_caffe2.pkl", out)
    model = build("slowfast_8x8_r101_nl_tiny", num_classes=10).eval()
    model.load_state_dict(torch.load(out, weights_only=True), strict=True)
    with torch.no_grad():
        assert_matches_peer(model(inputs), peer_logits)


def test_caffe2_pickle_with_code_is_refused(tmp_path):
    class Payload:
        def __reduce__(self):
            return (print, ("this would run",))

    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"blobs": {"conv1_w": Payload()}}))
    with pytest.raises(CheckpointMismatchError, match="builtins.print is not allowed"):
        read_checkpoint(path)


def _full_key_sets():
    with gzip.open(FIXTURES / "full_state_keys.json.gz", "rt") as handle:
        keys = json.load(handle)
    for name, per_task in keys.items():
        source, _, variant = name.rpartition(":")
        for task, entries in per_task.items():
            yield pytest.param(source or "pyslowfast", variant, task, entries, id=f"{name}-{task}")


@pytest.mark.parametrize("source,variant,task,entries", list(_full_key_sets()))
def test_full_size_peer_key_sets_map_one_to_one(source, variant, task, entries):
    """Every key of the released-size peer models maps, with its shape, onto build(variant)."""
    state = {key: torch.empty(shape, device="meta") for key, shape in entries}
    classes = next(shape[0] for key, shape in entries if key.endswith("proj.bias") or
                   key == "head.projection.bias")
    with torch.device("meta"):
        model = build(variant, task=task, num_classes=classes)
    converted = convert_state_dict(state, model, source=source)
    assert converted.keys() == model.state_dict().keys()
    assert len(entries) == len(converted)
