"""The agent speaks https and wss only (issue 15; agent/tls.h): the board's
certificate, signed by the board's own CA, is trusted with that CA and not
without it; plain HTTP to the port and clients that do not trust the
certificate fail their handshake, and are counted and logged; TLS 1.3 by
default, 1.2 still; and the agent refuses to start with a key others may
read, files that are not what they say, or plain HTTP on an address other
hosts reach, before it touches Xen or its state."""
import re
import socket
import ssl
import subprocess
import time

import pytest

from metrics import scrape

# The HTTP server's own logic: the same on either hypervisor.
pytestmark = pytest.mark.one_flavour


def curl(board, *args, url="/v1/host"):
    return subprocess.run(["curl", "-sS", "--max-time", "20", "-H", f"Authorization: Bearer {board.token}",
                           *args, url if url.startswith("http") else board.url + url],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def failed_handshakes(board):
    return scrape(board).get("xvmd_http_tls_handshakes_failed_total")


def test_curl_trusts_the_board_with_its_ca_and_not_without(board):
    r = curl(board, "--cacert", board.cacert, "-w", "\n%{http_code} %{scheme}")
    assert r.returncode == 0, r.stderr
    assert r.stdout.rstrip().endswith("200 HTTPS"), r.stdout[-200:]
    assert '"cpus"' in r.stdout
    # The system's CAs do not know the board's: curl's "peer certificate
    # cannot be authenticated".
    r = curl(board)
    assert r.returncode == 60, (r.returncode, r.stderr)


def test_the_certificate_names_the_board_and_tls_is_recent(board):
    with board.connect() as s:
        cert = s.getpeercert()
        assert s.version() == "TLSv1.3", s.version()
    names = cert["subjectAltName"]
    assert ("IP Address", "127.0.0.1") in names and ("DNS", "localhost") in names, names
    issuer = dict(x[0] for x in cert["issuer"])
    assert issuer["commonName"] == f"xvmd board CA (port {board.port})", issuer
    # A client that offers at most TLS 1.2 is served too.
    ctx = ssl.create_default_context(cafile=board.cacert)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", board.port), timeout=30),
                         server_hostname="127.0.0.1") as s:
        assert s.version() == "TLSv1.2"
        s.sendall(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        assert s.recv(4096).startswith(b"HTTP/1.1 200 ")


def test_plain_http_and_untrusting_clients_fail_and_are_counted(board):
    before = failed_handshakes(board)
    since = board.dom0("date", "+%Y-%m-%d %H:%M:%S").stdout.strip()
    # Plain HTTP to the https port: no answer in cleartext, ever.
    r = curl(board, url=f"http://127.0.0.1:{board.port}/v1/host")
    assert r.returncode != 0 and '"cpus"' not in r.stdout, (r.returncode, r.stdout, r.stderr)
    with socket.create_connection(("127.0.0.1", board.port), timeout=30) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        s.settimeout(15)
        try:
            data = s.recv(4096)
        except ConnectionResetError:
            data = b""
        assert not data.startswith(b"HTTP/"), data
    # A client trusting only the system's CAs gives up in the handshake.
    with pytest.raises(ssl.SSLCertVerificationError):
        ssl.create_default_context().wrap_socket(socket.create_connection(("127.0.0.1", board.port), timeout=30),
                                                 server_hostname="127.0.0.1")
    deadline = time.monotonic() + 30
    while failed_handshakes(board) < before + 3:
        assert time.monotonic() < deadline, (before, failed_handshakes(board))
        time.sleep(1)
    # Logged at most once per 10 s, with how many came since: another
    # plain client every 2 s until the line comes.
    deadline = time.monotonic() + 25
    while True:
        r = board.dom0("journalctl", "-u", "xvmd", "--since", since, "-o", "cat", "--no-pager")
        if re.search(r"\d+ TLS handshake\(s\) failed: clients that spoke plain HTTP", r.stdout):
            break
        assert time.monotonic() < deadline, r.stdout[-2000:]
        curl(board, url=f"http://127.0.0.1:{board.port}/healthz")
        time.sleep(2)
    # Meanwhile, as always, the trusting client is answered.
    assert board.api("GET", "/host")[0] == 200


DIR = "/run/xvmd-tls-test"
SETUP_SH = f"""set -e
rm -rf {DIR}; mkdir -p {DIR}; cd {DIR}
cp /etc/xvmd/tls/cert.pem cert.pem
cp /etc/xvmd/tls/key.pem key.pem; chmod 600 key.pem
cp key.pem open-key.pem; chmod 640 open-key.pem
cp cert.pem cert-as-key.pem; chmod 600 cert-as-key.pem
"""


@pytest.mark.parametrize("args,message", [
    ("--tls-cert cert.pem --tls-key open-key.pem",
     "Refusing to start: the TLS key open-key.pem is accessible by group or other (chmod 600 it)"),
    ("--tls-cert cert.pem --tls-key missing.pem", "Refusing to start: the TLS key missing.pem cannot be opened"),
    ("--tls-cert key.pem --tls-key key.pem", "the TLS certificate key.pem holds no PEM certificate"),
    ("--tls-cert cert.pem --tls-key cert-as-key.pem", "the TLS key cert-as-key.pem holds no PEM private key"),
    ("--tls-cert cert.pem", "--tls-cert and --tls-key go together"),
    ("", "Refusing to start: plain HTTP on an address other hosts reach"),
])
def test_the_agent_refuses_unsafe_starts(board, args, message):
    """Each run by hand in dom0, beside the agent the unit runs (another
    port); the state directory it names is never made."""
    r = board.dom0("sh", "-c", SETUP_SH)
    assert r.returncode == 0, r.stderr
    r = board.dom0("sh", "-c", f"cd {DIR} && timeout 20 /usr/sbin/xvmd --listen 0.0.0.0:18443 "
                   f"--token-file /etc/xvmd/token {args} --state-dir {DIR}/state 2>&1; echo \"exit $?\"; "
                   f"test -e {DIR}/state && echo 'state made' || true")
    out = r.stdout
    assert message in out, out
    assert "exit 1" in out, out
    assert "state made" not in out, out
    board.dom0("rm", "-rf", DIR)
