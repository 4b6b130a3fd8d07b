"""An assert that cannot fail is worse than none: ``assert a == b if c else d`` is read as
``assert (a == b) if c else d`` (true whenever ``c`` is false), and an assert on a tuple or a
non-empty constant always holds. None may creep into the suite."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _vacuous_asserts(source: str, name: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source, filename=name)):
        if isinstance(node, ast.Assert) and isinstance(node.test, (ast.IfExp, ast.Tuple, ast.List, ast.Constant,
                                                                   ast.JoinedStr)):
            found.append(f"{name}:{node.lineno}: assert {ast.unparse(node.test)}")
    return found


def test_the_check_finds_each_shape():
    shapes = ["assert len(x) == 2 * n if n > 1 else 1", "assert (x == 1, 'message')", "assert 'always'",
              "assert f'{x}'"]
    assert [len(_vacuous_asserts(code, "t.py")) for code in shapes] == [1, 1, 1, 1]
    assert _vacuous_asserts("assert len(x) == (2 * n if n > 1 else 1)", "t.py") == []


def test_no_test_asserts_something_that_cannot_fail():
    found = [hit for path in sorted(TESTS.rglob("*.py"))
             for hit in _vacuous_asserts(path.read_text(), str(path.relative_to(TESTS)))]
    assert found == []
