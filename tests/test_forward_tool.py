"""tools/xvmd-forward against a tiny websocket server written here (stdlib
only, one thread per connection) that plays the agent's port forward
route: it checks the path and the token, refuses with the agent's JSON
error where told to, and otherwise echoes binary messages, or closes with a
code of port-forward.md. No board needed."""
import base64
import hashlib
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(ROOT, "tools", "xvmd-forward")
TOKEN = "tool-test-token"
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def recv_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def read_frame(conn):
    b0, b1 = recv_exact(conn, 2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", recv_exact(conn, 2))[0]
    elif n == 127:
        n = struct.unpack("!Q", recv_exact(conn, 8))[0]
    assert b1 & 0x80, "a client masks its frames"
    mask = recv_exact(conn, 4)
    payload = bytes(c ^ mask[i % 4] for i, c in enumerate(recv_exact(conn, n)))
    return b0 & 0x0F, payload


def send_frame(conn, opcode, payload):
    n = len(payload)
    head = bytes([0x80 | opcode])
    head += bytes([n]) if n < 126 else bytes([126]) + struct.pack("!H", n) if n < 65536 else \
        bytes([127]) + struct.pack("!Q", n)
    conn.sendall(head + payload)


class Agent:
    """The route, as far as the tool sees it. mode: "echo" (until the
    client's end of data, an empty message: then 1000), "refuse" (409
    vm_no_address), or a close code to end with after the first message."""

    def __init__(self, mode="echo"):
        self.mode = mode
        self.paths = []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn):
        with conn:
            try:
                self.handle(conn)
            except (EOFError, OSError):
                pass

    def handle(self, conn):
        req = b""
        while b"\r\n\r\n" not in req:
            chunk = conn.recv(4096)
            if not chunk:
                return
            req += chunk
        lines = req.split(b"\r\n\r\n")[0].decode().split("\r\n")
        path = lines[0].split()[1]
        headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
        self.paths.append(path)

        def error(status, code, message):
            body = json.dumps({"error": {"code": code, "message": message}}).encode()
            conn.sendall(f"HTTP/1.1 {status} No\r\nContent-Type: application/json\r\nContent-Length: {len(body)}"
                         f"\r\nConnection: close\r\n\r\n".encode() + body)

        if headers.get("authorization") != f"Bearer {TOKEN}":
            return error(401, "unauthorized", "the bearer token is not valid")
        if self.mode == "refuse":
            return error(409, "vm_no_address", "VM g1 has no network interface to forward a port to")
        accept = base64.b64encode(hashlib.sha1(headers["sec-websocket-key"].encode() + GUID).digest()).decode()
        conn.sendall(f"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     f"Sec-WebSocket-Accept: {accept}\r\n\r\n".encode())
        while True:
            op, payload = read_frame(conn)
            if op == 0x8:
                send_frame(conn, 0x8, payload[:2])
                return
            assert op == 0x2, f"binary messages only, not opcode {op}"
            if self.mode == "echo" and payload:
                send_frame(conn, 0x2, payload)
            else:
                # The client's end of data (an empty message): the echo
                # server is done too; or a failure.
                code = 1000 if self.mode == "echo" else self.mode
                reason = b"10.0.0.5:22 " + (b"closed the connection" if code == 1000 else b"refused the connection")
                send_frame(conn, 0x8, struct.pack("!H", code) + reason)
                # As the agent does: the client's answer is read before the
                # socket closes (unread bytes would make the close a reset).
                while read_frame(conn)[0] != 0x8:
                    pass
                return

    def close(self):
        self.sock.close()


@pytest.fixture
def agent():
    a = Agent()
    yield a
    a.close()


def run(args, stdin=b"", env=None, timeout=30):
    e = {k: v for k, v in os.environ.items() if k not in ("XVMD_URL", "XVMD_TOKEN")}
    e.update(env or {})
    return subprocess.run(["/usr/bin/python3", TOOL, *args], input=stdin, capture_output=True, env=e,
                          timeout=timeout)


def test_stdio_relays_and_ends_with_stdin(agent):
    data = os.urandom(200 * 1024)
    r = run(["--url", agent.url, "--token", TOKEN, "g1", "22"], stdin=data)
    assert r.returncode == 0, r.stderr
    assert r.stdout == data
    assert agent.paths == ["/v1/vms/g1/ports/22/ws"]


def test_token_and_url_from_the_environment(agent):
    r = run(["g1", "2222"], stdin=b"ping", env={"XVMD_URL": agent.url, "XVMD_TOKEN": TOKEN})
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"ping"
    assert agent.paths == ["/v1/vms/g1/ports/2222/ws"]


def test_refusals_say_why(agent):
    r = run(["--url", agent.url, "--token", "wrong", "g1", "22"])
    assert r.returncode == 1
    assert b"the bearer token is not valid (401 unauthorized)" in r.stderr
    agent.mode = "refuse"
    r = run(["--url", agent.url, "--token", TOKEN, "g1", "22"])
    assert r.returncode == 1
    assert b"no network interface" in r.stderr and b"409 vm_no_address" in r.stderr


def test_close_code_is_an_error(agent):
    agent.mode = 4001
    r = run(["--url", agent.url, "--token", TOKEN, "g1", "22"], stdin=b"x")
    assert r.returncode == 1
    assert b"10.0.0.5:22 refused the connection (close code 4001)" in r.stderr


def test_command_line_errors():
    r = run(["g1", "22"])
    assert r.returncode == 2 and b"XVMD_URL" in r.stderr
    r = run(["--url", "http://127.0.0.1:1", "g1", "22"])
    assert r.returncode == 2 and b"XVMD_TOKEN" in r.stderr
    r = run(["--url", "http://127.0.0.1:1", "--token", TOKEN, "g1", "0"])
    assert r.returncode == 2 and b"1 to 65535" in r.stderr
    r = run(["--url", "http://127.0.0.1:1", "--token", TOKEN, "g1", "22"])
    assert r.returncode == 1 and b"cannot reach the agent" in r.stderr


def test_listen_opens_one_websocket_per_connection(agent):
    p = subprocess.Popen(["/usr/bin/python3", TOOL, "--url", agent.url, "--token", TOKEN, "--listen", "0", "g1",
                          "22"], stderr=subprocess.PIPE)
    try:
        line = p.stderr.readline().decode()
        assert "listening on 127.0.0.1:" in line, line
        port = int(line.split("127.0.0.1:")[1].split(",")[0])
        conns = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(3)]
        for i, c in enumerate(conns):
            c.sendall(b"hello %d" % i)
        for i, c in enumerate(conns):
            want = b"hello %d" % i
            got = b""
            while len(got) < len(want):
                got += c.recv(100)
            assert got == want
            c.close()
        deadline = time.monotonic() + 10
        while len(agent.paths) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert agent.paths == ["/v1/vms/g1/ports/22/ws"] * 3
    finally:
        p.kill()
        p.wait()
        p.stderr.close()


if __name__ == "__main__":
    sys.exit(pytest.main([__file__]))
