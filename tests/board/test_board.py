"""The board: both flavours boot real Xen with dom0 on systemd and the agent,
and the board command's up/env/dom0/down do what they say."""
import os
import re

import pytest

import tiny
from conftest import board_cmd

EXPECTED = {
    "bundled": {"NEW_VGIC": True, "ACPI": True, "SBSA_VUART_CONSOLE": True,
                "gic_version": 2, "dom0_boot": "acpi"},
    "stock": {"NEW_VGIC": False, "ACPI": False, "SBSA_VUART_CONSOLE": True,
              "gic_version": 3, "dom0_boot": "dt"},
}


def test_up_prints_urls_token_and_log(board):
    out = board.up_output
    assert f"https://127.0.0.1:{board.port}/v1" in out
    assert re.search(rf"web console\s+https://127\.0\.0\.1:{board.port}/\s", out)
    assert board.token in out
    ca = re.search(r"\n  CA\s+(\S+)", out).group(1)
    assert os.path.samefile(ca, board.cacert)
    log = re.search(r"serial log\s+(\S+)", out).group(1)
    with open(log, errors="replace") as f:
        serial = f.read()
    # The serial log holds Xen's and dom0's console.
    assert "Xen version 4.17" in serial
    assert "Welcome to" in serial or "systemd" in serial


def test_host_reports_the_running_hypervisor(board):
    status, _, body = board.request("GET", "/v1/host")
    assert status == 200, body
    want = EXPECTED[board.flavor]
    assert re.fullmatch(r"4\.17\.\d+.*", body["xen"]["version"]), body
    for key in ("NEW_VGIC", "ACPI", "SBSA_VUART_CONSOLE"):
        assert body["xen"]["config"][key] is want[key], (key, body)
    assert body["gic_version"] == want["gic_version"]
    assert body["dom0_boot"] == want["dom0_boot"]
    assert body["cpus"] == 2
    mem = body["memory_mib"]
    # 4 GiB board, dom0 has 768 MiB of it.
    assert 2048 < mem["total"] <= 4096 and 0 < mem["free"] < mem["total"], mem


def test_host_capacity_counts_what_vms_take(board):
    def capacity():
        status, _, body = board.api("GET", "/host")
        assert status == 200, body
        return body["capacity"], body

    before, host = capacity()
    assert before["vms_max"] == 64 and before["memory_mib_free"] == host["memory_mib"]["free"]
    with tiny.vm(board, "cap", "idle", vcpus=2) as vm:
        during, host = capacity()
        assert during["vms"] == before["vms"] + 1
        assert during["vms_with_domain"] == before["vms_with_domain"] + 1
        assert during["vcpus_used"] == before["vcpus_used"] + 2
        assert during["vcpus_free"] == max(0, host["cpus"] - during["vcpus_used"])
        # Xen gave the guest its 32 MiB (and a little for the domain itself).
        assert 32 <= before["memory_mib_free"] - during["memory_mib_free"] <= 40, (before, during)
        status, _, _ = board.api("POST", f"/vms/{vm}/destroy")
        assert status == 200
        stopped, _ = capacity()
        assert stopped["vms"] == during["vms"] and stopped["vms_with_domain"] == before["vms_with_domain"]
        assert stopped["vcpus_used"] == before["vcpus_used"]


def test_every_answer_says_which_agent_and_host_boot(board):
    r = board.dom0("cat", "/proc/sys/kernel/random/boot_id")
    boot = r.stdout.strip().replace("-", "")
    seen = set()
    for method, path in (("GET", "/healthz"), ("GET", "/v1/vms"), ("GET", "/v1/nope"), ("DELETE", "/healthz")):
        _, headers, _ = board.request(method, path)
        assert headers["X-Xvmd-Boot-Id"] == boot
        seen.add(headers["X-Xvmd-Instance-Id"])
    _, headers, _ = board.request("GET", "/v1/vms", token=None)
    seen.add(headers["X-Xvmd-Instance-Id"])
    assert len(seen) == 1, seen


