"""The web console in a real browser on this board: tests/browser (Debian's
chromium driven by playwright-core) logs in, creates a VM through the page,
types into its vuart console with the writer lease, and watches it from a
second browser that cannot type. Screenshots go to
build/test-artifacts/browser/. The page does not depend on the flavour, so it
runs on the first flavour's board only."""
import json
import os
import subprocess
import urllib.parse

import pytest

from conftest import FLAVORS, ROOT
from contract import contract


def test_web_console_in_chromium(board):
    if board.flavor != FLAVORS[0]:
        pytest.skip(f"the browser test runs on the {FLAVORS[0]} board")
    env = dict(os.environ, XVMD_URL=board.url, XVMD_TOKEN=board.token, XVMD_CACERT=board.cacert)
    r = subprocess.run([os.path.join(ROOT, "tests", "browser", "run")], env=env,
                       capture_output=True, text=True, timeout=900, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, f"{r.stdout[-6000:]}\n{r.stderr[-3000:]}"
    # What the pages got, held against the API contract like every other
    # board test's answers.
    answers = messages = 0
    with open(os.path.join(ROOT, "build", "test-artifacts", "browser", "exchanges.jsonl")) as f:
        for line in f:
            e = json.loads(line)
            if "ws" in e:
                contract().check_ws_message(json.loads(e["message"]))
                messages += 1
                continue
            url = urllib.parse.urlsplit(e["url"])
            body = e["body"].encode() if e["body"] is not None else b""
            contract().check_response(e["method"], url.path, e["status"], e["headers"].items(), body,
                                      complete=e["body"] is not None)
            answers += 1
    assert answers >= 10 and messages >= 5, (answers, messages)
