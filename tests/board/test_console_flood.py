"""Every byte a guest writes to a console lands in the agent's log, unchanged
and in order: a flood through each console (the guest's tty raw; every byte
value but NUL, and a record index), cut at its markers, is exactly what the
guest wrote. Sizes stay small enough for CI (the vpl011 traps to Xen on every
byte); tests/bench/console-vs-xl floods megabytes."""
import pytest

import flood

SIZE = 256 * 1024


@pytest.fixture(scope="module")
def vm(board):
    with board.linux_vm("flood") as name:
        yield name


@pytest.mark.parametrize("console", ["pv", "vuart"])
def test_flood_is_logged_byte_for_byte(board, vm, console):
    other = "vuart" if console == "pv" else "pv"
    _, _, start = board.log(vm, console)
    _, _, other_start = board.log(vm, other)
    status, _, body = board.api("POST", f"/vms/{vm}/consoles/{console}/input",
                                f"xvmd-flood {SIZE}\n".encode())
    assert status == 204, body
    board.wait_log(vm, console, flood.END, timeout=300, start=start)
    found = flood.cut(board.whole_log(vm, console, start), SIZE)
    assert found, "no complete flood in the log"
    offset, payload, _ = found
    want = flood.pattern(SIZE)
    assert payload == want, flood.first_difference(payload, want)
    # The shell is back on that console; nothing of it reached the other.
    board.wait_log(vm, console, board.PROMPTS[console], timeout=60, start=start + offset + SIZE)
    assert flood.begin_marker(SIZE) not in board.whole_log(vm, other, other_start)
