"""Debian's Chromium driven by Playwright, the way this project can run it.

`playwright install` cannot download browsers here; `/usr/bin/chromium` (apt `chromium`) is
launched instead, headless, without the sandbox (root in containers) and without the
background networking that would keep trying blocked hosts.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CHROMIUM_PATH", "CHROMIUM_ARGS", "launch_chromium"]

CHROMIUM_PATH = Path(os.environ.get("DASHBOARD_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def launch_chromium(playwright):
    """A headless Chromium Browser; FileNotFoundError naming the path if it is not installed."""
    if not CHROMIUM_PATH.is_file():
        raise FileNotFoundError(f"{CHROMIUM_PATH} not found: install Debian's chromium (apt-get install -y chromium)")
    return playwright.chromium.launch(executable_path=str(CHROMIUM_PATH), headless=True, args=CHROMIUM_ARGS)
