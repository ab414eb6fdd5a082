"""Console websockets on the board (api/console-websocket.md): replay from the
log, exact resumption, many viewers, the writer lease, slow viewers, auth,
reboots and deletion. Driven from the host with python3-websocket."""
import json
import secrets
import socket
import time

import pytest
import websocket

import flood
from conftest import recv_answer
from contract import contract


def ws_url(board, vm, console, query=""):
    return f"{board.ws_base}/v1/vms/{vm}/consoles/{console}/ws{query}"


def connect(board, vm, console="pv", query="", token=..., **kw):
    headers = [] if token is None else [f"Authorization: Bearer {board.token if token is ... else token}"]
    ws = websocket.create_connection(ws_url(board, vm, console, query), header=headers, timeout=60,
                                     suppress_origin=True, sslopt=board.sslopt, **kw)
    return Viewer(ws)


class Viewer:
    """A websocket client that keeps console bytes and control messages apart."""

    def __init__(self, ws):
        self.ws = ws
        self.data = bytearray()
        self.messages = []
        self.hello = self.next_message("hello")
        self.offset = self.hello["offset"]  # log offset of data[0]

    def pump(self, timeout=60):
        """Reads one frame; returns False on close."""
        self.ws.settimeout(timeout)
        op, payload = self.ws.recv_data(control_frame=False)
        if op == websocket.ABNF.OPCODE_BINARY:
            self.data += payload
        elif op == websocket.ABNF.OPCODE_TEXT:
            message = json.loads(payload)
            contract().check_ws_message(message)
            self.messages.append(message)
        elif op == websocket.ABNF.OPCODE_CLOSE:
            return False
        return True

    def next_message(self, type_, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            for i, m in enumerate(self.messages):
                if m["type"] == type_:
                    return self.messages.pop(i)
            assert time.monotonic() < deadline, f"no {type_} message; got {self.messages}"
            assert self.pump(max(1, deadline - time.monotonic())), f"closed while waiting for {type_}"

    def wait_data(self, needle, timeout=60):
        deadline = time.monotonic() + timeout
        needle = needle.encode() if isinstance(needle, str) else needle
        scanned = 0  # search only what is new (floods are megabytes)
        while self.data.find(needle, max(0, scanned - len(needle))) < 0:
            scanned = len(self.data)
            assert time.monotonic() < deadline, f"{needle!r} never came; have {bytes(self.data[-300:])!r}"
            assert self.pump(max(1, deadline - time.monotonic())), "closed"

    def send_json(self, obj):
        self.ws.send(json.dumps(obj))

    def type(self, text):
        self.ws.send_binary(text.encode())

    def close(self):
        try:
            self.ws.close()
        except (OSError, websocket.WebSocketException):
            pass


@pytest.fixture(scope="module")
def vm(board):
    # Its log holds the 16 MiB flood below whole (the default budget is 16 MiB).
    with board.linux_vm("ws", log_max_bytes=64 * 1024 * 1024) as name:
        yield name


def say(board, vm, console, text):
    status, _, body = board.api("POST", f"/vms/{vm}/consoles/{console}/input", text.encode())
    assert status == 204, body


def test_replay_from_zero_equals_the_log(board, vm):
    log, start, end = board.log(vm, "vuart")
    v = connect(board, vm, "vuart", "?from=0")
    assert v.hello["offset"] == 0 and v.hello["log_start"] == 0 and v.hello["console"] == "vuart"
    assert v.hello["vm_state"] == "running" and v.hello["viewers"] >= 1
    while len(v.data) < end:
        assert v.pump()
    assert bytes(v.data[:end]) == log
    v.close()


def test_without_from_only_new_output(board, vm):
    _, _, end = board.log(vm, "pv")
    v = connect(board, vm, "pv")
    assert v.hello["offset"] >= end
    tag = secrets.token_hex(4)
    say(board, vm, "pv", f"echo NEW-{tag}\n")
    v.wait_data(f"NEW-{tag}")
    log, _, _ = board.log(vm, "pv")
    assert bytes(v.data) == log[v.offset:v.offset + len(v.data)]
    v.close()


def test_reconnect_resumes_without_gap_or_duplicate(board, vm):
    _, _, end = board.log(vm, "pv")
    first = connect(board, vm, "pv", f"?from={end}")
    tag = secrets.token_hex(4)
    say(board, vm, "pv", f"echo ONE-{tag}\n")
    first.wait_data(f"ONE-{tag}")
    # Where the stream stands, by the server's word and by counting.
    first.send_json({"type": "sync"})
    sync = first.next_message("sync")
    assert sync["offset"] == end + len(first.data)
    resume = sync["offset"]
    got = bytes(first.data)
    first.close()
    say(board, vm, "pv", f"echo TWO-{tag}\n")  # written while nobody watches
    second = connect(board, vm, "pv", f"?from={resume}")
    assert second.hello["offset"] == resume
    second.wait_data(f"TWO-{tag}")
    log, _, _ = board.log(vm, "pv")
    joined = got + bytes(second.data)
    assert joined == log[end:end + len(joined)]
    second.close()


def test_32_viewers_see_identical_bytes(board, vm):
    _, _, end = board.log(vm, "pv")
    viewers = [connect(board, vm, "pv", f"?from={end}") for _ in range(32)]
    assert max(v.hello["viewers"] for v in viewers) >= 32
    tag = secrets.token_hex(4)
    say(board, vm, "pv", f"i=0; while [ $i -lt 200 ]; do echo many-{tag}-$i; i=$((i+1)); done\n")
    for v in viewers:
        v.wait_data(f"many-{tag}-199")
    log, _, _ = board.log(vm, "pv")
    n = min(len(v.data) for v in viewers)
    assert n > 200 * 10
    for v in viewers:
        assert bytes(v.data[:n]) == log[end:end + n]
    for v in viewers:
        v.close()


def test_writer_lease_take_refuse_steal_release(board, vm):
    a = connect(board, vm, "vuart")
    b = connect(board, vm, "vuart")
    assert a.hello["viewer"] != b.hello["viewer"]

    # Without the lease, typing is refused with a message.
    a.type("echo nope\n")
    assert a.next_message("error")["code"] == "no_lease"

    a.send_json({"type": "lease", "action": "take"})
    for v in (a, b):
        m = v.next_message("lease")
        assert (m["event"], m["writer"], m["by"]) == ("taken", a.hello["viewer"], a.hello["viewer"])
    b.send_json({"type": "lease", "action": "take"})
    assert b.next_message("error")["code"] == "lease_held"

    tag = secrets.token_hex(4)
    a.type(f"echo lease-{tag}-$((3*5))\n")
    a.wait_data(f"lease-{tag}-15")
    b.wait_data(f"lease-{tag}-15")

    b.send_json({"type": "lease", "action": "steal"})
    m = a.next_message("lease")
    assert (m["event"], m["writer"]) == ("stolen", b.hello["viewer"])
    a.type("echo stale\n")
    assert a.next_message("error")["code"] == "no_lease"
    b.send_json({"type": "lease", "action": "release"})
    m = a.next_message("lease")
    assert (m["event"], m["writer"]) == ("released", None)

    # A holder that leaves frees the lease, and the others hear of it.
    b.send_json({"type": "lease", "action": "take"})
    a.next_message("lease")
    b.close()
    m = a.next_message("lease")
    assert (m["event"], m["writer"]) == ("left", None)
    assert a.next_message("presence")["viewers"] >= 1
    a.close()
    assert b"echo stale" not in board.log(vm, "vuart")[0]
    assert b"echo nope" not in board.log(vm, "vuart")[0]


def log_end(board, vm, console):
    status, _, body = board.api("GET", f"/vms/{vm}")
    assert status == 200, body
    return body["consoles"][console]["log_end"]


def test_stalled_viewer_does_not_slow_the_guest(board, vm):
    """A viewer that stops reading while the guest writes 8 MiB to its PV
    console: the log and another viewer get every byte, exactly; the stalled
    one is dealt with as api/console-websocket.md says: when it reads again
    (its socket having taken nothing for more than 5 s, and far behind), it
    is told `skipped` and moved on to the last 64 KiB of the log, and its
    stream is the log minus the skipped range. The buffers between absorb a
    few MiB (the host's socket of QEMU's user network grows to about 3 MiB),
    well short of 8 MiB. How fast the flood goes with and without a stalled
    viewer is measured by tests/bench/console-vs-xl, not here."""
    size = 8 * 1024 * 1024
    end = log_end(board, vm, "pv")
    stalled = connect(board, vm, "pv", f"?from={end}",
                      sockopt=((socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),))
    live = connect(board, vm, "pv", f"?from={end}")
    say(board, vm, "pv", f"xvmd-flood {size}\n")

    # The live viewer reads everything; the stalled one reads nothing, but
    # pings now and then (sending needs no reading), so that the agent does
    # not drop it as a dead peer (75 s without a frame).
    deadline = time.monotonic() + 1200
    last_ping = time.monotonic()
    stall_end = None
    scanned = 0
    while stall_end is None or time.monotonic() < stall_end:
        assert time.monotonic() < deadline, "the flood did not end in 1200 s"
        if time.monotonic() - last_ping > 10:
            stalled.ws.ping()
            last_ping = time.monotonic()
        if stall_end is None:
            try:
                live.pump(timeout=2)
            except websocket.WebSocketTimeoutException:
                pass
            # The end marker, searched for only in what is new.
            e = live.data.find(flood.END, max(0, scanned - len(flood.END)))
            if e >= 0 and live.data.find(b">>", e) > 0:
                stall_end = time.monotonic() + 6  # the agent's stall bound is 5 s
            elif e < 0:
                scanned = len(live.data)
        else:
            time.sleep(0.5)

    log = board.whole_log(vm, "pv", end)
    found = flood.cut(log, size)
    assert found, "no complete flood in the log"
    offset, payload, _ = found
    want = flood.pattern(size)
    assert payload == want, flood.first_difference(payload, want)
    assert bytes(live.data) == log[:len(live.data)]
    assert flood.cut(bytes(live.data), size)[1] == want

    stalled.wait_data(flood.END, timeout=600)
    skipped = [m for m in stalled.messages if m["type"] == "skipped"]
    assert skipped, f"the stalled viewer was not skipped; it got {len(stalled.data)} bytes"
    assert all(s["to"] > s["from"] >= end for s in skipped)
    # Moved on to the last 64 KiB: the flood had ended before it read again.
    assert skipped[-1]["to"] >= end + offset + size - 64 * 1024
    assert len(stalled.data) < size
    # What the stalled viewer got is the log minus the skipped ranges.
    pieces, pos = [], end
    for s in skipped:
        pieces.append((pos, s["from"]))
        pos = s["to"]
    rebuilt = b"".join(log[a - end:b - end] for a, b in pieces) + log[pos - end:pos - end + len(stalled.data)]
    assert bytes(stalled.data) == rebuilt[:len(stalled.data)]
    stalled.close()
    live.close()


def test_refusals_before_the_upgrade(board, vm):
    def status_of(headers, path=f"/v1/vms/{vm}/consoles/pv/ws"):
        s = board.connect()
        s.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{board.port}\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode())
        answer = recv_answer(s)
        s.close()
        return contract().check_raw("GET", path, answer), answer.decode(errors="replace")

    good = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==", "Authorization": f"Bearer {board.token}"}
    assert status_of(good)[0] == 101
    assert status_of({**good, "Authorization": "Bearer wrong-token-wrong"})[0] == 401
    assert status_of({k: v for k, v in good.items() if k != "Authorization"})[0] == 401
    assert status_of({**good, "Sec-WebSocket-Version": "8"})[0] == 426
    assert status_of({**good, "Sec-WebSocket-Key": "short"})[0] == 400
    assert status_of(good, f"/v1/vms/{vm}/consoles/serial/ws")[0] == 404
    assert status_of(good, "/v1/vms/no-such-vm/consoles/pv/ws")[0] == 404
    assert status_of(good, f"/v1/vms/{vm}/consoles/pv/ws?from=999999999999")[0] == 416

    # A browser's session cookie counts only with the agent's own Origin.
    status, headers, _ = board.api("POST", "/session", {"token": board.token}, token=None)
    assert status == 204
    cookie = headers["Set-Cookie"].split(";")[0]
    assert "HttpOnly" in headers["Set-Cookie"] and "SameSite=Strict" in headers["Set-Cookie"]
    assert "; Secure" in headers["Set-Cookie"]
    browser = {k: v for k, v in good.items() if k != "Authorization"}
    browser["Cookie"] = cookie
    assert status_of(browser)[0] == 403
    assert status_of({**browser, "Origin": "https://evil.example"})[0] == 403
    # Over TLS, a page served in cleartext is not the agent's own.
    assert status_of({**browser, "Origin": f"http://127.0.0.1:{board.port}"})[0] == 403
    assert status_of({**browser, "Origin": f"https://127.0.0.1:{board.port}"})[0] == 101
    assert status_of({**browser, "Cookie": "xvmd_session=" + "0" * 64,
                      "Origin": f"https://127.0.0.1:{board.port}"})[0] == 401
    status, _, _ = board.api("POST", "/session", {"token": "wrong-token-wrong"}, token=None)
    assert status == 401


def test_reboot_keeps_the_websocket_and_delete_closes_it(board):
    name = "wsr-" + secrets.token_hex(3)
    board.create_linux(name)
    v = connect(board, name, "vuart", "?from=0")
    v.wait_data("guest:ttyAMA0# ", timeout=240)
    v.send_json({"type": "lease", "action": "take"})
    v.next_message("lease")
    mark = len(v.data)
    v.type("reboot\n")
    m = v.next_message("vm", timeout=120)
    while m["boot_count"] != 2 or m["state"] != "running":
        m = v.next_message("vm", timeout=120)
    # The new boot's output comes down the same websocket.
    deadline = time.monotonic() + 240
    while b"xvmd-guest: ready on ttyAMA0" not in v.data[mark:]:
        assert time.monotonic() < deadline
        assert v.pump()
    assert board.api("POST", f"/vms/{name}/destroy")[0] == 200
    assert board.api("DELETE", f"/vms/{name}")[0] == 204
    v.ws.settimeout(30)
    while True:
        op, payload = v.ws.recv_data(control_frame=True)
        if op == websocket.ABNF.OPCODE_CLOSE:
            break
    assert int.from_bytes(payload[:2], "big") == 4404, payload
    v.close()
