"""Clients without a token cannot take the agent from those with one (issue
15; agent/http-server.h, "strangers"): 500 connections from one address
that send nothing keep at most 32 open while a request with the token from
another address is answered at once; a silent connection is cut 10 s after
it came, and so is a client that trickles its headers a byte a second (a
connection idle timeout would never cut it); the 11th wrong token in a
minute gets 429. The metrics count what was refused and cut. (On the board
all of the host's connections reach dom0 from one address, QEMU's user
network's; dom0's loopback is another.) The agent speaks TLS: silent
connections never start a handshake, the trickling client trickles inside
one."""
import socket
import ssl
import time

import pytest

from metrics import scrape

# The HTTP server's own logic: the same on either hypervisor.
pytestmark = pytest.mark.one_flavour

FLOOD = 500
PER_ADDRESS = 32        # HTTP_STRANGERS_PER_ADDRESS
REQUEST_SEC = 10        # HTTP_STRANGER_REQUEST_SEC


def metric(board, name):
    return scrape(board).get(name)


def is_closed(sock):
    """Whether the agent closed the (non-blocking) socket."""
    try:
        data = sock.recv(1)
        return data == b""
    except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
        return False
    except OSError:
        return True


# Runs in dom0: FLOOD connections to the agent from dom0's own address, each
# held open by an nc that sends nothing; after 2 s, how many the agent kept.
FLOOD_SH = r'''
i=0
while [ $i -lt "$1" ]; do (sleep 60 | nc 127.0.0.1 8080 >/dev/null 2>&1 &); i=$((i+1)); done
sleep 2
echo "kept $(ps -o args | grep -c '^nc 127.0.0.1 8080')"
'''
FLOOD_END_SH = "kill $(pidof nc) 2>/dev/null; kill $(ps -o pid,args | awk '$2 == \"sleep\" && $3 == 60 {print $1}') 2>/dev/null; true"


def test_strangers_are_bounded(board):
    """500 connections from one address (dom0's loopback; nc's that send
    nothing) leave at most 32 open at once, and a request with the token
    from another address (the host) is answered at once meanwhile."""
    refused0, cut0 = metric(board, "xvmd_http_strangers_refused_total"), metric(board, "xvmd_http_strangers_cut_total")
    try:
        r = board.dom0("sh", "-c", FLOOD_SH, "sh", str(FLOOD), timeout=300)
        assert r.returncode == 0, r.stderr
        kept = int(r.stdout.split()[-1])
        assert 1 <= kept <= PER_ADDRESS, r.stdout
        t = time.monotonic()
        status, _, body = board.api("GET", "/host")
        assert status == 200 and "cpus" in body, body
        assert time.monotonic() - t < 5
    finally:
        board.dom0("sh", "-c", FLOOD_END_SH)
    # each of the flood was refused at once, or kept till it was cut (or
    # till the end above closed it: at most PER_ADDRESS of them)
    refused = metric(board, "xvmd_http_strangers_refused_total") - refused0
    cut = metric(board, "xvmd_http_strangers_cut_total") - cut0
    assert refused >= FLOOD // 2 and refused + cut >= FLOOD - PER_ADDRESS, (refused, cut)


def test_silent_connections_are_cut_at_10_s(board):
    socks = [socket.create_connection(("127.0.0.1", board.port), timeout=10) for _ in range(3)]
    t0 = time.monotonic()
    closed_at = {}
    try:
        for s in socks:
            s.setblocking(False)
        while len(closed_at) < len(socks) and time.monotonic() - t0 < REQUEST_SEC + 15:
            for i, s in enumerate(socks):
                if i not in closed_at and is_closed(s):
                    closed_at[i] = time.monotonic() - t0
            time.sleep(0.25)
    finally:
        for s in socks:
            s.close()
    assert len(closed_at) == len(socks), closed_at
    assert all(REQUEST_SEC - 1 <= t <= REQUEST_SEC + 5 for t in closed_at.values()), closed_at


def test_a_trickling_client_is_cut(board):
    t0 = time.monotonic()
    s = board.connect(timeout=10)   # the handshake, then the trickle
    s.setblocking(False)
    try:
        request = b"GET /healthz HTTP/1.1\r\nHost: board\r\nX-Slow: " + b"a" * 40
        for i in range(len(request)):
            try:
                s.send(request[i:i + 1])
            except OSError:
                break
            if is_closed(s):
                break
            time.sleep(1)
        took = time.monotonic() - t0
        assert is_closed(s)
        assert REQUEST_SEC - 1 <= took <= REQUEST_SEC + 5, took
    finally:
        s.close()
    # with the token nothing of this applies: a request is answered
    status, _, _ = board.api("GET", "/host")
    assert status == 200


# Runs in dom0, whose own address (127.0.0.1) is a client of its own: the
# host's requests go on being answered while dom0 is throttled. A request
# over TLS from busybox: nc connects, busybox's ssl_client (wget's TLS
# helper, which checks no certificate: dom0 talks to itself) speaks TLS on
# it, the request from a file, the answer whole into another.
WRONG_TOKENS_SH = r'''
status() {
    printf 'GET /v1/host HTTP/1.1\r\nHost: dom0\r\nAuthorization: Bearer %s\r\nConnection: close\r\n\r\n' "$1" \
        > /tmp/xvmd-req
    nc 127.0.0.1 8080 -e sh -c 'ssl_client -s 3 3<&0 </tmp/xvmd-req >/tmp/xvmd-resp'
    tr -d '\r' </tmp/xvmd-resp | sed -n 's/^\(HTTP\/1.1 [0-9]*\).*/\1/p; s/^Retry-After: *\([0-9]*\).*/retry \1/p'
}
for i in $(seq 10); do status "wrong-token-$i-wrong"; done
echo --
status wrong-token-11-wrong
echo --
status "$(cat /etc/xvmd/token)"
'''


def test_wrong_tokens_are_throttled(board):
    """The 11th wrong token in a minute from one address gets 429 with
    Retry-After, and so does the right one from there; other addresses are
    answered as before. Last in this module: dom0's loopback stays throttled
    for a minute, and nothing after it uses that address."""
    r = board.dom0("sh", "-c", WRONG_TOKENS_SH)
    first, eleventh, right = r.stdout.split("--\n")
    assert first.split() == ["HTTP/1.1", "401"] * 10, r.stdout
    lines = eleventh.split("\n")
    assert lines[0] == "HTTP/1.1 429", r.stdout
    retry = int(lines[1].split()[1])
    assert 50 <= retry <= 60, r.stdout
    assert right.split()[:2] == ["HTTP/1.1", "429"], r.stdout
    # the host is another address: answered
    status, _, _ = board.api("GET", "/host")
    assert status == 200