def test_host_matches_what_dom0_sees(board):
    # The same facts, read another way: the Xen build config Debian or we
    # shipped, and dom0's firmware tables.
    r = board.dom0("sh", "-c", "test -d /sys/firmware/acpi/tables && echo acpi || echo dt")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == EXPECTED[board.flavor]["dom0_boot"]
    r = board.dom0("cat", "/proc/interrupts")
    assert ("GICv3" in r.stdout) == (EXPECTED[board.flavor]["gic_version"] == 3), r.stdout


@pytest.mark.parametrize("token", [None, "", "wrong-token-0123456789", "Bearer"])
def test_v1_needs_the_token(board, token):
    status, headers, body = board.request("GET", "/v1/host", token=token)
    assert status == 401
    assert body["error"]["code"] == "unauthorized"
    assert body["error"]["message"]
    assert headers.get("WWW-Authenticate", "").startswith("Bearer")


def test_wrong_scheme_is_refused(board):
    status, _, body = board.request("GET", "/v1/host", token=None,
                                    headers={"Authorization": "Basic " + board.token})
    assert status == 401 and body["error"]["code"] == "unauthorized"


def test_unknown_route_is_a_json_404(board):
    status, _, body = board.request("GET", "/v1/no-such-thing")
    assert status == 404 and body["error"]["code"] == "not_found"


def test_services_active_and_no_xenconsoled(board):
    r = board.dom0("systemctl", "is-active", "xvmd", "xenstored")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.split() == ["active", "active"]
    r = board.dom0("systemctl", "show", "-p", "Type", "--value", "xvmd")
    assert r.stdout.strip() == "notify"
    r = board.dom0("pidof", "xenconsoled")
    assert r.returncode != 0 and r.stdout.strip() == ""


def test_dom0_weighs_more_than_a_guest(board):
    """The agent gives dom0 twice a guest's scheduler weight, so that it and
    dom0's backends keep their share of the CPUs when guests run flat out."""
    r = board.dom0("xl", "sched-credit2", "-d", "0")
    assert r.returncode == 0, r.stderr
    row = [line.split() for line in r.stdout.splitlines() if line.split()[:1] == ["Domain-0"]]
    assert row and row[0][2] == "512", r.stdout
    r = board.dom0("journalctl", "-u", "xvmd", "-b", "-o", "cat", "--no-pager")
    assert "Dom0's scheduler weight: 512" in r.stdout, r.stdout[-2000:]


def test_dom0_passes_output_and_exit_status(board):
    r = board.dom0("sh", "-c", "echo out; echo err >&2; exit 7")
    assert r.returncode == 7
    assert r.stdout == "out\n"
    assert "err" in r.stderr and "exit status 7" in r.stderr


def test_dom0_works_without_the_agent(board):
    r = board.dom0("systemctl", "stop", "xvmd")
    assert r.returncode == 0, r.stderr
    try:
        r = board.dom0("systemctl", "is-active", "xvmd")
        assert r.stdout.strip() == "inactive"
        assert board.dom0("true").returncode == 0
    finally:
        assert board.dom0("systemctl", "start", "xvmd").returncode == 0
    status, _, _ = board.request("GET", "/v1/host")
    assert status == 200


def test_env_prints_url_and_token(board):
    r = board_cmd("env", port=board.port)
    assert r.returncode == 0
    m = re.fullmatch(rf"export XVMD_URL=https://127\.0\.0\.1:{board.port} XVMD_TOKEN=(\S+) XVMD_CACERT=(\S+)",
                     r.stdout.strip())
    assert m, r.stdout
    assert m.group(1) == board.token
    assert os.path.samefile(m.group(2), board.cacert)


def test_second_up_on_the_same_port_is_refused(board):
    r = board_cmd("up", "--flavor", board.flavor, port=board.port, timeout=120)
    assert r.returncode != 0
    assert "already runs" in r.stderr


