"""Clients without a token cannot take the agent from those with one (issue
15; agent/http-server.h, "strangers"): from the host, all of whose
connections reach dom0 from one address (QEMU's user network), 500
connections that send nothing keep at most 32 open while a request with the
token from dom0 is answered at once; those 32 are cut 10 s after they came,
and so is a client that trickles its headers a byte a second (a connection
idle timeout would never cut it). The metrics count both."""
import socket
import time

from metrics import scrape

FLOOD = 500
PER_ADDRESS = 32        # HTTP_STRANGERS_PER_ADDRESS
REQUEST_SEC = 10        # HTTP_STRANGER_REQUEST_SEC


def metric(board, name):
    return scrape(board).get(name)


def is_closed(sock):
    try:
        data = sock.recv(1, socket.MSG_DONTWAIT)
        return data == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def test_strangers_are_bounded_and_cut(board):
    refused0, cut0 = metric(board, "xvmd_http_strangers_refused_total"), metric(board, "xvmd_http_strangers_cut_total")
    socks = []
    try:
        t0 = time.monotonic()
        for _ in range(FLOOD):
            s = socket.create_connection(("127.0.0.1", board.port), timeout=10)
            socks.append(s)
        time.sleep(2)
        open_ = [s for s in socks if not is_closed(s)]
        assert 0 < len(open_) <= PER_ADDRESS, len(open_)
        # dom0's own address is another client: it is answered at once
        t = time.monotonic()
        r = board.dom0("sh", "-c", "wget -q -O - --header \"Authorization: Bearer $(cat /etc/xvmd/token)\" "
                       "http://127.0.0.1:8080/v1/host")
        assert r.returncode == 0 and '"cpus"' in r.stdout, r
        assert time.monotonic() - t < 10
        # the ones kept are cut once their 10 s are up, not before
        assert time.monotonic() - t0 < REQUEST_SEC - 2, "the flood took too long to judge the cut"
        assert not any(is_closed(s) for s in open_)
        deadline = t0 + REQUEST_SEC + 10
        while time.monotonic() < deadline and not all(is_closed(s) for s in open_):
            time.sleep(0.5)
        assert all(is_closed(s) for s in open_)
        assert time.monotonic() - t0 >= REQUEST_SEC - 1
    finally:
        for s in socks:
            s.close()
    assert metric(board, "xvmd_http_strangers_refused_total") - refused0 >= FLOOD - PER_ADDRESS
    assert metric(board, "xvmd_http_strangers_cut_total") - cut0 >= len(open_)


def test_a_trickling_client_is_cut(board):
    s = socket.create_connection(("127.0.0.1", board.port), timeout=10)
    try:
        t0 = time.monotonic()
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
    status, _, _ = board.api("GET", "/v1/host")
    assert status == 200


# Runs in dom0, whose own address (127.0.0.1) is a client of its own: the
# host's requests go on being answered while dom0 is throttled.
WRONG_TOKENS_SH = r'''
url=http://127.0.0.1:8080/v1/host
status() { wget -S -O /dev/null --header "Authorization: Bearer $1" "$url" 2>&1 \
    | sed -n 's/^ *\(HTTP\/1.1 [0-9]*\).*/\1/p; s/^ *Retry-After: *\([0-9]*\).*/retry \1/p'; }
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
    status, _, _ = board.api("GET", "/v1/host")
    assert status == 200
