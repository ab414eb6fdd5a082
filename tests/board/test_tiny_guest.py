"""The tiny bare-metal guest (guest-images/tiny, the image store's
`tiny-guest`) on real Xen, seen through the API: its banner on both
consoles, echo, a flood checked byte for byte, poweroff, crash and reboot,
trickle, and that it idles without CPU, in the agent's smallest VM and (under
xl, beside the agent) in 8 MiB.

Its spin, corrupt and rebootloop modes are for tests of the agent against
hostile guests and are not tested here."""
import contextlib
import re
import secrets
import time

import pytest

import tiny
from tiny import flood_done, flood_pattern

XL = "/usr/lib/xen-4.17/bin/xl"
IMAGE = "tiny-guest"
MIN_MIB = 32    # the agent's VM_MEMORY_MIB_MIN (agent/vm-spec.h); the guest needs 4



def banner(console, mode):
    return tiny.banner(console, mode) + b"\n"


@contextlib.contextmanager
def tiny_vm(board, prefix, cmdline, wait_banner=True, **spec):
    """A tiny guest named PREFIX-RANDOM with this command line, at its banner
    on both consoles (unless wait_banner is false); destroyed and deleted
    afterwards."""
    name = f"{prefix}-{secrets.token_hex(3)}"
    body = {"name": name, "kernel": IMAGE, "memory_mib": MIN_MIB, "cmdline": cmdline}
    body.update(spec)
    status, _, vm = board.api("POST", "/vms", body)
    assert status == 201 and "error" not in vm, vm
    try:
        if wait_banner:
            mode = re.search(r"mode=(\S+)", cmdline).group(1)
            for console in ("pv", "vuart"):
                board.wait_log(name, console, banner(console, mode), timeout=60)
        yield name
    finally:
        board.delete_vm(name)


def xl_list(board):
    """{name: (memory MiB, CPU seconds)} from xl list."""
    r = board.dom0(XL, "list")
    assert r.returncode == 0, r.stderr
    out = {}
    for line in r.stdout.splitlines()[1:]:
        f = line.split()
        out[f[0]] = (int(f[2]), float(f[5]))
    return out



def test_the_image_is_in_the_store(board):
    status, _, body = board.api("GET", "/images")
    assert status == 200, body
    sizes = {i["name"]: i["size"] for i in body["images"]}
    assert 4096 < sizes.get(IMAGE, 0) < 64 * 1024, sizes


def test_echo_on_each_console(board):
    with tiny_vm(board, "tiny-echo", "mode=echo") as vm:
        for console in ("pv", "vuart"):
            log, _, _ = board.log(vm, console)
            assert log == banner(console, "echo"), log
        words = {c: f"{c}-{secrets.token_hex(4)}" for c in ("pv", "vuart")}
        for console, word in words.items():
            board.type_on(vm, console, word + "\n")
        for console, word in words.items():
            board.wait_log(vm, console, word + "\n", timeout=30)
        # Each echo comes back on its own console only.
        assert words["vuart"].encode() not in board.log(vm, "pv")[0]
        assert words["pv"].encode() not in board.log(vm, "vuart")[0]
        # A second round trip, a longer one.
        for console in ("pv", "vuart"):
            start = board.log(vm, console)[2]
            text = secrets.token_hex(300)
            board.type_on(vm, console, text)
            assert board.wait_log(vm, console, text, timeout=30, start=start) == text.encode()


def test_idle_guest_uses_no_cpu(board):
    with tiny_vm(board, "tiny-idle", "mode=idle") as vm, tiny_vm(board, "tiny-echo", "mode=echo") as echo:
        before = xl_list(board)
        time.sleep(15)
        after = xl_list(board)
        for name in (vm, echo):
            assert after[name][0] == MIN_MIB
            used = after[name][1] - before[name][1]
            assert used <= 0.3, f"{name} used {used} s of CPU in 15 s"


