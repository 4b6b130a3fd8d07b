"""The contract package imports nothing outside the standard library: compute nodes, the CLI
and the dashboard all import it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODULES = sorted(f"contract.{p.stem}" for p in (ROOT / "contract").glob("*.py") if p.stem != "__init__")


def test_importing_every_contract_module_loads_only_the_standard_library():
    code = ("import sys\nbefore = set(sys.modules)\n"
            + "".join(f"import {name}\n" for name in MODULES)
            + "loaded = {m.split('.')[0] for m in set(sys.modules) - before}\n"
            + "print(' '.join(sorted(m for m in loaded if m != 'contract' and m not in sys.stdlib_module_names)))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert MODULES and done.stdout.strip() == ""
