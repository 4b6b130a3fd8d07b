"""configs/model/<variant>.yaml and model.nets.variant_spec describe the same networks.

The Hydra files carry the report's numbers for the data pipeline (T, tau, alpha); the spec
builds the network. A change to one without the other fails here.
"""

from fractions import Fraction
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from model.nets import VARIANTS, build, variant_spec

MODEL_CONFIGS = Path(__file__).resolve().parents[3] / "configs" / "model"
NAMES = sorted(p.stem for p in MODEL_CONFIGS.glob("*.yaml"))


def model_config(name: str):
    with initialize_config_dir(config_dir=str(MODEL_CONFIGS), version_base=None):
        return compose(config_name=name)


def test_every_model_config_names_a_variant():
    assert NAMES, f"no model configs under {MODEL_CONFIGS}"
    for name in NAMES:
        assert model_config(name).name in VARIANTS


@pytest.mark.parametrize("name", NAMES)
def test_config_and_spec_agree(name):
    cfg = model_config(name)
    spec = variant_spec(cfg.name)
    assert (cfg.num_frames, cfg.sampling_rate, cfg.depth) == (spec.num_frames, spec.sampling_rate, spec.depth)
    if spec.pathways == "slowfast":
        assert cfg.alpha == spec.alpha
    assert Fraction(1, cfg.beta_inv) == spec.beta
    has_nl = any(s.nonlocal_after for p in spec.table for s in p.stages)
    assert cfg.non_local == has_nl


@pytest.mark.parametrize("name", NAMES)
def test_config_keys_build_the_network(name):
    cfg = model_config(name)
    model = build(f"{cfg.name}_tiny", task="ava", num_classes=80, nl_context=True, dropout=cfg.dropout)
    assert model.head.dropout.p == cfg.dropout
