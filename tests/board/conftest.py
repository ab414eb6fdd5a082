"""Fixtures that boot the emulated board once and share it between tests.

`board` is a running board of one flavour (bundled, then stock), booted once
per session and shared by every test module; pytest runs all tests of one
flavour before booting the next. It boots with --fresh, so a session starts
from an empty state disk (the image store holding only the board's images).
test_zy_persist.py reboots it (down, up) near the end; test_zz_down.py, last,
brings it down.
The agent serves https and wss only: every client here trusts the board's
CA (build/board/PORT/ca.pem) and nothing else: Board.ssl for urllib and raw
sockets (Board.connect()), Board.sslopt for python3-websocket.
Both boot on ports of their own, away from a developer's board on 8080. XVMD_TEST_FLAVORS
(comma separated) narrows the flavours; XVMD_TEST_PORT_BASE moves the ports.
"""
import contextlib
import json
import os
import re
import secrets
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from contract import contract

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BOARD = os.path.join(ROOT, "hypervisor", "board")
FLAVORS = [f for f in os.environ.get("XVMD_TEST_FLAVORS", "bundled,stock").split(",") if f]
PORT_BASE = int(os.environ.get("XVMD_TEST_PORT_BASE", "18080"))


def board_cmd(*args, port, timeout=900, check=False):
    """Runs hypervisor/board and returns the CompletedProcess (text)."""
    return subprocess.run([BOARD, *args, "--port", str(port)] if args[0] != "dom0"
                          else [BOARD, "dom0", "--port", str(port), *args[1:]],
                          capture_output=True, text=True, timeout=timeout, check=check,
                          stdin=subprocess.DEVNULL)