def test_runs_in_8_mib_under_xl(board):
    """The agent refuses VMs under 32 MiB; xl (with a xenconsoled of this
    test's own for the console it waits for) shows that the guest boots,
    waits and powers off in 8 MiB."""
    name = f"tiny-xl-{secrets.token_hex(3)}"
    cfg = (f'name="{name}"\nkernel="/var/lib/xvmd/images/{IMAGE}"\nmemory=8\nvcpus=1\n'
           f'vuart="sbsa_uart"\nextra="mode=poweroff delay=3"\non_poweroff="destroy"\n')
    logs = f"/tmp/{name}-logs"
    pidfile = f"/run/{name}-xenconsoled.pid"
    r = board.dom0("sh", "-c", f"mkdir -p {logs} && printf '%s' '{cfg}' > /tmp/{name}.cfg && "
                   f"/usr/lib/xen-4.17/bin/xenconsoled --pid-file={pidfile} --log=guest --log-dir={logs}")
    assert r.returncode == 0, r.stderr
    try:
        r = board.dom0(XL, "create", f"/tmp/{name}.cfg", timeout=60)
        assert r.returncode == 0, r.stderr
        assert xl_list(board)[name][0] == 8
        deadline = time.monotonic() + 60
        while name in xl_list(board):
            assert time.monotonic() < deadline, f"{name} did not power off"
            time.sleep(1)
        r = board.dom0("cat", f"{logs}/guest-{name}.log")
        assert r.stdout == "tiny: ready on pv mode=poweroff\ntiny: poweroff\n", r.stdout
    finally:
        board.dom0("sh", "-c", f"{XL} destroy {name} 2>/dev/null; kill $(cat {pidfile}); "
                   f"rm -rf {logs} /tmp/{name}.cfg {pidfile}")


@pytest.mark.parametrize("console", ["both", "pv", "vuart"])
def test_flood_is_byte_exact(board, console):
    n = 256 * 1024 + 17     # not whole lines: the end line follows a newline
    with tiny_vm(board, "tiny-flood", f"mode=flood console={console} bytes={n}") as vm:
        targets = ("pv", "vuart") if console == "both" else (console,)
        for c in targets:
            board.wait_log(vm, c, flood_done(n), timeout=180)
        for c in ("pv", "vuart"):
            log = board.whole_log(vm, c)
            want = banner(c, "flood") + (flood_pattern(n) + flood_done(n) if c in targets else b"")
            if log != want:
                i = next((k for k in range(min(len(log), len(want))) if log[k] != want[k]),
                         min(len(log), len(want)))
                raise AssertionError(f"{c}: {len(log)} bytes, {len(want)} wanted; first difference at {i}: "
                                     f"got {log[max(0, i - 70):i + 70]!r}, want {want[max(0, i - 70):i + 70]!r}")


def test_poweroff_after_its_delay(board):
    with tiny_vm(board, "tiny-off", "mode=poweroff delay=6") as vm:
        t0 = time.monotonic()
        time.sleep(2)
        assert board.api("GET", f"/vms/{vm}")[2]["state"] == "running"
        body = board.wait_vm(vm, lambda v: v["state"] == "stopped", timeout=60)
        assert time.monotonic() - t0 >= 3, "it did not wait its delay"
        assert body["boot_count"] == 1
        for c in ("pv", "vuart"):
            assert board.log(vm, c)[0] == banner(c, "poweroff") + b"tiny: poweroff\n"


def test_crash(board):
    with tiny_vm(board, "tiny-crash", "mode=crash delay=1") as vm:
        body = board.wait_vm(vm, lambda v: v["state"] == "crashed", timeout=60)
        assert body["boot_count"] == 1
        assert board.log(vm, "pv")[0].endswith(b"tiny: crash\n")


def test_reboot_boots_again(board):
    with tiny_vm(board, "tiny-reboot", "mode=reboot delay=3") as vm:
        body = board.wait_vm(vm, lambda v: v["boot_count"] >= 2 and v["state"] == "running", timeout=60)
        assert body["spec"]["cmdline"] == "mode=reboot delay=3"
        log = board.wait_log(vm, "vuart", b"tiny: reboot\n" + banner("vuart", "reboot"), timeout=30)
        assert log.startswith(banner("vuart", "reboot"))
        assert board.log(vm, "pv")[0].count(banner("pv", "reboot")) >= 2


def test_trickle_numbers_its_lines(board):
    with tiny_vm(board, "tiny-trickle", "mode=trickle interval_ms=250") as vm:
        time.sleep(6)
        for c in ("pv", "vuart"):
            log = board.log(vm, c)[0]
            lines = log.split(b"\n")[1:-1]
            assert [int(x.split()[2]) for x in lines] == list(range(len(lines))), log
            assert all(re.fullmatch(rb"tiny trickle \d{10}", x) for x in lines), log
            # 250 ms apart: about 24 lines in 6 s (the board is slow; allow a lot).
            assert 8 <= len(lines) <= 30, log
