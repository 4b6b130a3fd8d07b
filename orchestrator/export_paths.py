"""Where `export` may write: only inside the exports folder.

Default `<runs_root>/exports`, else `$ORCH_EXPORTS_ROOT` or `--exports-root`. A relative
`--out` is taken inside that folder; an absolute one must already lie inside it. Rejected:
any `..` component, an absolute path elsewhere, a symlink (in the folders or as the target)
that leads outside, and an existing file unless overwriting was asked for.
"""

from __future__ import annotations

import os
from pathlib import Path

from orchestrator.db.engine import resolve_runs_root

__all__ = ["ExportPathError", "resolve_exports_root", "resolve_export_path"]


class ExportPathError(ValueError):
    """The requested output path is not allowed; the message names it and the folder."""


def resolve_exports_root(exports_root: str | os.PathLike[str] | None = None) -> Path:
    chosen = exports_root or os.environ.get("ORCH_EXPORTS_ROOT") or resolve_runs_root() / "exports"
    return Path(chosen).absolute()


def resolve_export_path(out: str | os.PathLike[str], exports_root: Path, *, overwrite: bool = False) -> Path:
    """The real path to write `out` to, guaranteed inside `exports_root` (created if missing)."""
    requested = Path(out)
    if not str(out) or requested.name in {"", ".", ".."}:
        raise ExportPathError(f"export path {str(out)!r} does not name a file")
    if ".." in requested.parts:
        raise ExportPathError(f"export path {str(out)!r} contains '..'; give a path inside {exports_root}")
    exports_root.mkdir(parents=True, exist_ok=True)
    root = exports_root.resolve()
    candidate = requested if requested.is_absolute() else exports_root / requested
    # Resolve the folder part (following any symlinks) and check it is still inside the root.
    parent = candidate.parent.resolve()
    if not parent.is_relative_to(root):
        raise ExportPathError(f"export path {str(out)!r} is outside the exports folder {root}")
    target = parent / candidate.name
    if target.is_symlink():
        raise ExportPathError(f"export path {target} is a symlink; refusing to write through it")
    if target.exists() and not overwrite:
        raise ExportPathError(f"{target} already exists (pass --force to replace it)")
    if target.exists() and not target.is_file():
        raise ExportPathError(f"{target} exists and is not a regular file")
    parent.mkdir(parents=True, exist_ok=True)
    return target