class Board:
    # The project's small Linux guest (guest-images/linux): a shell on each
    # console, with these prompts.
    LINUX_GUEST = {"kernel": "linux-kernel", "ramdisk": "linux-initramfs",
                   "cmdline": "console=hvc0 console=ttyAMA0", "memory_mib": 128}
    PROMPTS = {"pv": "guest:hvc0# ", "vuart": "guest:ttyAMA0# "}

    def __init__(self, flavor, port, up_output):
        self.flavor = flavor
        self.port = port
        self.up_output = up_output
        self.url = f"https://127.0.0.1:{port}"
        self.ws_base = f"wss://127.0.0.1:{port}"
        self.state = os.path.join(ROOT, "build", "board", str(port))
        self.cacert = os.path.join(self.state, "ca.pem")
        # The board's CA alone; the host name is checked (127.0.0.1).
        self.ssl = ssl.create_default_context(cafile=self.cacert)
        self.sslopt = {"ca_certs": self.cacert, "cert_reqs": ssl.CERT_REQUIRED}
        with open(os.path.join(self.state, "token")) as f:
            self.token = f.read().strip()

    def request(self, method, path, body=None, token=..., headers=None, timeout=30):
        """Returns (status, headers, parsed JSON or raw bytes), once the
        answer has passed the API contract (contract.py)."""
        h = dict(headers or {})
        tok = self.token if token is ... else token
        if tok is not None:
            h["Authorization"] = f"Bearer {tok}"
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=timeout, context=self.ssl) as r:
                status, hdrs, raw = r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            status, hdrs, raw = e.code, e.headers, e.read()
        contract().check_response(method, path, status, hdrs, raw)
        if hdrs.get("Content-Type", "").startswith("application/json"):
            return status, hdrs, json.loads(raw)
        return status, hdrs, raw

    def connect(self, timeout=30):
        """A TLS socket to the agent, for tests that speak raw HTTP."""
        raw = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        # Without it the first request waits ~40 ms behind the client's
        # TLS Finished (Nagle's algorithm, the agent's delayed ACK), as curl
        # and browsers do not.
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self.ssl.wrap_socket(raw, server_hostname="127.0.0.1")

    def urlopen(self, url_or_req, timeout=30):
        """urllib's urlopen trusting the board's CA."""
        return urllib.request.urlopen(url_or_req, timeout=timeout, context=self.ssl)

    def api(self, method, path, body=None, **kw):
        """request() for JSON APIs; raw bytes go in as bytes."""
        return self.request(method, "/v1" + path, body=body, **kw)

    def log(self, vm, console, start=None):
        q = "" if start is None else f"?from={start}"
        status, headers, body = self.api("GET", f"/vms/{vm}/consoles/{console}/log{q}")
        assert status == 200, (status, body)
        return body, int(headers["X-Xvmd-Log-Start"]), int(headers["X-Xvmd-Log-End"])

    def wait_log(self, vm, console, needle, timeout=240, start=0):
        """Waits until the console's log from offset start holds needle
        (bytes, a string, or a compiled bytes regex)."""
        deadline = time.monotonic() + timeout
        if isinstance(needle, str):
            needle = needle.encode()
        while True:
            data, _, _ = self.log(vm, console, start)
            if needle.search(data) if isinstance(needle, re.Pattern) else needle in data:
                return data
            if time.monotonic() > deadline:
                raise AssertionError(f"{needle!r} not in {vm}/{console} after {timeout} s; "
                                     f"log ends with {data[-400:]!r}")
            time.sleep(1)

    def type_on(self, vm, console, text):
        """Types text (a string or bytes) on a console of vm."""
        data = text.encode() if isinstance(text, str) else text
        status, _, body = self.api("POST", f"/vms/{vm}/consoles/{console}/input", data)
        assert status == 204, body

    def whole_log(self, vm, console, start=0):
        """The log from start to its end, page by page: an answer holds at
        most 4 MiB (its X-Xvmd-Log-End is where that answer ends); an empty
        one means the end."""
        out = bytearray()
        while True:
            data, _, _ = self.log(vm, console, start + len(out))
            if not data:
                return bytes(out)
            out += data

    def create_linux(self, name, **kw):
        """Creates a VM of the Linux guest (kw overrides its spec); returns
        the VM's JSON."""
        status, _, vm = self.api("POST", "/vms", dict(self.LINUX_GUEST, name=name, **kw))
        assert status == 201, vm
        return vm

    def wait_prompts(self, vm, timeout=240):
        """Waits for the Linux guest's shell on both consoles."""
        for console in ("vuart", "pv"):
            self.wait_log(vm, console, self.PROMPTS[console], timeout=timeout)

    @contextlib.contextmanager
    def linux_vm(self, prefix, **kw):
        """A Linux guest named PREFIX-RANDOM, at its shell on both consoles;
        destroyed and deleted afterwards."""
        name = f"{prefix}-{secrets.token_hex(3)}"
        self.create_linux(name, **kw)
        try:
            self.wait_prompts(name)
            yield name
        finally:
            self.delete_vm(name)

    def wait_vm(self, vm, pred, timeout=120):
        deadline = time.monotonic() + timeout
        while True:
            status, _, body = self.api("GET", f"/vms/{vm}")
            if status == 200 and pred(body):
                return body
            if time.monotonic() > deadline:
                raise AssertionError(f"VM {vm} never got there: {body}")
            time.sleep(1)

    def delete_vm(self, name):
        """Destroys the VM if it runs, then deletes it; a missing VM is fine."""
        status, _, body = self.api("GET", f"/vms/{name}")
        if status == 404:
            return
        if body["state"] in ("running", "paused"):
            self.api("POST", f"/vms/{name}/destroy")
        status, _, body = self.api("DELETE", f"/vms/{name}")
        assert status == 204, body

    def dom0(self, *cmd, timeout=120):
        return board_cmd("dom0", *cmd, port=self.port, timeout=timeout)

    AGENT_DROP_IN = "/run/systemd/system/xvmd.service.d/zz-test.conf"
    AGENT_TLS = "--tls-cert /etc/xvmd/tls/cert.pem --tls-key /etc/xvmd/tls/key.pem"


    def wait_agent(self, timeout=90):
        """Until the agent answers again (after a restart, or systemd's
        restart of it 5 s after a failure); the answer's headers."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                status, headers, _ = self.request("GET", "/healthz", timeout=5)
                if status == 200:
                    return headers
            except OSError:
                pass
            assert time.monotonic() < deadline, "the agent did not come back"
            time.sleep(1)

    def restart_agent(self, extra=""):
        """Restarts the agent with its unit's command line plus extra (a
        drop-in; none: as the unit has it), past systemd's start limit (test
        modules restart it often), and waits until it answers."""
        if extra:
            conf = ("[Service]\nExecStart=\nExecStart=/usr/sbin/xvmd --listen 0.0.0.0:8080 --token-file "
                    f"/etc/xvmd/token {self.AGENT_TLS} --state-dir /var/lib/xvmd {extra}\n")
            r = self.dom0("sh", "-c", f"mkdir -p {self.AGENT_DROP_IN.rsplit('/', 1)[0]} && "
                          f"printf '%s' '{conf}' > {self.AGENT_DROP_IN}")
        else:
            r = self.dom0("rm", "-f", self.AGENT_DROP_IN)
        assert r.returncode == 0, r.stderr
        for cmd in (("systemctl", "daemon-reload"), ("systemctl", "reset-failed", "xvmd"),
                    ("systemctl", "restart", "xvmd")):
            r = self.dom0(*cmd)
            assert r.returncode == 0, r.stderr
        return self.wait_agent()

    def qemu_pid(self):
        try:
            with open(os.path.join(self.state, "qemu.pid")) as f:
                return int(f.read().strip())
        except FileNotFoundError:
            return None


def recv_answer(sock, limit=1 << 20):
    """One HTTP answer read off a raw socket: its head, and as much body as
    Content-Length says (a 101 or a head without it: none). Over TLS the
    head and the body may come in records of their own, so one recv() is
    not enough."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk
        assert len(data) < limit, "an answer's head without an end"
    head, _, body = data.partition(b"\r\n\r\n")
    m = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
    want = int(m.group(1)) if m and not head.startswith(b"HTTP/1.1 101") else 0
    while len(body) < want:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="session", params=FLAVORS)
