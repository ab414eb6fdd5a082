"""How a VM ends when its guest does not end cleanly: a guest that crashes is
`crashed` with its domain gone and its logs whole, and starts again; a guest
that ignores a shutdown request is destroyed once the request's timeout has
passed; a paused guest asked to shut down is resumed so that it can."""
import secrets
import time

import pytest

def create(board, prefix, cmdline_extra=""):
    name = prefix + "-" + secrets.token_hex(2)
    board.create_linux(name, cmdline=board.LINUX_GUEST["cmdline"] + cmdline_extra)
    board.wait_prompts(name)
    return name


@pytest.fixture
def cleanup(board):
    names = []
    yield names
    for name in names:
        status, _, body = board.api("GET", f"/vms/{name}")
        if status == 200 and body["state"] in ("running", "paused"):
            board.api("POST", f"/vms/{name}/destroy")
        board.api("DELETE", f"/vms/{name}")



def run(board, vm, command, timeout=60):
    """Runs a command on the guest's hvc0 shell and waits for its output,
    which command must end with `echo done-$((TAG))`-style arithmetic so that
    the echo of the typed line does not count."""
    _, _, end = board.log(vm, "pv")
    tag = secrets.randbelow(10**6)
    board.type_on(vm, "pv", f"{command}; echo done-$(({tag}+1))\n")
    board.wait_log(vm, "pv", f"done-{tag + 1}", timeout=timeout, start=end)


def domain_gone(board, name, domid):
    r = board.dom0("/usr/lib/xen-4.17/bin/xl", "list")
    assert r.returncode == 0, r.stderr
    assert name not in [line.split()[0] for line in r.stdout.splitlines()[1:]], r.stdout
    r = board.dom0("sh", "-c", f"xenstore-exists /local/domain/{domid} && echo yes || echo no")
    assert r.stdout.strip() == "no"


def test_guest_crash_leaves_it_crashed_with_its_logs_then_it_starts_again(board, cleanup):
    # An ARM Linux guest's panic alone tells Xen nothing (the domain spins);
    # with Xen's watchdog armed (xvmd.watchdog, the guest's rcS), Xen shuts
    # the domain down with reason "watchdog" once the panicked guest stops
    # feeding it, which the agent reports as a crash.
    vm = create(board, "crash", " xvmd.watchdog=5")
    cleanup.append(vm)
    assert b"Xen watchdog armed (5 s)" in board.log(vm, "vuart")[0]
    _, _, before = board.api("GET", f"/vms/{vm}")
    domid = before["domid"]
    board.type_on(vm, "pv", "echo c > /proc/sysrq-trigger\n")
    body = board.wait_vm(vm, lambda b: b["state"] != "running", timeout=120)
    assert body["state"] == "crashed", body
    assert body["domid"] is None and body["boot_count"] == 1
    assert not body["consoles"]["pv"]["connected"] and not body["consoles"]["vuart"]["connected"]
    domain_gone(board, vm, domid)
    # Both logs keep the boot and the panic (console=hvc0 console=ttyAMA0:
    # the kernel writes to both).
    panic = b"Kernel panic - not syncing: sysrq triggered crash"
    logs = {}
    for console, tty in (("pv", b"hvc0"), ("vuart", b"ttyAMA0")):
        data, start, end = board.log(vm, console)
        assert start == 0 and end == len(data)
        assert b"Linux version" in data and b"xvmd-guest: ready on " + tty in data
        assert panic in data, (console, data[-600:])
        logs[console] = end
    # The agent keeps saying so after a restart of its own.
    r = board.dom0("systemctl", "restart", "xvmd")
    assert r.returncode == 0, r.stderr
    status, _, body = board.api("GET", f"/vms/{vm}")
    assert status == 200 and body["state"] == "crashed" and body["domid"] is None
    # It starts again; the new boot follows the old one in the same logs.
    status, _, body = board.api("POST", f"/vms/{vm}/start")
    assert status == 200, body
    assert body["state"] == "running" and body["boot_count"] == 2 and body["domid"]
    board.wait_log(vm, "pv", "guest:hvc0# ", start=logs["pv"])
    board.wait_log(vm, "vuart", "guest:ttyAMA0# ", start=logs["vuart"])
    data, _, _ = board.log(vm, "pv")
    assert data.index(panic) < logs["pv"]


def test_shutdown_the_guest_ignores_ends_in_destroy_after_the_timeout(board, cleanup):
    vm = create(board, "deaf")
    cleanup.append(vm)
    # Linux runs kernel.poweroff_cmd on a Xen poweroff request (orderly, not
    # forced): with /bin/true it does nothing at all.
    run(board, vm, "echo /bin/true > /proc/sys/kernel/poweroff_cmd")
    _, _, before = board.api("GET", f"/vms/{vm}")
    domid = before["domid"]
    t0 = time.monotonic()
    status, _, body = board.api("POST", f"/vms/{vm}/shutdown", {"timeout_sec": 3})
    assert status == 202, body
    assert body["state"] == "running" and body["domid"] == domid
    body = board.wait_vm(vm, lambda b: b["state"] != "running", timeout=90)
    # Never before the timeout it was given.
    assert time.monotonic() - t0 >= 3
    assert body["state"] == "stopped" and body["domid"] is None and body["boot_count"] == 1
    domain_gone(board, vm, domid)
    # Pulled, not powered off: the guest kernel never said goodbye.
    for console in ("pv", "vuart"):
        assert b"reboot: Power down" not in board.log(vm, console)[0]


def test_shutdown_of_a_paused_vm_resumes_it_and_the_guest_powers_off(board, cleanup):
    vm = create(board, "nap")
    cleanup.append(vm)
    status, _, body = board.api("POST", f"/vms/{vm}/pause")
    assert status == 200 and body["state"] == "paused", body
    domid = body["domid"]
    status, _, body = board.api("POST", f"/vms/{vm}/shutdown", {"timeout_sec": 120})
    assert status == 202, body
    # Resumed so that the guest sees the request: the VM runs again.
    assert body["state"] == "running", body
    r = board.dom0("/usr/lib/xen-4.17/bin/xl", "list", vm)
    assert r.returncode != 0 or "p" not in r.stdout.splitlines()[-1].split()[4], r.stdout
    body = board.wait_vm(vm, lambda b: b["state"] != "running", timeout=120)
    assert body["state"] == "stopped" and body["domid"] is None
    domain_gone(board, vm, domid)
    # A clean poweroff by the guest, not the timeout's destroy.
    assert b"reboot: Power down" in board.log(vm, "pv")[0]
