"""Compose an experiment with Hydra's compose API (no ``@hydra.main``, no working-dir change).

The config tree is ``configs/`` at the repository root (beside the ``orchestrator``
package, which is how both a source checkout and an editable install lay it out), or
``$ORCH_CONFIGS_DIR``. ``compose_experiment("ensemble_ava", ["scale=demo"])`` is what
``python -m orchestrator submit ensemble_ava scale=demo`` runs.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence

from omegaconf import DictConfig


class ConfigCompositionError(ValueError):
    """An unknown experiment or a bad override; the message is one line for the CLI."""


def configs_dir() -> Path:
    override = os.environ.get("ORCH_CONFIGS_DIR")
    path = Path(override) if override else Path(__file__).resolve().parents[2] / "configs"
    if not (path / "config.yaml").is_file():
        raise ConfigCompositionError(f"Hydra config tree not found at {path} (set ORCH_CONFIGS_DIR)")
    return path


def available_experiments() -> list[str]:
    return sorted(p.stem for p in (configs_dir() / "experiment").glob("*.yaml"))


_UNKNOWN_KEY = re.compile(r"^Could not override '(?P<key>[^']+)'\.\s+To append to your config use (?P<add>\S+)")


def _one_line(hydra_message: str) -> str:
    """Hydra's message in one line; an override of a key that does not exist says so first
    (Hydra's own text only suggests appending it, which turns a typo into a new key)."""
    unknown = _UNKNOWN_KEY.match(hydra_message)
    if unknown:
        return (f"unknown config key {unknown['key']!r} in override {unknown['add'].lstrip('+')!r} "
                f"(check its spelling; to add a new key on purpose: {unknown['add']})")
    return " ".join(hydra_message.split()).split(" Config search path")[0]


def compose_experiment(experiment: str, overrides: Sequence[str] = ()) -> DictConfig:
    """The composed config of ``experiment`` with command-line ``overrides`` applied.

    Raises ``ConfigCompositionError`` with Hydra's own message and the experiments that exist.
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    known = available_experiments()
    if experiment not in known:
        raise ConfigCompositionError(
            f"unknown experiment {experiment!r}; available experiments: {', '.join(known)}")
    if GlobalHydra.instance().is_initialized():
        GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(configs_dir()), version_base=None):
            return compose("config", overrides=[f"experiment={experiment}", *overrides])
    except (HydraException, OmegaConfBaseException) as error:
        message = _one_line(str(error))
        raise ConfigCompositionError(
            f"{message} (experiment {experiment!r}; available experiments: {', '.join(known)})") from error