def board(request):
    flavor = request.param
    port = PORT_BASE + 10 * FLAVORS.index(flavor)
    board_cmd("down", port=port, timeout=120)
    # --fresh: every session starts from a new, empty state disk.
    up = board_cmd("up", "--flavor", flavor, "--fresh", port=port)
    if up.returncode != 0:
        pytest.fail(f"board up ({flavor}) failed:\n{up.stdout}\n{up.stderr}")
    b = Board(flavor, port, up.stdout)
    yield b
    save_dom0_journal(b)
    board_cmd("down", port=port, timeout=180)


def pytest_configure(config):
    config.addinivalue_line("markers", "one_flavour: a test of the agent's own logic, not of the hypervisor "
                            "under it: collected for one flavour only (the last booted), to keep CI short")


def pytest_collection_modifyitems(config, items):
    """one_flavour tests of the other flavours are left out (deselected,
    not skipped: they do not exist there)."""
    keep, drop = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if item.get_closest_marker("one_flavour") and params.get("board", FLAVORS[-1]) != FLAVORS[-1]:
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def pytest_terminal_summary(terminalreporter):
    c = contract()
    terminalreporter.write_line(f"API contract (api/openapi.yaml): {c.answers} answers and {c.messages} "
                                "websocket messages passed the check")


def save_dom0_journal(b):
    """Keeps dom0's journal next to the serial log, for a failed run's reader."""
    if b.qemu_pid() is None:
        return
    try:
        r = b.dom0("journalctl", "-b", "--no-pager", "-o", "short-monotonic", timeout=60)
        with open(os.path.join(b.state, "dom0-journal.log"), "w") as f:
            f.write(r.stdout)
    except (subprocess.TimeoutExpired, OSError):
        pass
