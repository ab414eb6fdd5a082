"""The web console in a real browser on this board: tests/browser (Debian's
chromium driven by playwright-core) logs in, creates a VM through the page,
types into its vuart console with the writer lease, and watches it from a
second browser that cannot type. Screenshots go to
build/test-artifacts/browser/. The page does not depend on the flavour, so it
runs on the first flavour's board only."""
import os
import subprocess

import pytest

from conftest import FLAVORS, ROOT


def test_web_console_in_chromium(board):
    if board.flavor != FLAVORS[0]:
        pytest.skip(f"the browser test runs on the {FLAVORS[0]} board")
    env = dict(os.environ, XVMD_URL=board.url, XVMD_TOKEN=board.token)
    r = subprocess.run([os.path.join(ROOT, "tests", "browser", "run")], env=env,
                       capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, f"{r.stdout[-6000:]}\n{r.stderr[-3000:]}"
