"""GET /metrics on the board, against real Xen: behind the token; every
family api/openapi.yaml lists and no other, each passing promtool's lint;
its counts equal to what the API says and what the test did (bytes typed,
requests sent, boots and how they ended, Xen's CPU time); and scraped by
Debian's Prometheus server through the board's port, as an operator would."""
import re
import secrets
import subprocess
import time

import pytest
import yaml

import metrics
import tiny
from conftest import ROOT


def documented_families():
    with open(f"{ROOT}/api/openapi.yaml") as f:
        doc = yaml.safe_load(f)
    text = doc["paths"]["/metrics"]["get"]["description"]
    return set(re.findall(r"`(xvmd_[a-z0-9_]+)`", text)) - {"xvmd_session"}



@pytest.mark.one_flavour
def test_metrics_need_the_token(board):
    status, _, body = board.request("GET", "/metrics", token=None)
    assert status == 401 and body["error"]["code"] == "unauthorized", body
    status, _, body = board.request("GET", "/metrics", token="not-the-token")
    assert status == 401, body


def test_a_scrape_has_the_documented_families_and_passes_promtool(board):
    with tiny.vm(board, "metrics-fam", "echo"):
        s = metrics.scrape(board)
        assert set(s.types) == documented_families(), set(s.types) ^ documented_families()
        assert s.types["xvmd_http_request_duration_seconds"] == "histogram"
        assert all(s.types[n] == "counter" for n in s.types if n.endswith("_total"))
        _, promtool = metrics.prometheus_tools()
        r = subprocess.run([promtool, "check", "metrics"], input=s.text, capture_output=True, text=True,
                           timeout=60)
        assert r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(), (r.stdout, r.stderr)


def test_counts_are_what_the_api_says(board):
    with tiny.vm(board, "metrics-echo", "echo") as vm:
        typed = {"pv": secrets.token_hex(100).encode() + b"\n", "vuart": secrets.token_hex(37).encode() + b"\n"}
        input_route = "/v1/vms/{name}/consoles/{console}/input"
        before = metrics.scrape(board)
        posts_before = before.samples.get(("xvmd_http_requests_total", frozenset(
            {"route": input_route, "method": "POST", "status": "204"}.items())), 0)
        for console, data in typed.items():
            for _ in range(3):
                board.type_on(vm, console, data)
            board.wait_log(vm, console, data * 3, timeout=60)
        body = board.api("GET", f"/vms/{vm}")[2]
        s = metrics.scrape(board)

        assert s.get("xvmd_up") == 1 and s.get("xvmd_xen_up") == 1
        assert s.get("xvmd_vm_info", vm=vm, uuid=body["spec"]["uuid"]) == 1
        assert s.get("xvmd_vm_state", vm=vm, state="running") == 1
        assert sum(v for lab, v in s.series("xvmd_vm_state").items() if ("vm", vm) in lab) == 1
        assert s.get("xvmd_vm_vcpus", vm=vm) == body["spec"]["vcpus"]
        assert s.get("xvmd_vm_memory_bytes", vm=vm) == body["spec"]["memory_mib"] << 20
        assert s.get("xvmd_vm_boots_total", vm=vm) == body["boot_count"] == 1
        assert s.get("xvmd_vm_last_exit_info", vm=vm, reason="none") == 1
        # Xen's CPU time of the domain: it ran, and no more than it existed.
        cpu = s.get("xvmd_vm_cpu_seconds_total", vm=vm)
        assert 0 < cpu < 600, cpu
        for console, data in typed.items():
            c = body["consoles"][console]
            labels = {"vm": vm, "console": console}
            assert s.get("xvmd_console_input_bytes_total", **labels) == 3 * len(data)
            # The VM began after the agent did: the backend saw every byte logged.
            assert s.get("xvmd_console_output_bytes_total", **labels) == c["log_end"]
            assert s.get("xvmd_console_logged_bytes_total", **labels) == c["log_end"]
            assert s.get("xvmd_console_log_bytes", **labels) == c["log_bytes"]
            assert s.get("xvmd_console_log_max_bytes", **labels) == c["log_max_bytes"]
            assert s.get("xvmd_console_log_removed_bytes_total", **labels) == c["log_removed"] == 0
            assert s.get("xvmd_console_connected", **labels) == 1
            assert s.get("xvmd_console_corrupt", **labels) == 0
            assert s.get("xvmd_console_viewers", **labels) == 0
            assert s.get("xvmd_console_ring_errors_total", **labels) == 0
            assert s.get("xvmd_console_events_total", **labels) > 0
        # Each answer counted once, by its route's template; the histogram
        # holds as many as the counts of its route.
        posts = s.get("xvmd_http_requests_total", route=input_route, method="POST", status="204")
        assert posts - posts_before == 6
        count = s.get("xvmd_http_request_duration_seconds_count", route=input_route)
        answers = sum(v for lab, v in s.series("xvmd_http_requests_total").items() if ("route", input_route) in lab)
        assert count == answers
        assert s.get("xvmd_http_request_duration_seconds_bucket", route=input_route, le="+Inf") == count
        # This scrape's own answer is counted once it is sent: in the next.
        assert metrics.scrape(board).get("xvmd_http_requests_total", route="/metrics", method="GET",
                                         status="200") >= 2


