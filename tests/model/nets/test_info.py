"""FLOPs per view against the papers' published numbers (the report; SlowFast, ICCV 2019)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from model.nets.info import gmacs_per_view
from model.nets.info import main as info_main

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("name,published", [
    ("slowfast_8x8_r101_nl", 115),   # the report, Sec. 3.1: "552 vs. 115 GFLOPs per view"
    ("fast_b1_32x2_r101", 552),      # ibid.
    ("slowfast_8x8_r101", 106),      # SlowFast paper, Table 2 (K400)
    ("slowfast_16x8_r101_nl", 234),  # ibid.
])
def test_gflops_per_256_view_match_the_papers(name, published):
    assert gmacs_per_view(name, size=256) == pytest.approx(published, rel=0.01)


def test_fast_only_costs_4_8x_slowfast():
    ratio = gmacs_per_view("fast_b1_32x2_r101") / gmacs_per_view("slowfast_8x8_r101_nl")
    assert round(ratio, 1) == 4.8  # the report, Sec. 1.1


def test_ava_head_costs_more_than_kinetics():
    # res5 at stride 1: 137.7 G measured with PySlowFast's AVA model (shared/notes)
    assert gmacs_per_view("slowfast_8x8_r101", task="ava") == pytest.approx(137.7, rel=0.01)


def test_cli_json(capsys):
    result = subprocess.run([sys.executable, "-m", "model.nets.info", "slowfast_8x8_r50_tiny", "--json"],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert set(info["gmacs_per_view_by_size"]) == {"224", "256"}
    assert info["gmacs_per_view"] == info["gmacs_per_view_by_size"]["256"]
    assert info["params"] > 0 and "multiply-add" in info["convention"]
    with pytest.raises(SystemExit) as exit_info:
        info_main(["resnet50"])
    assert exit_info.value.code == 2 and "invalid choice" in capsys.readouterr().err
