"""VMs through the REST API on real Xen: the agent builds the domain, is the
backend of both consoles, logs every byte, and follows the guest's reboots
and poweroffs."""
import secrets

import pytest

from contract import contract


def create(board, name, **kw):
    vm = board.create_linux(name, **kw)
    assert "error" not in vm, vm
    return vm


def delete(board, name):
    board.delete_vm(name)



def xl_domains(board):
    r = board.dom0("/usr/lib/xen-4.17/bin/xl", "list")
    assert r.returncode == 0, r.stderr
    return [line.split()[0] for line in r.stdout.splitlines()[1:]]


@pytest.fixture
def vm(board):
    name = "t-" + secrets.token_hex(3)
    create(board, name)
    board.wait_prompts(name)
    yield name
    delete(board, name)


def test_images_on_a_fresh_board(board):
    status, _, body = board.api("GET", "/images")
    assert status == 200
    names = {i["name"]: i["size"] for i in body["images"]}
    assert names.get("linux-kernel", 0) > 1 << 20 and names.get("linux-initramfs", 0) > 0


def test_vm_boots_with_both_consoles_logged(board, vm):
    status, _, body = board.api("GET", f"/vms/{vm}")
    assert status == 200
    assert body["state"] == "running" and body["boot_count"] == 1 and body["domid"] > 0
    assert body["spec"]["consoles"] == ["pv", "vuart"]
    vuart, start, end = board.log(vm, "vuart")
    assert start == 0 and end == len(vuart)
    # The kernel's boot on the vuart, a shell prompt on each console.
    assert b"Booting Linux" in vuart or b"Linux version" in vuart
    assert b"xvmd-guest: ready on ttyAMA0" in vuart
    pv, _, _ = board.log(vm, "pv")
    assert b"xvmd-guest: ready on hvc0" in pv
    assert b"ready on ttyAMA0" not in pv and b"ready on hvc0" not in vuart
    # Byte counts in the VM agree with the logs.
    assert body["consoles"]["vuart"]["log_end"] <= len(board.log(vm, "vuart")[0])
    assert vm in xl_domains(board)


def test_input_is_echoed_on_its_console_only(board, vm):
    tag_v, tag_p = secrets.token_hex(4), secrets.token_hex(4)
    _, _, v0 = board.log(vm, "vuart")
    _, _, p0 = board.log(vm, "pv")
    board.type_on(vm, "vuart", f"echo V-{tag_v}-$((6*7))\n")
    board.type_on(vm, "pv", f"echo P-{tag_p}-$((6*8))\n")
    board.wait_log(vm, "vuart", f"V-{tag_v}-42", timeout=60, start=v0)
    board.wait_log(vm, "pv", f"P-{tag_p}-48", timeout=60, start=p0)
    assert tag_p.encode() not in board.log(vm, "vuart")[0]
    assert tag_v.encode() not in board.log(vm, "pv")[0]


def test_log_from_offset_and_range(board, vm):
    data, start, end = board.log(vm, "pv")
    part, s2, e2 = board.log(vm, "pv", start=10)
    assert s2 == 10 and part == data[10:10 + len(part)] and e2 >= end
    empty, s3, e3 = board.log(vm, "pv", start=e2)
    assert empty == b"" or s3 == e2
    status, _, body = board.api("GET", f"/vms/{vm}/consoles/pv/log?from={e2 + 10**6}")
    assert status == 416 and body["error"]["field"] == "from"
    status, _, body = board.api("GET", f"/vms/{vm}/consoles/pv/log?from=-1")
    assert status == 416


def test_guest_reboot_then_poweroff_then_start_again(board, vm):
    _, _, end = board.log(vm, "vuart")
    board.type_on(vm, "vuart", "reboot\n")
    body = board.wait_vm(vm, lambda b: b["boot_count"] == 2 and b["state"] == "running", timeout=120)
    # The new boot's output follows the old one in the same log.
    board.wait_log(vm, "vuart", "xvmd-guest: ready on ttyAMA0", start=end)
    _, _, end = board.log(vm, "pv")
    board.wait_log(vm, "pv", "guest:hvc0# ", start=end - 200 if end > 200 else 0)
    board.type_on(vm, "pv", "poweroff\n")
    body = board.wait_vm(vm, lambda b: b["state"] == "stopped", timeout=120)
    assert body["domid"] is None and body["boot_count"] == 2
    assert vm not in xl_domains(board)
    # The logs stay, and a start boots it again.
    assert b"ready on ttyAMA0" in board.log(vm, "vuart")[0]
    status, _, body = board.api("POST", f"/vms/{vm}/start")
    assert status == 200 and body["state"] == "running" and body["boot_count"] == 3
    board.wait_log(vm, "vuart", "guest:ttyAMA0# ", start=end)
    # Every transition went through the one hook (here: the journal's lines).
    r = board.dom0("journalctl", "-u", "xvmd", "-b", "-o", "cat", "--no-pager")
    events = [line.split(": ", 1)[1].split(" ", 1)[0] for line in r.stdout.splitlines()
              if line.startswith(f"VM {vm}: ")]
    assert events == ["started", "rebooted", "started", "powered_off", "started"], r.stdout[-3000:]