def test_exits_are_counted_by_reason(board):
    with tiny.vm(board, "metrics-crash", "crash", wait_banner=False, delay=1) as vm:
        board.wait_vm(vm, lambda v: v["state"] == "crashed", timeout=60)
        s = metrics.scrape(board)
        assert s.get("xvmd_vm_exits_total", vm=vm, reason="crash") == 1
        assert sum(v for lab, v in s.series("xvmd_vm_exits_total").items() if ("vm", vm) in lab) == 1
        assert s.get("xvmd_vm_last_exit_info", vm=vm, reason="crash") == 1
        assert s.get("xvmd_vm_state", vm=vm, state="crashed") == 1
        # No domain, no CPU time sample; the consoles' logs stay, unserved.
        assert ("xvmd_vm_cpu_seconds_total", frozenset({"vm": vm}.items())) not in s.samples
        assert s.get("xvmd_console_connected", vm=vm, console="pv") == 0
        status, _, body = board.api("POST", f"/vms/{vm}/start")
        assert status == 200, body
        board.wait_vm(vm, lambda v: v["state"] == "crashed" and v["boot_count"] == 2, timeout=60)
        s = metrics.scrape(board)
        assert s.get("xvmd_vm_exits_total", vm=vm, reason="crash") == 2
        assert s.get("xvmd_vm_boots_total", vm=vm) == 2


def test_prometheus_scrapes_the_board(board):
    with tiny.vm(board, "metrics-prom", "echo") as vm, metrics.prometheus_server(board) as query:
        target = query.targets()[0]
        assert target["health"] == "up" and target["lastError"] == "", target
        up = query('up{job="xvmd"}')
        assert [r["value"][1] for r in up] == ["1"], up
        info = query(f'xvmd_vm_info{{vm="{vm}"}}')
        assert len(info) == 1 and info[0]["value"][1] == "1", info
        # Typed bytes show up in Prometheus' own view within a few scrapes.
        board.type_on(vm, "pv", b"prometheus\n")
        board.wait_log(vm, "pv", "prometheus\n", timeout=30)
        want = board.api("GET", f"/vms/{vm}")[2]["consoles"]["pv"]["log_end"]
        deadline = time.monotonic() + 30
        while True:
            got = query(f'xvmd_console_logged_bytes_total{{vm="{vm}",console="pv"}}')
            if got and int(got[0]["value"][1]) == want:
                break
            assert time.monotonic() < deadline, (got, want)
            time.sleep(0.5)
        # PromQL over the agent's histogram works as on any exporter's.
        q = query('histogram_quantile(0.99, sum by (le) (rate(xvmd_http_request_duration_seconds_bucket[1m])))')
        assert len(q) == 1, q


@pytest.mark.one_flavour
def test_a_metrics_token_opens_the_metrics_only(board):
    scraper = secrets.token_hex(20)
    r = board.dom0("sh", "-c", f"umask 077 && printf '%s\\n' {scraper} > /etc/xvmd/metrics-token")
    assert r.returncode == 0, r.stderr
    board.restart_agent("--metrics-token-file /etc/xvmd/metrics-token")
    try:
        status, _, body = board.request("GET", "/metrics", token=scraper)
        assert status == 200 and b"xvmd_up 1" in body
        for method, path in (("GET", "/v1/vms"), ("GET", "/v1/host"), ("GET", "/v1/events"),
                             ("POST", "/v1/vms")):
            status, _, body = board.request(method, path, token=scraper, body=b"{}" if method == "POST" else None)
            assert status == 401 and body["error"]["code"] == "unauthorized", (method, path, body)
        # The API's own token opens the metrics still.
        assert board.request("GET", "/metrics")[0] == 200
    finally:
        board.restart_agent()
        board.dom0("rm", "-f", "/etc/xvmd/metrics-token")
