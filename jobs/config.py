"""Reading config.yaml (the job config contract, docs/jobs.md) with errors that name the field."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from jobs.errors import BadConfigError

__all__ = ["JobConfig", "load_job_config"]


class JobConfig:
    """The parsed config.yaml; ``require("schedule.max_iters")`` names a missing field."""

    def __init__(self, raw: dict[str, Any], path: Path) -> None:
        self.raw, self.path = raw, path

    def section(self, name: str) -> dict[str, Any]:
        value = self.raw.get(name)
        if not isinstance(value, dict):
            raise BadConfigError(f"{self.path}: section {name!r} is missing or not a mapping")
        return value

    def require(self, dotted: str) -> Any:
        node: Any = self.raw
        for part in dotted.split("."):
            if not isinstance(node, dict) or node.get(part) is None:
                raise BadConfigError(f"{self.path}: field {dotted!r} is missing")
            node = node[part]
        return node

    def get(self, dotted: str, default: Any = None) -> Any:
        try:
            return self.require(dotted)
        except BadConfigError:
            return default

    @property
    def seed(self) -> int:
        return int(self.get("job.seed", 0))


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's message spans several lines (with a caret under the text); one line here."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"{where}not valid YAML ({problem})"


def load_job_config(run_dir: Path) -> JobConfig:
    path = Path(run_dir) / "config.yaml"
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise BadConfigError(f"{path} does not exist") from None
    except yaml.YAMLError as exc:
        raise BadConfigError(f"{path}: {_yaml_problem(exc)}") from exc
    if not isinstance(raw, dict):
        raise BadConfigError(f"{path}: expected a mapping at the top level")
    return JobConfig(raw, path)
