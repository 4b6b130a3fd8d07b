"""Every module's imports against the layer table of docs/architecture.md ("may import").

The table is the contract a reader trusts: `dashboard/` sits on top and nothing below imports
it (`orchestrator dashboard` starts it as its own process); `model/` knows no SQL, SLURM or
Streamlit. This test reads the table itself, so the document and the code cannot drift apart:
an import the table does not allow fails here, naming the file and line. Entries marked
"lazily" must be imported inside a function, never at module import time. `contract`, the
bottom layer of shared names, may be imported by every layer.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ARCHITECTURE = REPO / "docs" / "architecture.md"
ALLOWED_EVERYWHERE = ("contract",)


@dataclass(frozen=True)
class Allowed:
    name: str     # a dotted module, e.g. "orchestrator.db"; its submodules are allowed too
    lazily: bool  # only inside a function


@dataclass(frozen=True)
class Violation:
    path: str
    line: int
    module: str
    why: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: imports {self.module} ({self.why})"


def _split_entries(cell: str) -> list[str]:
    """Comma-separated entries; commas inside parentheses belong to the entry's note."""
    entries, depth, current = [], 0, ""
    for char in cell:
        depth += char == "("
        depth -= char == ")"
        if char == "," and depth == 0:
            entries.append(current.strip())
            current = ""
        else:
            current += char
    return [entry for entry in [*entries, current.strip()] if entry and entry != "-"]


def layer_table(markdown: str) -> dict[str, list[Allowed]]:
    """{folder: allowed imports} from the `| folder | what | may import |` table."""
    table: dict[str, list[Allowed]] = {}
    in_table = False
    for line in markdown.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if cells[:1] == ["folder"] and cells[-1:] == ["may import"]:
            in_table = True
            continue
        if not in_table:
            continue
        if not cells:
            break
        if set(cells[0]) <= {"-", ":"}:
            continue
        folder = cells[0].strip("`").rstrip("/")
        table[folder] = [Allowed(name=entry.split()[0].strip("`"),
                                 lazily="lazily" in (re.search(r"\((.*)\)", entry) or [None, ""])[1])
                         for entry in _split_entries(cells[-1])]
    return table


def _imports(tree: ast.Module):
    """(line, candidate module names, at module level) of each absolute import."""
    def visit(node: ast.AST, top_level: bool):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield child.lineno, [alias.name], top_level
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                for alias in child.names:
                    yield child.lineno, [child.module, f"{child.module}.{alias.name}"], top_level
            inner = top_level and not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            yield from visit(child, inner)

    yield from visit(tree, True)


def _is_within(module: str, allowed: str) -> bool:
    return module == allowed or module.startswith(allowed + ".")


def layer_violations(root: Path, table: dict[str, list[Allowed]]) -> list[Violation]:
    """Imports of first-party layers (the table's folders and `contract`) the table forbids."""
    layers = set(table) | set(ALLOWED_EVERYWHERE)
    violations = []
    for folder, allowed in table.items():
        for path in sorted((root / folder).rglob("*.py")):
            relative = str(path.relative_to(root))
            tree = ast.parse(path.read_text(encoding="utf-8"), relative)
            seen: dict[tuple[int, str], bool] = {}
            for line, candidates, top_level in _imports(tree):
                layer = candidates[0].split(".")[0]
                if layer not in layers or layer == folder or layer in ALLOWED_EVERYWHERE:
                    continue
                granted = [entry for entry in allowed if any(_is_within(c, entry.name) for c in candidates)]
                if seen.get((line, layer)):
                    continue  # one report per import statement, not per imported name
                seen[(line, layer)] = True
                if not granted:
                    violations.append(Violation(relative, line, candidates[-1], f"{folder}/ may not import {layer}"))
                elif top_level and all(entry.lazily for entry in granted):
                    violations.append(Violation(relative, line, candidates[-1],
                                                f"{folder}/ may import it only lazily, inside a function"))
    return violations


def test_the_layer_table_lists_every_layer() -> None:
    table = layer_table(ARCHITECTURE.read_text(encoding="utf-8"))
    assert set(table) - {"contract"} == {"dashboard", "orchestrator", "migrations", "jobs", "model", "configs"}
    assert Allowed("orchestrator.db", False) in table["dashboard"]


def test_every_import_is_allowed_by_the_layer_table() -> None:
    table = layer_table(ARCHITECTURE.read_text(encoding="utf-8"))
    violations = layer_violations(REPO, table)
    assert not violations, "imports the layer table of docs/architecture.md does not allow:\n" + "\n".join(
        map(str, violations))


def test_the_orchestrator_core_never_imports_the_dashboard() -> None:
    table = layer_table(ARCHITECTURE.read_text(encoding="utf-8"))
    assert not any(_is_within(entry.name, "dashboard") for entry in table["orchestrator"])


def test_the_checker_finds_a_forbidden_and_an_eager_import(tmp_path: Path) -> None:
    """The check itself can fail: a core module importing the dashboard, one importing a
    lazily-allowed module at import time; a lazy import and `contract` pass."""
    (tmp_path / "core").mkdir()
    (tmp_path / "ui").mkdir()
    (tmp_path / "core" / "bad.py").write_text("import os\nfrom ui.app import page\nimport heavy.nets\n")
    (tmp_path / "core" / "good.py").write_text("from contract.states import RUNNING\n"
                                               "def f():\n    import heavy.nets\n")
    (tmp_path / "heavy").mkdir()
    table = layer_table("| folder | what | may import |\n|---|---|---|\n"
                        "| `ui/` | top | core, heavy (names, lazily) |\n"
                        "| `core/` | middle | heavy.nets (counts, lazily), x (a, b) |\n"
                        "| `heavy/` | bottom | - |\n")
    assert table["core"] == [Allowed("heavy.nets", True), Allowed("x", False)]
    found = {(v.path, v.line): v.why for v in layer_violations(tmp_path, table)}
    assert found == {("core/bad.py", 2): "core/ may not import ui",
                     ("core/bad.py", 3): "core/ may import it only lazily, inside a function"}


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-q"]))