def test_destroy_and_delete_leave_nothing_behind(board, vm):
    status, _, body = board.api("GET", f"/vms/{vm}")
    domid = body["domid"]
    uuid = body["spec"]["uuid"]
    status, _, body = board.api("DELETE", f"/vms/{vm}")
    assert status == 409 and body["error"]["code"] == "vm_running"
    status, _, body = board.api("POST", f"/vms/{vm}/destroy")
    assert status == 200 and body["state"] == "stopped"
    assert vm not in xl_domains(board)
    r = board.dom0("xenstore-list", "/local/domain")
    assert r.stdout.split() == ["0"], r.stdout
    r = board.dom0("sh", "-c", f"xenstore-exists /vm/{uuid} && echo yes || echo no")
    assert r.stdout.strip() == "no"
    r = board.dom0("sh", "-c", f"xenstore-exists /local/domain/0/backend/console/{domid} && echo yes || echo no")
    assert r.stdout.strip() == "no"
    status, _, _ = board.api("DELETE", f"/vms/{vm}")
    assert status == 204
    status, _, body = board.api("GET", f"/vms/{vm}")
    assert status == 404 and body["error"]["code"] == "vm_not_found"
    r = board.dom0("sh", "-c", f"test -e /var/lib/xvmd/vms/{vm} && echo yes || echo no")
    assert r.stdout.strip() == "no"


def test_two_vms_keep_their_consoles_apart(board):
    a, b = "two-a-" + secrets.token_hex(2), "two-b-" + secrets.token_hex(2)
    try:
        create(board, a, cmdline="console=hvc0 console=ttyAMA0 hostname=" + a)
        create(board, b, cmdline="console=hvc0 console=ttyAMA0 hostname=" + b)
        for n in (a, b):
            board.wait_log(n, "pv", "guest:hvc0# ")
        board.type_on(a, "pv", f"echo only-in-{a}\n")
        board.type_on(b, "pv", f"echo only-in-{b}\n")
        board.wait_log(a, "pv", f"only-in-{a}\r\n", timeout=60)
        board.wait_log(b, "pv", f"only-in-{b}\r\n", timeout=60)
        assert f"only-in-{b}".encode() not in board.log(a, "pv")[0]
        assert f"only-in-{a}".encode() not in board.log(b, "pv")[0]
    finally:
        delete(board, a)
        delete(board, b)


BAD = [
    ({"name": "x", "kernel": "no-such-image"}, 422, "unknown_image", "kernel"),
    ({"name": "x", "kernel": "linux-kernel", "ramdisk": "nope"}, 422, "unknown_image", "ramdisk"),
    ({"name": "../etc", "kernel": "linux-kernel"}, 400, "invalid_name", "name"),
    ({"name": "a/b", "kernel": "linux-kernel"}, 400, "invalid_name", "name"),
    ({"name": "x" * 49, "kernel": "linux-kernel"}, 400, "invalid_name", "name"),
    ({"name": ".hidden", "kernel": "linux-kernel"}, 400, "invalid_name", "name"),
    ({"name": "x", "kernel": "../../../etc/passwd"}, 400, "invalid_name", "kernel"),
    ({"name": "x", "kernel": "linux-kernel", "memory_mib": 10**9}, 400, "out_of_range", "memory_mib"),
    ({"name": "x", "kernel": "linux-kernel", "memory_mib": 8192}, 422, "exceeds_host", "memory_mib"),
    ({"name": "x", "kernel": "linux-kernel", "vcpus": 64}, 422, "exceeds_host", "vcpus"),
    ({"name": "x", "kernel": "linux-kernel", "vcpus": 0}, 400, "out_of_range", "vcpus"),
    ({"name": "x", "kernel": "linux-kernel", "consoles": ["pv", "serial9"]}, 400, "unknown_console", "consoles"),
    ({"name": "x", "kernel": "linux-kernel", "colour": "blue"}, 400, "unknown_field", None),
    ({"kernel": "linux-kernel"}, 400, "missing_field", "name"),
]


