"""GET .../consoles/{console}/wait on real Xen: it answers with where a pattern
appears in the console's log (at once for what the log holds, or as the
guest writes it), across two ring reads and across a reboot, literal or as
a regular expression; it times out cleanly; and it ends when the VM goes."""
import concurrent.futures
import time
import urllib.parse

import pytest

import tiny


def wait(board, vm, console, pattern, timeout=60, **args):
    q = urllib.parse.urlencode({"pattern": pattern, "timeout": timeout, **args})
    return board.api("GET", f"/vms/{vm}/consoles/{console}/wait?{q}", timeout=timeout + 30)


def in_background(fn, *args, **kw):
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    future = pool.submit(fn, *args, **kw)
    pool.shutdown(wait=False)
    return future


def log_end(board, vm, console):
    return board.api("GET", f"/vms/{vm}")[2]["consoles"][console]["log_end"]



def test_what_the_log_holds_is_found_at_once(board):
    with tiny.vm(board, "wait-now", "echo") as vm:
        for console in ("pv", "vuart"):
            t0 = time.monotonic()
            status, _, body = wait(board, vm, console, "ready on")
            assert status == 200, body
            assert time.monotonic() - t0 < 10
            banner = tiny.banner(console, "echo").decode()
            assert body == {"offset": banner.index("ready on"), "end": banner.index("ready on") + 8, "line": banner}
        # A regular expression, with the line it is on.
        status, _, body = wait(board, vm, "vuart", "on (pv|vuart) mode=[a-z]+$", regex=1)
        assert status == 200 and body["line"] == tiny.banner("vuart", "echo").decode(), body
        status, _, body = wait(board, vm, "pv", "(unclosed", regex=1)
        assert status == 400 and body["error"]["field"] == "pattern", body


def test_output_to_come_is_waited_for_even_split_between_ring_reads(board):
    with tiny.vm(board, "wait-echo", "echo") as vm:
        start = log_end(board, vm, "pv")
        pending = in_background(wait, board, vm, "pv", "half-and-half", **{"from": start})
        time.sleep(2)
        assert not pending.done(), pending.result()
        # Two inputs, so two echoes, so two reads of the ring at least.
        board.type_on(vm, "pv", b"x half-an")
        time.sleep(1)
        assert not pending.done(), pending.result()
        board.type_on(vm, "pv", b"d-half y\n")
        status, _, body = pending.result(timeout=60)
        assert status == 200, body
        log = board.whole_log(vm, "pv")
        assert log[body["offset"]:body["end"]] == b"half-and-half", body
        assert body["offset"] >= start and body["line"].startswith("x half-and-half"), body


def test_a_marker_after_a_reboot(board):
    with tiny.vm(board, "wait-reboot", "reboot", delay=3) as vm:
        start = log_end(board, vm, "vuart")
        # The next boot's banner: after the guest's reboot line.
        status, _, body = wait(board, vm, "vuart", "mode=reboot", **{"from": start})
        assert status == 200, body
        log = board.whole_log(vm, "vuart")
        assert body["offset"] > start and log[body["offset"]:body["end"]] == b"mode=reboot"
        assert b"tiny: reboot\n" in log[:body["offset"]]
        assert board.api("GET", f"/vms/{vm}")[2]["boot_count"] >= 2


@pytest.mark.one_flavour
def test_timeout_and_bad_requests(board):
    with tiny.vm(board, "wait-none", "idle") as vm:
        t0 = time.monotonic()
        status, _, body = wait(board, vm, "pv", "never printed", timeout=2)
        took = time.monotonic() - t0
        assert status == 408 and body["error"]["code"] == "wait_timeout", body
        assert 2 <= took < 15, took
        end = log_end(board, vm, "pv")
        for args, code in (({"pattern": ""}, 400), ({"pattern": "a" * 257}, 400), ({"timeout": 0}, 400),
                           ({"timeout": 3601}, 400), ({"regex": 2}, 400), ({"from": end + 1}, 416)):
            q = urllib.parse.urlencode({"pattern": "x", **args})
            status, _, body = board.api("GET", f"/vms/{vm}/consoles/pv/wait?{q}")
            assert status == code, (args, body)
        status, _, body = board.api("GET", f"/vms/{vm}/consoles/pv/wait")
        assert status == 400 and body["error"]["field"] == "pattern", body


def test_a_wait_ends_when_its_vm_is_deleted(board):
    with tiny.vm(board, "wait-gone", "idle") as vm:
        pending = in_background(wait, board, vm, "pv", "never printed", timeout=120)
        time.sleep(2)
        assert board.api("POST", f"/vms/{vm}/destroy")[0] == 200
        assert not pending.done()
        assert board.api("DELETE", f"/vms/{vm}")[0] == 204
        status, _, body = pending.result(timeout=60)
        assert status == 404 and body["error"]["code"] == "vm_not_found", body


def raw_wait(board, vm, pattern, timeout=60):
    """A wait sent on a socket of its own (left open: the caller closes it)."""
    s = board.connect()
    q = urllib.parse.urlencode({"pattern": pattern, "timeout": timeout})
    s.sendall(f"GET /v1/vms/{vm}/consoles/pv/wait?{q} HTTP/1.1\r\nHost: x\r\n"
              f"Authorization: Bearer {board.token}\r\n\r\n".encode())
    return s


def wait_until_status(board, vm, want, other, seconds=30):
    """Asks for a wait of 1 s until it is answered `want` (`other` meanwhile)."""
    deadline = time.monotonic() + seconds
    while True:
        status, _, body = wait(board, vm, "pv", "one more", timeout=1)
        if status == want:
            return body
        assert status == other and time.monotonic() < deadline, body
        time.sleep(0.5)


@pytest.mark.one_flavour
def test_a_client_that_goes_away_ends_its_wait(board):
    with tiny.vm(board, "wait-away", "idle") as vm:
        socks = [raw_wait(board, vm, f"never-{i}") for i in range(64)]
        try:
            # Each came on a connection of its own through a TLS handshake;
            # let the last be read before the 65th comes, or that one takes
            # a raw wait's place.
            time.sleep(2)
            # The agent holds 64 waits at most: the next is refused.
            body = wait_until_status(board, vm, 503, 408)
            assert body["error"]["code"] == "too_many_followers", body
        finally:
            for s in socks:
                s.close()
        # Their clients went: so did their waits.
        wait_until_status(board, vm, 408, 503)


def test_the_agent_stops_cleanly_during_a_wait(board):
    with tiny.vm(board, "wait-stop", "idle") as vm:
        s = raw_wait(board, vm, "never printed", timeout=300)
        try:
            time.sleep(2)
            since = board.dom0("date", "+%Y-%m-%d %H:%M:%S").stdout.strip()
            r = board.dom0("systemctl", "restart", "xvmd")
            assert r.returncode == 0, r.stderr
            r = board.dom0("journalctl", "-u", "xvmd", "--since", since, "-o", "cat", "--no-pager")
            assert "code=dumped" not in r.stdout and "ABRT" not in r.stdout, r.stdout[-2000:]
            assert "Deactivated successfully" in r.stdout or "Stopped" in r.stdout, r.stdout[-2000:]
        finally:
            s.close()
        board.wait_agent()
        status, _, body = wait(board, vm, "pv", "ready on", timeout=5)
        assert status == 200, body
