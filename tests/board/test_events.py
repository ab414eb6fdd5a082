"""GET /v1/events on real Xen: a follower sees a VM's life (created, started,
rebooted, crashed, deleted) in order, with sequence numbers one apart;
reconnecting after an agent restart with Last-Event-ID resumes with
nothing lost or repeated; Server-Sent Events carry the same; bad resume
points are refused; a resume point that left the ring gets a reset; an
alert pattern in a VM's spec makes an event."""
import json
import secrets
import time

import pytest

import tiny
from eventstream import Stream


def test_a_follower_sees_a_vms_life_in_order(board):
    s = Stream(board)
    assert s.status == 200
    name = f"ev-{secrets.token_hex(3)}"
    try:
        # A guest that reboots every second: the agent stops it as crashed
        # (reboot_loop) at its 5th reboot within 60 s.
        status, _, body = board.api("POST", "/vms", tiny.spec(name, "reboot", delay=1))
        assert status == 201, body
        got = s.until(lambda e: e.get("vm") == name and e["type"] == "vm_crashed")
        assert board.api("DELETE", f"/vms/{name}")[0] == 204
        got += s.until(lambda e: e.get("vm") == name and e["type"] == "vm_deleted")
    finally:
        s.close()
        board.delete_vm(name)
    seqs = [e["seq"] for e in got]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs
    mine = [(e["type"], e.get("boot")) for e in got if e.get("vm") == name]
    assert mine[0] == ("vm_created", None) and mine[1] == ("vm_started", 1), mine
    assert mine[-1] == ("vm_deleted", None), mine
    crashed = [e for e in got if e.get("vm") == name and e["type"] == "vm_crashed"][0]
    assert crashed["reason"] == "reboot_loop" and crashed["state"] == "crashed", crashed
    # Between them: a reboot and then the start of each new boot, in order.
    middle = mine[2:-2]
    assert len(middle) >= 6 and len(middle) % 2 == 0, mine
    for i in range(0, len(middle), 2):
        boot = 2 + i // 2
        assert middle[i] == ("vm_rebooted", boot) and middle[i + 1] == ("vm_started", boot), mine


def test_resume_after_an_agent_restart_loses_and_repeats_nothing(board):
    s = Stream(board)
    name = f"ev-rs-{secrets.token_hex(3)}"
    try:
        status, _, body = board.api("POST", "/vms", tiny.spec(name, "idle"))
        assert status == 201, body
        got = s.until(lambda e: e.get("vm") == name and e["type"] == "vm_started")
        last = got[-1]["seq"]
        s.close()
        # While nobody follows: a restart of the agent, and a change after it.
        r = board.dom0("systemctl", "restart", "xvmd")
        assert r.returncode == 0, r.stderr
        headers = board.wait_agent()
        assert board.api("POST", f"/vms/{name}/pause")[0] == 200
        s = Stream(board, last_event_id=last)
        after = s.until(lambda e: e.get("vm") == name and e["type"] == "vm_paused")
        assert [e["seq"] for e in after] == list(range(last + 1, last + 1 + len(after))), after
        started = [e for e in after if e["type"] == "agent_started"]
        assert len(started) == 1 and started[0]["instance_id"] == headers["X-Xvmd-Instance-Id"], after
        assert started[0]["boot_id"] == headers["X-Xvmd-Boot-Id"]
        # The same from since=, and as Server-Sent Events.
        s.close()
        sse = Stream(board, since=last, sse=True)
        assert sse.r.getheader("Content-Type").startswith("text/event-stream")
        ident, first = sse.next_sse()
        assert first == after[0] and ident == str(after[0]["seq"]), (ident, first, after[0])
        sse.close()
    finally:
        s.close()
        board.delete_vm(name)


@pytest.mark.one_flavour
def test_bad_resume_points_are_refused(board):
    for kw, code, field in (({"since": "abc"}, "invalid_field", "since"),
                            ({"last_event_id": "x1"}, "invalid_field", "Last-Event-ID"),
                            ({"since": 10 ** 15}, "out_of_range", "since")):
        s = Stream(board, **kw)
        body = json.loads(s.body)
        assert s.status == 400 and body["error"]["code"] == code and body["error"]["field"] == field, (kw, body)
        s.close()


