"""Every byte a guest writes to a console lands in the agent's log, unchanged
and in order: a flood through each console (the guest's tty raw; every byte
value but NUL, and a record index), cut at its markers, is exactly what the
guest wrote. Sizes stay small enough for CI (the vpl011 traps to Xen on every
byte); tests/bench/console-vs-xl floods megabytes."""
import secrets

import pytest

import flood

GUEST = {"kernel": "linux-kernel", "ramdisk": "linux-initramfs",
         "cmdline": "console=hvc0 console=ttyAMA0", "memory_mib": 128}
SIZE = 256 * 1024


@pytest.fixture(scope="module")
def vm(board):
    name = "flood-" + secrets.token_hex(2)
    status, _, body = board.api("POST", "/vms", dict(GUEST, name=name))
    assert status == 201, body
    board.wait_log(name, "vuart", "guest:ttyAMA0# ")
    board.wait_log(name, "pv", "guest:hvc0# ")
    yield name
    board.api("POST", f"/vms/{name}/destroy")
    status, _, body = board.api("DELETE", f"/vms/{name}")
    assert status == 204, body


def log_from(board, vm, console, start):
    """The log from start to its end, page by page: an answer holds at most
    4 MiB (its X-Xvmd-Log-End is where that answer ends); an empty one means
    the end."""
    out = bytearray()
    while True:
        data, _, _ = board.log(vm, console, start + len(out))
        if not data:
            return bytes(out)
        out += data


@pytest.mark.parametrize("console", ["pv", "vuart"])
def test_flood_is_logged_byte_for_byte(board, vm, console):
    other = "vuart" if console == "pv" else "pv"
    _, _, start = board.log(vm, console)
    _, _, other_start = board.log(vm, other)
    status, _, body = board.api("POST", f"/vms/{vm}/consoles/{console}/input",
                                f"xvmd-flood {SIZE}\n".encode())
    assert status == 204, body
    board.wait_log(vm, console, flood.END, timeout=300, start=start)
    found = flood.cut(log_from(board, vm, console, start), SIZE)
    assert found, "no complete flood in the log"
    offset, payload, _ = found
    want = flood.pattern(SIZE)
    assert payload == want, flood.first_difference(payload, want)
    # The shell is back on that console; nothing of it reached the other.
    tty = "hvc0" if console == "pv" else "ttyAMA0"
    board.wait_log(vm, console, f"guest:{tty}# ", timeout=60, start=start + offset + SIZE)
    assert flood.begin_marker(SIZE) not in log_from(board, vm, other, other_start)