@pytest.mark.parametrize("body,status,code,field", BAD, ids=[b[2] + "-" + str(i) for i, b in enumerate(BAD)])
def test_bad_create_changes_nothing(board, body, status, code, field):
    _, _, before = board.api("GET", "/vms")
    got, _, err = board.api("POST", "/vms", body)
    assert got == status, err
    assert err["error"]["code"] == code and err["error"].get("field") == field, err
    assert err["error"]["message"]
    _, _, after = board.api("GET", "/vms")
    assert after == before


def test_malformed_and_oversized_bodies(board):
    _, _, before = board.api("GET", "/vms")
    status, _, err = board.api("POST", "/vms", b"{not json")
    assert status == 400 and err["error"]["code"] == "invalid_json"
    status, _, err = board.api("POST", "/vms", b"{" + b" " * (128 * 1024) + b"}")
    assert status == 413 and err["error"]["code"] == "payload_too_large"
    assert board.api("GET", "/vms")[2] == before


def test_duplicate_name_and_unknown_vm_or_console(board, vm):
    status, _, err = board.api("POST", "/vms", dict(board.LINUX_GUEST, name=vm))
    assert status == 409 and err["error"]["code"] == "already_exists" and err["error"]["field"] == "name"
    for path in ("/vms/nope", "/vms/nope/consoles/pv/log", "/vms/..%2f..%2fetc/consoles/pv/log"):
        status, _, err = board.api("GET", path)
        assert status == 404, path
    status, _, err = board.api("GET", f"/vms/{vm}/consoles/serial9/log")
    assert status == 404 and err["error"]["code"] == "unknown_console"
    status, _, err = board.api("POST", f"/vms/{vm}/frobnicate")
    assert status == 404
    status, _, err = board.api("POST", f"/vms/{vm}/shutdown", {"timeout_sec": -5})
    assert status == 400 and err["error"]["field"] == "timeout_sec"


def test_follow_streams_new_output_and_ends_on_delete(board):
    import http.client
    import threading
    name = "fol-" + secrets.token_hex(2)
    create(board, name)
    board.wait_log(name, "pv", "guest:hvc0# ")
    _, _, end = board.log(name, "pv")
    conn = http.client.HTTPSConnection("127.0.0.1", board.port, timeout=120, context=board.ssl)
    conn.request("GET", f"/v1/vms/{name}/consoles/pv/log?follow=1&from={end}",
                 headers={"Authorization": f"Bearer {board.token}"})
    r = conn.getresponse()
    contract().check_response("GET", f"/v1/vms/{name}/consoles/pv/log", r.status, r.getheaders(), b"",
                              complete=False)
    assert r.status == 200 and int(r.getheader("X-Xvmd-Log-Start")) == end
    got = bytearray()
    done = threading.Event()

    def reader():
        while True:
            chunk = r.read1(65536)
            if not chunk:
                break
            got.extend(chunk)
        done.set()
    t = threading.Thread(target=reader, daemon=True)
    t.start()
    tag = secrets.token_hex(4)
    # Written after the request began: only a live stream can show it.
    board.type_on(name, "pv", f"echo live-{tag}-$((2+3))\n")
    for _ in range(180):
        if f"live-{tag}-5".encode() in got or done.is_set():
            break
        done.wait(1)
    assert not done.is_set() or f"live-{tag}-5".encode() in got, "the stream ended early"
    assert f"live-{tag}-5".encode() in got, bytes(got[-300:])
    # What the stream gave is exactly the log from `end` on.
    log, _, _ = board.log(name, "pv", start=end)
    assert log.startswith(bytes(got[:len(log)])) or bytes(got).startswith(log)
    delete(board, name)
    assert done.wait(30), "the followed log did not end when its VM was deleted"
    conn.close()


def test_agent_restart_finds_its_vms_and_loses_no_byte(board, vm):
    status, _, before = board.api("GET", f"/vms/{vm}")
    _, _, end = board.log(vm, "vuart")
    r = board.dom0("systemctl", "stop", "xvmd")
    assert r.returncode == 0
    # Output written while no agent runs waits in the ring (the guest blocks
    # once it is full); nothing is lost.
    r = board.dom0("systemctl", "start", "xvmd")
    assert r.returncode == 0, r.stderr
    status, _, after = board.api("GET", f"/vms/{vm}")
    assert status == 200
    assert after["state"] == "running" and after["domid"] == before["domid"]
    assert after["boot_count"] == before["boot_count"]
    assert after["consoles"]["vuart"]["connected"] and after["consoles"]["vuart"]["log_start"] == 0
    old, _, _ = board.log(vm, "vuart")
    assert len(old) >= end
    tag = secrets.token_hex(4)
    board.type_on(vm, "vuart", f"echo back-{tag}-$((3*3))\n")
    data = board.wait_log(vm, "vuart", f"back-{tag}-9", timeout=60, start=end)
    assert data.count(f"back-{tag}-9".encode()) == 1