def test_an_alert_pattern_makes_an_event(board):
    tag = secrets.token_hex(3)
    name = f"ev-al-{tag}"
    spec = tiny.spec(name, "echo")
    spec["alerts"] = [{"pattern": f"PANIC-{tag}"}, {"pattern": "^oops [0-9]+$", "regex": True, "console": "vuart"}]
    s = Stream(board)
    try:
        status, _, body = board.api("POST", "/vms", spec)
        assert status == 201, body
        assert body["spec"]["alerts"] == [{"pattern": f"PANIC-{tag}", "regex": False},
                                          {"pattern": "^oops [0-9]+$", "regex": True, "console": "vuart"}]
        for console in ("pv", "vuart"):
            board.wait_log(name, console, tiny.banner(console, "echo").decode(), timeout=60)
        for console, text in (("pv", f"x PANIC-{tag} y\noops 1\n"), ("vuart", "no oops 2\noops 3\n")):
            status, _, _ = board.api("POST", f"/vms/{name}/consoles/{console}/input", text.encode())
            assert status == 204
        got = []
        while len(got) < 2:
            e = s.next()
            if e["type"] == "console_alert" and e["vm"] == name:
                got.append(e)
        by_console = {e["console"]: e for e in got}
        pv, vuart = by_console["pv"], by_console["vuart"]
        assert pv["pattern"] == f"PANIC-{tag}" and pv["line"] == f"x PANIC-{tag} y" and pv["suppressed"] == 0, pv
        assert board.whole_log(name, "pv")[pv["offset"]:pv["offset"] + 12] == f"PANIC-{tag}".encode()
        # The regular one is the vuart's only, and its line only matched whole.
        assert vuart["line"] == "oops 3" and vuart["regex"] is True, vuart
        assert board.whole_log(name, "vuart")[vuart["offset"]:vuart["offset"] + 6] == b"oops 3"
    finally:
        s.close()
        board.delete_vm(name)


@pytest.mark.one_flavour
def test_a_resume_point_that_left_the_ring_gets_a_reset(board):
    """More events than the agent keeps (4096) pass while nobody follows:
    coming back with the old seq gets a reset (relist), then the events
    from the oldest held, one apart."""
    s = Stream(board)
    name = f"ev-reset-{secrets.token_hex(3)}"
    try:
        status, _, body = board.api("POST", "/vms", tiny.spec(name, "idle"))
        assert status == 201, body
        old = s.until(lambda e: e.get("vm") == name and e["type"] == "vm_started")[-1]["seq"]
        s.close()
        # An event a pause or resume: 4200 of them, on one keep-alive
        # connection, pipelined 100 at a time (one round trip through QEMU's
        # user network each took most of this test's time).
        with board.connect(timeout=60) as sock, \
                sock.makefile("rb") as f:
            for batch in range(42):
                sock.sendall(b"".join(
                    f"POST /v1/vms/{name}/{'pause' if i % 2 == 0 else 'resume'} HTTP/1.1\r\n"
                    f"Host: 127.0.0.1\r\nAuthorization: Bearer {board.token}\r\n"
                    "Content-Length: 0\r\n\r\n".encode() for i in range(batch * 100, batch * 100 + 100)))
                for i in range(100):
                    status = f.readline()
                    assert status.startswith(b"HTTP/1.1 200 "), (batch, i, status)
                    length = 0
                    while (line := f.readline()) not in (b"\r\n", b""):
                        if line.lower().startswith(b"content-length:"):
                            length = int(line.split(b":")[1])
                    f.read(length)
        s = Stream(board, since=old)
        reset = s.next()
        assert reset["type"] == "reset" and reset["since"] == old and reset["next"] > old + 1, reset
        first = s.next()
        assert first["seq"] == reset["next"], (reset, first)
        second = s.next()
        assert second["seq"] == first["seq"] + 1
    finally:
        s.close()
        board.delete_vm(name)
