"""Reading config.yaml (the job config contract, docs/jobs.md) with errors that name the field.

``load_job_config`` checks the file against its kind's schema (``jobs.schema``): ``cfg.spec``
is the typed config, every optional field filled with the schema's default, so the jobs read
``cfg.spec.data.batch_size`` and write no default of their own. ``require``/``get`` on the raw
mapping remain for the kinds not yet moved to ``spec``.
"""
from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from jobs.errors import BadConfigError

if TYPE_CHECKING:
    from jobs.schema import JobSpec

__all__ = ["ConfigSchemaError", "JobConfig", "load_job_config", "parse_job_config"]


class ConfigSchemaError(ValueError):
    """A config that does not match its kind's schema; ``field`` is the dotted field at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def parse_job_config(raw: Mapping[str, Any]) -> JobSpec:
    """The typed config (an instance of ``jobs.schema.KIND_SCHEMAS[job.kind]``) of ``raw``.

    Raises ``ConfigSchemaError`` naming the first field that is missing, unknown, or of the
    wrong type, e.g. ``field 'data.batch_size': Value 'eight' ... could not be converted to Integer``.
    """
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from jobs.schema import KIND_SCHEMAS, schema_of

    job = raw.get("job")
    kind = job.get("kind") if isinstance(job, Mapping) else None
    schema = schema_of(kind)
    if schema is None:
        raise ConfigSchemaError("job.kind", f"field 'job.kind' is {kind!r}; expected one of {', '.join(KIND_SCHEMAS)}")
    try:
        # A copy of the kind's empty structured config, merged in place: a third of the time
        # of OmegaConf.merge, which matters when the planner checks every job of a plan.
        merged = OmegaConf.unsafe_merge(copy.deepcopy(_structured(schema)), dict(raw))
        missing = sorted(OmegaConf.missing_keys(merged))
        if missing:
            raise ConfigSchemaError(missing[0], f"field {missing[0]!r} is missing")
        return OmegaConf.to_object(merged)  # type: ignore[return-value]
    except OmegaConfBaseException as exc:
        where = str(getattr(exc, "full_key", None) or "?")
        detail = str(getattr(exc, "msg", None) or exc).splitlines()[0]
        message = detail if f"'{where}'" in detail else f"field {where!r}: {detail}"
        raise ConfigSchemaError(where, message) from None


@functools.cache
def _structured(schema: type) -> Any:
    from omegaconf import OmegaConf

    return OmegaConf.structured(schema)


class JobConfig:
    """The parsed config.yaml: ``spec`` typed (``jobs.schema``), ``raw`` as written;
    ``require("schedule.max_iters")`` names a missing field."""

    def __init__(self, raw: dict[str, Any], path: Path, spec: JobSpec | None = None) -> None:
        self.raw, self.path, self._spec = raw, path, spec

    @classmethod
    def checked(cls, raw: dict[str, Any], path: Path) -> "JobConfig":
        """``raw`` checked against its kind's schema; a mismatch is a ``BadConfigError`` naming
        the file and the field."""
        try:
            spec = parse_job_config(raw)
        except ConfigSchemaError as exc:
            raise BadConfigError(f"{path}: {exc}") from None
        return cls(raw, path, spec)

    @property
    def spec(self) -> Any:  # a JobSpec; Any, since each kind knows which of them it reads
        """The typed config; only a config read through ``load_job_config``/``checked`` has one."""
        if self._spec is None:
            raise BadConfigError(f"{self.path}: the config was not checked against its schema")
        return self._spec

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
        return int(self.spec.job.seed)


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
    return JobConfig.checked(raw, path)
