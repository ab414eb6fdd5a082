"""Guest networks on the board (issue 14): PV NICs on the agent's bridges,
addresses from its DHCP servers, isolation between networks, what reboots,
deletes and agent restarts leave, and a guest's port reached from the host
through the port-forward websocket (tools/xvmd-forward). Two Linux guests
share `default`, a third sits alone on a network of its own."""
import json
import os
import re
import secrets
import socket
import subprocess
import time
import urllib.request

import pytest

from conftest import ROOT

FORWARD = os.path.join(ROOT, "tools", "xvmd-forward")
OTHER_SUBNET = "169.254.2.0/24"


def run_on(board, vm, command, timeout=60):
    """Runs a shell command on the guest's pv console; its exit status."""
    tag = secrets.token_hex(4)
    _, _, end = board.log(vm, "pv")
    board.type_on(vm, "pv", f"{command}; echo rc-{tag}=$?\n")
    data = board.wait_log(vm, "pv", re.compile(rb"rc-" + tag.encode() + rb"=(\d+)\r?\n"), timeout=timeout,
                          start=end)
    return int(re.search(rb"rc-" + tag.encode() + rb"=(\d+)\r?\n", data).group(1))


def pings(board, vm, address):
    return run_on(board, vm, f"ping -c 2 -W 2 {address} >/dev/null 2>&1") == 0


def nic(board, vm):
    status, _, body = board.api("GET", f"/vms/{vm}")
    assert status == 200, body
    return body["nics"][0]


def wait_lease(board, vm, timeout=120):
    body = board.wait_vm(vm, lambda b: b["nics"] and b["nics"][0]["lease"] is not None
                         and b["nics"][0]["connected"], timeout=timeout)
    n = body["nics"][0]
    assert n["lease"]["address"] == n["address"], n
    # the guest's DHCP hook says so on /dev/console: the last console= (vuart here)
    board.wait_log(vm, "vuart", f"xvmd-guest: eth0 {n['address']}/", timeout=timeout)
    return n


def dom0_out(board, *cmd):
    r = board.dom0(*cmd)
    assert r.returncode == 0, r.stderr
    return r.stdout


def vif_ports(board, bridge):
    return set(json_lines(dom0_out(board, "/bin/ip", "-j", "link", "show", "master", bridge)))


def json_lines(text):
    return [link["ifname"] for link in json.loads(text or "[]")]


def test_a_vif_made_late_is_plugged(board):
    """netback loaded only after the VM started: its vif appears late, and the
    agent puts it on the bridge when the kernel reports the new link (no
    polling, no time limit); the guest, whose netfront waited for its
    backend, then boots and takes its lease. First in the module:
    xen-netback can only be unloaded while no vif exists."""
    vifs = dom0_out(board, "sh", "-c", "ls /sys/class/net | grep '^vif' || true").split()
    if vifs:
        pytest.skip(f"vifs of other VMs exist ({vifs}): netback cannot be unloaded")
    r = board.dom0("rmmod", "xen_netback")
    assert r.returncode == 0, r.stderr
    vm = f"netlate-{secrets.token_hex(2)}"
    try:
        try:
            board.create_linux(vm, nics=[{}])
            # netfront, loaded by the guest's rcS, waits for the backend (Linux
            # waits up to 5 min for a vif's before it goes on booting)
            board.wait_log(vm, "vuart", "xen_netfront: Initialising", timeout=120)
            time.sleep(2)
            n = nic(board, vm)
            assert n["connected"] is False and n["lease"] is None, n
            assert board.dom0("/bin/ip", "link", "show", n["vif"]).returncode != 0
        finally:
            r = board.dom0("modprobe", "xen_netback")
            assert r.returncode == 0, r.stderr
        board.wait_prompts(vm)
        n = wait_lease(board, vm, timeout=90)
        _, _, default = board.api("GET", "/networks/default")
        assert n["vif"] in vif_ports(board, default["bridge"])
        assert pings(board, vm, default["gateway"])
    finally:
        board.delete_vm(vm)


