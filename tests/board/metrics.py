"""GET /metrics seen from the host: one scrape as a dict of samples, parsed
by the Prometheus client's own parser (python3-prometheus-client), and
Debian's Prometheus server and promtool (the host's package, downloaded and
unpacked into the cache, never installed: no daemon is left running)."""
import contextlib
import glob
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

CACHE = os.environ.get("XVMD_CACHE") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "xvmd")


class Scrape:
    """One scrape: each family's type by its name (its # TYPE line; the
    parser names a counter without its _total) and samples by name and
    labels."""

    def __init__(self, text):
        self.text = text
        self.types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M))
        self.samples = {}
        for family in text_string_to_metric_families(text):
            for s in family.samples:
                self.samples[(s.name, frozenset(s.labels.items()))] = s.value

    def get(self, name, **labels):
        """The value of the one sample of name with exactly these labels."""
        return self.samples[(name, frozenset(labels.items()))]

    def series(self, name):
        """{frozenset(labels): value} of every sample named name."""
        return {lab: v for (n, lab), v in self.samples.items() if n == name}


def scrape(board):
    status, headers, body = board.request("GET", "/metrics")
    assert status == 200, body
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4"), headers["Content-Type"]
    return Scrape(body.decode())


def prometheus_tools():
    """(prometheus, promtool): the binaries of Debian's amd64 `prometheus`
    package, fetched with apt-get download and unpacked once into the cache."""
    out = os.path.join(CACHE, "host-tools", "prometheus")
    tools = (os.path.join(out, "usr/bin/prometheus"), os.path.join(out, "usr/bin/promtool"))
    if all(os.access(t, os.X_OK) for t in tools):
        return tools
    with tempfile.TemporaryDirectory() as tmp:
        r = subprocess.run(["apt-get", "download", "-q", "prometheus"], cwd=tmp, capture_output=True, text=True,
                           timeout=600, stdin=subprocess.DEVNULL)
        debs = glob.glob(os.path.join(tmp, "prometheus_*.deb"))
        assert debs, f"apt-get download prometheus failed: {r.stderr}"
        # Unpacked beside, then moved in whole: a half-unpacked tree is never used.
        os.makedirs(os.path.dirname(out), exist_ok=True)
        part = out + ".part"
        shutil.rmtree(part, ignore_errors=True)
        subprocess.run(["dpkg-deb", "-x", debs[0], part], check=True, timeout=300)
        shutil.rmtree(out, ignore_errors=True)
        os.rename(part, out)
    return tools


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def prometheus_server(board, interval_s=1):
    """Debian's Prometheus on loopback, scraping the board's agent with its
    token every interval_s; yields a query function (PromQL -> result list)
    once the target is up. Stopped and its data removed afterwards."""
    binary, _ = prometheus_tools()
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        token = os.path.join(tmp, "token")
        with open(token, "w") as f:
            f.write(board.token)
        with open(os.path.join(tmp, "prometheus.yml"), "w") as f:
            f.write(f"global: {{scrape_interval: {interval_s}s, scrape_timeout: {interval_s}s}}\n"
                    "scrape_configs:\n"
                    "  - job_name: xvmd\n"
                    "    scheme: https\n"
                    f"    tls_config: {{ca_file: {board.cacert}}}\n"
                    f"    authorization: {{credentials_file: {token}}}\n"
                    f"    static_configs: [{{targets: ['127.0.0.1:{board.port}']}}]\n")
        log = open(os.path.join(tmp, "prometheus.log"), "w")
        p = subprocess.Popen([binary, f"--config.file={tmp}/prometheus.yml", f"--storage.tsdb.path={tmp}/data",
                              f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=log,
                             stdin=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}/api/v1"

        def get(path):
            with urllib.request.urlopen(base + path, timeout=10) as r:
                body = json.loads(r.read())
            assert body["status"] == "success", body
            return body["data"]

        def query(promql):
            return get("/query?query=" + urllib.parse.quote(promql))["result"]

        try:
            deadline = time.monotonic() + 90
            while True:
                assert p.poll() is None, open(os.path.join(tmp, "prometheus.log")).read()[-2000:]
                try:
                    targets = get("/targets")["activeTargets"]
                except OSError:
                    targets = []
                # Up, and a scrape of it has gone through without error.
                if targets and targets[0]["health"] == "up" and not targets[0]["lastError"]:
                    break
                assert time.monotonic() < deadline, f"Prometheus' target did not come up: {targets}"
                time.sleep(0.5)
            query.targets = lambda: get("/targets")["activeTargets"]
            yield query
        finally:
            p.terminate()
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            log.close()
