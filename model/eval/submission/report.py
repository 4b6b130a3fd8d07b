"""Validation reports shared by the submission validators, and the validate-then-write step
both writers use."""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from contract.files import atomic_write_text

__all__ = ["Problem", "ValidationReport", "SubmissionError", "write_validated"]


@dataclass(frozen=True)
class Problem:
    line: int | None
    message: str


@dataclass
class ValidationReport:
    """Outcome of a validation; ``to_dict()``/``to_json()`` give plain JSON types.

    ``problems`` make the file invalid; ``warnings`` (one line each) do not."""

    path: str
    format: str
    ok: bool = True
    problems: list[Problem] = field(default_factory=list)
    rows: int = 0
    covered: int = 0
    expected: int = 0
    warnings: list[str] = field(default_factory=list)

    def add(self, line: int | None, message: str) -> None:
        self.problems.append(Problem(line, message))
        self.ok = False

    def warn(self, message: str) -> None:
        """Something the official scorer accepts but a reader should know; ``ok`` stays."""
        self.warnings.append(message)

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


class SubmissionError(ValueError):
    """A submission that would not pass validation; ``report`` lists every problem."""

    def __init__(self, report: ValidationReport) -> None:
        self.report = report
        first = "; ".join(f"line {p.line}: {p.message}" if p.line else p.message for p in report.problems[:5])
        super().__init__(f"{report.path}: {len(report.problems)} problems: {first}")


def write_validated(path: str | Path, text: str, validate: Callable[[Path], ValidationReport]) -> ValidationReport:
    """Validate ``text`` as a file named like ``path`` (in a scratch folder beside it), then
    write it atomically; an invalid submission raises ``SubmissionError`` and writes nothing."""
    target = Path(path)
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        probe = Path(scratch) / target.name
        probe.write_text(text)
        report = validate(probe)
    report.path = str(target)
    if not report.ok:
        raise SubmissionError(report)
    atomic_write_text(target, text)
    return report
