"""The image store through the API on the board: uploads streamed to dom0's
disk with their SHA-256, replace and delete rules while VMs use an image, and
bad uploads that leave the store as it was."""
import hashlib
import http.client
import os
import secrets
import subprocess

import pytest

from conftest import ROOT, recv_answer
from contract import contract
from eventstream import Stream

GUEST = {"ramdisk": "linux-initramfs", "cmdline": "console=hvc0 console=ttyAMA0", "memory_mib": 128}


def images(board):
    status, _, body = board.api("GET", "/images")
    assert status == 200, body
    return {i["name"]: i for i in body["images"]}


def store_listing(board):
    """Every file in dom0's image folder, hidden ones included."""
    r = board.dom0("ls", "-A", "/var/lib/xvmd/images")
    assert r.returncode == 0, r.stderr
    return sorted(r.stdout.split())


def put(board, name, data, query="", headers=None):
    return board.api("PUT", f"/images/{name}{query}", body=data,
                     headers={"Content-Type": "application/octet-stream", **(headers or {})}, timeout=300)


def put_chunked(board, name, chunks):
    """PUT with Transfer-Encoding: chunked (no Content-Length)."""
    c = http.client.HTTPSConnection("127.0.0.1", board.port, timeout=120, context=board.ssl)
    c.putrequest("PUT", f"/v1/images/{name}")
    c.putheader("Authorization", f"Bearer {board.token}")
    c.putheader("Transfer-Encoding", "chunked")
    c.endheaders()
    for chunk in chunks:
        c.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
    c.send(b"0\r\n\r\n")
    r = c.getresponse()
    body = r.read()
    c.close()
    contract().check_response("PUT", f"/v1/images/{name}", r.status, r.getheaders(), body)
    return r.status, body


def test_board_images_carry_their_digest(board):
    have = images(board)
    for name in ("linux-kernel", "linux-initramfs"):
        assert name in have, have
        assert len(have[name]["sha256"]) == 64
        assert have[name]["size"] > 0


def test_upload_replace_delete(board):
    name = "up-" + secrets.token_hex(3)
    data = os.urandom(3 * 1024 * 1024 + 17)
    digest = hashlib.sha256(data).hexdigest()
    events = Stream(board)

    status, _, body = put(board, name, data)
    assert status == 201, body
    assert body["name"] == name and body["size"] == len(data) and body["sha256"] == digest
    assert images(board)[name]["sha256"] == digest
    r = board.dom0("sha256sum", f"/var/lib/xvmd/images/{name}")
    assert r.stdout.split()[0] == digest

    # Replacing answers 200; the digest follows the new bytes.
    status, _, body = put(board, name, b"second version\n", query=f"?sha256={hashlib.sha256(b'second version').hexdigest()}")
    assert status == 422 and body["error"]["code"] == "digest_mismatch", body
    assert images(board)[name]["sha256"] == digest, "a refused upload changed the image"
    good = hashlib.sha256(b"second version\n").hexdigest()
    status, _, body = put(board, name, b"second version\n", query=f"?sha256={good}")
    assert status == 200 and body["sha256"] == good and body["size"] == 15, body

    status, _, _ = board.api("DELETE", f"/images/{name}")
    assert status == 204
    assert name not in images(board)
    status, _, body = board.api("DELETE", f"/images/{name}")
    assert status == 404 and body["error"]["code"] == "image_not_found", body
    assert not [f for f in store_listing(board) if name in f], store_listing(board)

    # The event stream told each change: made, replaced (the refused one is
    # no change), removed.
    seen = events.until(lambda e: e["type"] == "image_removed" and e.get("image") == name)
    events.close()
    mine = [(e["type"], e.get("sha256"), e.get("replaced")) for e in seen if e.get("image") == name]
    assert mine == [("image_added", digest, False), ("image_added", good, True), ("image_removed", None, None)], mine


def test_chunked_upload(board):
    name = "chunked-" + secrets.token_hex(3)
    chunks = [os.urandom(n) for n in (1, 4096, 100000, 7)]
    status, body = put_chunked(board, name, chunks)
    assert status == 201, body
    assert images(board)[name]["sha256"] == hashlib.sha256(b"".join(chunks)).hexdigest()
    assert board.api("DELETE", f"/images/{name}")[0] == 204


def test_interrupted_upload_leaves_nothing(board):
    name = "cut-" + secrets.token_hex(3)
    before = store_listing(board)
    s = board.connect()
    s.sendall((f"PUT /v1/images/{name} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {board.token}\r\n"
               f"Content-Length: 10000000\r\n\r\n").encode() + os.urandom(500000))
    s.close()
    # The agent notices the cut; nothing of it may stay.
    assert name not in images(board)
    assert store_listing(board) == before


@pytest.mark.parametrize("path,status,code", [
    ("/images/.hidden", 400, "invalid_name"),
    ("/images/" + "x" * 65, 400, "invalid_name"),
    ("/images/..", 400, "invalid_name"),
    ("/images/a%2F..%2F..%2Fetc", 404, "not_found"),
    ("/images/ok?sha256=NOTHEX", 400, "invalid_field"),
])
def test_bad_uploads_are_refused(board, path, status, code):
    before = store_listing(board)
    st, _, body = board.api("PUT", path, body=b"data")
    assert (st, body["error"]["code"]) == (status, code), body
    assert store_listing(board) == before


def test_oversized_upload_is_refused_before_the_body(board):
    before = store_listing(board)
    s = board.connect()
    s.sendall((f"PUT /v1/images/big HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {board.token}\r\n"
               f"Content-Length: {2 * 1024 ** 3}\r\n\r\n").encode())
    raw = recv_answer(s)
    s.close()
    contract().check_raw("PUT", "/v1/images/big", raw)
    answer = raw.decode(errors="replace")
    assert answer.startswith("HTTP/1.1 413"), answer
    assert "payload_too_large" in answer
    assert store_listing(board) == before


def test_upload_needs_the_token(board):
    st, _, body = board.api("PUT", "/images/x", body=b"data", token=None)
    assert st == 401, body
    assert "x" not in images(board)


def guest_kernel_path():
    out = subprocess.run([os.path.join(ROOT, "guest-images", "linux", "build")], capture_output=True,
                         text=True, check=True, stdin=subprocess.DEVNULL)
    return os.path.join(out.stdout.strip().splitlines()[-1], "Image")


def test_uploaded_kernel_boots_and_is_protected_while_used(board):
    """A user's flow: upload a kernel, boot a VM from it; while the VM exists
    the image can be neither replaced nor deleted."""
    name = "my-kernel-" + secrets.token_hex(3)
    vm = "img-" + secrets.token_hex(3)
    with open(guest_kernel_path(), "rb") as f:
        kernel = f.read()
    status, _, body = put(board, name, kernel)
    assert status == 201, body

    status, _, body = board.api("POST", "/vms", dict(GUEST, name=vm, kernel=name))
    assert status == 201, body
    try:
        board.wait_log(vm, "vuart", "guest:ttyAMA0# ")
        assert images(board)[name]["used_by"] == [vm]
        status, _, body = put(board, name, b"not a kernel")
        assert status == 409 and body["error"]["code"] == "image_in_use", body
        status, _, body = board.api("DELETE", f"/images/{name}")
        assert status == 409 and vm in body["error"]["message"], body
        assert images(board)[name]["sha256"] == hashlib.sha256(kernel).hexdigest()
    finally:
        board.api("POST", f"/vms/{vm}/destroy")
        assert board.api("DELETE", f"/vms/{vm}")[0] == 204
    assert board.api("DELETE", f"/images/{name}")[0] == 204