@pytest.fixture(scope="module")
def net(board):
    """Two guests on default (a, b), one on network `iso` (c)."""
    names = {k: f"net{k}-{secrets.token_hex(2)}" for k in "abc"}
    status, _, body = board.api("POST", "/networks", {"name": "iso", "subnet": OTHER_SUBNET})
    assert status == 201, body
    try:
        board.create_linux(names["a"], nics=[{}])
        board.create_linux(names["b"], nics=[{"network": "default", "mac": "00:16:3e:0a:0b:0c"}])
        board.create_linux(names["c"], nics=[{"network": "iso"}])
        for vm in names.values():
            board.wait_prompts(vm)
        yield names
    finally:
        for vm in names.values():
            board.delete_vm(vm)
        board.api("DELETE", "/networks/iso")


def test_leases_and_pings(board, net):
    a, b = nic(board, net["a"]), nic(board, net["b"])
    assert b["mac"] == "00:16:3e:0a:0b:0c"
    assert a["mac"].startswith("00:16:3e:") and a["mac"] != b["mac"]
    la, lb = wait_lease(board, net["a"]), wait_lease(board, net["b"])
    assert la["address"] != lb["address"]
    assert la["address"].startswith("169.254.1.") and lb["address"].startswith("169.254.1.")
    status, _, default = board.api("GET", "/networks/default")
    assert status == 200 and default["active"] and default["dhcp"]["running"], default
    assert default["nics"] >= 2 and default["gateway"] == "169.254.1.1"
    # guests cannot give dom0 IPv6 addresses or routes
    for knob in ("accept_ra", "autoconf"):
        assert dom0_out(board, "cat", f"/proc/sys/net/ipv6/conf/{default['bridge']}/{knob}").strip() == "0"
    # each vif is a port of the bridge, under the name the API gives
    assert {la["vif"], lb["vif"]} <= vif_ports(board, default["bridge"])
    before = nic(board, net["a"])
    assert pings(board, net["a"], lb["address"])
    assert pings(board, net["b"], la["address"])
    assert pings(board, net["a"], "169.254.1.1")
    # from dom0 too
    assert board.dom0("ping", "-c", "1", "-W", "3", la["address"]).returncode == 0
    after = nic(board, net["a"])
    for k in ("rx_bytes", "rx_packets", "tx_bytes", "tx_packets"):
        assert after[k] > before[k], (k, before, after)


def test_other_network_is_apart(board, net):
    c = wait_lease(board, net["c"])
    assert c["address"].startswith("169.254.2."), c
    status, _, iso = board.api("GET", "/networks/iso")
    assert iso["bridge"] != "xvbr0" and c["vif"] in vif_ports(board, iso["bridge"])
    assert pings(board, net["c"], "169.254.2.1")
    a, b = nic(board, net["a"]), nic(board, net["b"])
    assert not pings(board, net["c"], a["address"])
    # a guest that routes the other subnet through its own link still
    # reaches no VM there: dom0 does not forward
    assert dom0_out(board, "cat", "/proc/sys/net/ipv4/ip_forward").strip() == "0"
    assert run_on(board, net["c"], "ip route add 169.254.1.0/24 dev eth0") == 0
    assert not pings(board, net["c"], a["address"])
    assert not pings(board, net["c"], b["address"])
    assert not pings(board, net["a"], c["address"])


def test_bad_input_changes_nothing(board, net):
    _, _, before = board.api("GET", "/vms")
    _, _, nets_before = board.api("GET", "/networks")
    guest = dict(board.LINUX_GUEST, name="netbad", start=False)
    cases = [
        ({"nics": [{"network": "nope"}]}, 422, "unknown_network", "nics[0].network"),
        ({"nics": [{"mac": "00:16:3e:zz:00:01"}]}, 400, "invalid_field", "nics[0].mac"),
        ({"nics": [{"mac": "01:16:3e:00:00:01"}]}, 400, "invalid_field", "nics[0].mac"),
        ({"nics": [{"mac": "00:16:3e:00:00:01"}, {"mac": "00:16:3E:00:00:01"}]}, 400, "invalid_field",
         "nics[1].mac"),
        ({"nics": [{"mac": "00:16:3e:0a:0b:0c"}]}, 409, "mac_in_use", "nics[0].mac"),
        ({"nics": [{"mac": "fe:ff:ff:ff:ff:ff"}]}, 400, "invalid_field", "nics[0].mac"),   # every vif's
        ({"nics": [{}] * 9}, 400, "out_of_range", "nics"),
        ({"nics": [{"network": "default", "vlan": 3}]}, 400, "unknown_field", "nics[0]"),
        ({"nics": {"network": "default"}}, 400, "invalid_field", "nics"),
    ]
    for extra, code, error, field in cases:
        status, _, body = board.api("POST", "/vms", dict(guest, **extra))
        assert (status, body["error"]["code"], body["error"].get("field")) == (code, error, field), (extra, body)
    net_cases = [
        ({"name": "x1", "subnet": "169.254.2.128/25"}, 409, "subnet_overlap", "subnet"),
        ({"name": "x1", "subnet": "169.254.0.0/16"}, 409, "subnet_overlap", "subnet"),
        ({"name": "x1", "subnet": "10.0.2.0/24"}, 409, "subnet_overlap", "subnet"),   # dom0's uplink
        # inside the uplink's subnet: its route would take dom0's gateway
        ({"name": "x1", "subnet": "10.0.2.0/30"}, 409, "subnet_overlap", "subnet"),
        ({"name": "x1", "subnet": "169.254.3.1/24"}, 400, "invalid_field", "subnet"),
        ({"name": "x1", "subnet": "169.254.3.0/31"}, 400, "out_of_range", "subnet"),
        ({"name": "x1", "subnet": "169.254.3.0"}, 400, "invalid_field", "subnet"),
        ({"name": "../x", "subnet": "169.254.3.0/24"}, 400, "invalid_name", "name"),
        ({"name": "iso", "subnet": "169.254.3.0/24"}, 409, "already_exists", "name"),
        ({"name": "x1"}, 400, "missing_field", "subnet"),
        ({"name": "x1", "subnet": "169.254.3.0/24", "dhcp": False}, 400, "unknown_field", None),
    ]
    for body_in, code, error, field in net_cases:
        status, _, body = board.api("POST", "/networks", body_in)
        assert (status, body["error"]["code"], body["error"].get("field")) == (code, error, field), (body_in, body)
    for name in ("iso", "default"):
        status, _, body = board.api("DELETE", f"/networks/{name}")
        assert status == 409 and body["error"]["code"] == "network_in_use", body
    status, _, body = board.api("DELETE", "/networks/nope")
    assert status == 404 and body["error"]["code"] == "network_not_found", body
    _, _, after = board.api("GET", "/vms")
    _, _, nets_after = board.api("GET", "/networks")
    assert [v["name"] for v in after["vms"]] == [v["name"] for v in before["vms"]]
    assert [n["name"] for n in nets_after["networks"]] == [n["name"] for n in nets_before["networks"]]


def test_port_forward_reaches_a_guest_http_server(board, net):
    vm = net["b"]
    wait_lease(board, vm)
    assert run_on(board, vm, "mkdir -p /tmp/www && echo hello-from-guest > /tmp/www/index.html && "
                  "httpd -p 8080 -h /tmp/www") == 0
    env = dict(os.environ, XVMD_URL=board.url, XVMD_TOKEN=board.token, XVMD_CACERT=board.cacert)
    # as an ssh ProxyCommand would: stdin and stdout
    r = subprocess.run([FORWARD, vm, "8080"], input=b"GET /index.html HTTP/1.0\r\n\r\n", env=env,
                       capture_output=True, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith(b"HTTP/1.") and b"hello-from-guest" in r.stdout, r
    # as a local port that curl reaches
    p = subprocess.Popen([FORWARD, "--listen", "127.0.0.1:0", vm, "8080"], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        line = p.stderr.readline()   # "xvmd-forward: listening on 127.0.0.1:PORT, ..."
        port = int(re.search(r"listening on [0-9.]+:(\d+)", line).group(1))
        out = subprocess.run(["curl", "-sS", "--max-time", "30", f"http://127.0.0.1:{port}/index.html"],
                             capture_output=True, timeout=60)
        assert out.returncode == 0 and out.stdout == b"hello-from-guest\n", out
    finally:
        p.terminate()
        p.wait(timeout=10)
    # a closed port is the agent's clear refusal
    r = subprocess.run([FORWARD, vm, "8081"], input=b"x", env=env, capture_output=True, timeout=60)
    assert r.returncode == 1 and b"refused" in r.stderr, r


def test_reboot_keeps_mac_and_address(board, net):
    vm = net["a"]
    before = wait_lease(board, vm)
    _, _, body = board.api("GET", f"/vms/{vm}")
    boot = body["boot_count"]
    status, _, body = board.api("POST", f"/vms/{vm}/reboot")
    assert status in (200, 202), body
    board.wait_vm(vm, lambda b: b["boot_count"] > boot and b["state"] == "running", timeout=180)
    board.wait_prompts(vm)
    after = wait_lease(board, vm)
    assert (after["mac"], after["address"]) == (before["mac"], before["address"])
    assert after["vif"] != before["vif"]   # a new domain: a new vif
    assert pings(board, vm, nic(board, net["b"])["address"])


def test_agent_restart_keeps_networking(board, net):
    a, b = wait_lease(board, net["a"]), wait_lease(board, net["b"])
    board.restart_agent()
    status, _, default = board.api("GET", "/networks/default")
    assert status == 200 and default["active"], default
    assert {a["vif"], b["vif"]} <= vif_ports(board, default["bridge"])
    after = nic(board, net["a"])
    assert after["vif"] == a["vif"] and after["connected"] and after["lease"]["address"] == a["address"]
    assert pings(board, net["a"], b["address"])
    # one dnsmasq per network, not one more per restart
    procs = dom0_out(board, "sh", "-c", "ps -o args | grep '^dnsmasq' || true").splitlines()
    assert len(procs) == 2, procs


def test_delete_leaves_nothing(board, net):
    vm = net["c"]
    c = nic(board, vm)
    _, _, iso = board.api("GET", "/networks/iso")
    domid = board.api("GET", f"/vms/{vm}")[2]["domid"]
    board.delete_vm(vm)
    deadline = time.monotonic() + 30
    while c["vif"] in vif_ports(board, iso["bridge"]) and time.monotonic() < deadline:
        time.sleep(1)
    assert not vif_ports(board, iso["bridge"])
    assert board.dom0("/bin/ip", "link", "show", c["vif"]).returncode != 0
    for path in (f"/local/domain/0/backend/vif/{domid}", f"/local/domain/{domid}"):
        assert board.dom0("xenstore-ls", path).returncode != 0, path
    hosts = dom0_out(board, "cat", "/run/xvmd/networks/iso/hosts")
    assert c["mac"] not in hosts
    # now unused, the network goes, with its bridge and its DHCP server
    status, _, body = board.api("DELETE", "/networks/iso")
    assert status == 204, body
    assert board.dom0("/bin/ip", "link", "show", iso["bridge"]).returncode != 0
    assert board.dom0("test", "-e", "/run/xvmd/networks/iso").returncode != 0
    procs = dom0_out(board, "sh", "-c", "ps -o args | grep '^dnsmasq' || true").splitlines()
    assert len(procs) == 1, procs
    status, _, body = board.api("GET", "/networks/iso")
    assert status == 404
