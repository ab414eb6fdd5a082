"""What an orchestrator relies on, on real Xen: PUT /v1/vms/{name} makes a VM
once however often it is retried, refuses another spec, and If-Match with
the VM's ETag keeps a stale or retried request from acting on another VM of
the same name."""
import secrets

import pytest

import tiny


def put(board, name, spec, **kw):
    return board.api("PUT", f"/vms/{name}", spec, **kw)


def test_put_twice_is_one_vm(board):
    name = f"put-{secrets.token_hex(3)}"
    spec = tiny.spec(name, "idle")
    try:
        status, h1, first = put(board, name, spec)
        assert status == 201, first
        assert first["state"] == "running" and first["boot_count"] == 1 and first["generation"] == 1, first
        # The retry: the same VM, as it is; nothing started again.
        del spec["name"]  # the path names it
        status, h2, again = put(board, name, spec)
        assert status == 200, again
        assert again["spec"]["uuid"] == first["spec"]["uuid"] and again["boot_count"] == 1, again
        assert h2["ETag"] == h1["ETag"] == f'"{first["spec"]["uuid"]}-1"'
        status, _, body = board.api("GET", "/vms")
        assert [v["name"] for v in body["vms"]].count(name) == 1
        # Spelled out with its defaults, it is the same spec still.
        status, _, _ = put(board, name, {**spec, "vcpus": 1, "consoles": ["pv", "vuart"], "start": False})
        assert status == 200
        # Another spec is refused and changes nothing.
        status, _, body = put(board, name, {**spec, "memory_mib": 64})
        assert status == 409 and body["error"]["code"] == "spec_conflict", body
        status, _, body = put(board, name, {**spec, "name": "another"})
        assert status == 400 and body["error"]["field"] == "name", body
        status, _, body = put(board, name, {**spec, "kernel": "no-such-image"})
        assert status == 409 and body["error"]["code"] == "spec_conflict", body
        assert board.api("GET", f"/vms/{name}")[2]["spec"] == first["spec"]
    finally:
        board.delete_vm(name)


@pytest.mark.one_flavour
def test_bad_put_of_a_new_vm_changes_nothing(board):
    name = f"put-bad-{secrets.token_hex(3)}"
    for spec, status, code in (({"kernel": "no-such-image"}, 422, "unknown_image"),
                               ({"kernel": "tiny-guest", "memory_mib": 8}, 400, "out_of_range"),
                               ({"kernel": "tiny-guest", "colour": "red"}, 400, "unknown_field")):
        got, _, body = put(board, name, spec)
        assert got == status and body["error"]["code"] == code, (spec, body)
    # If-Match on a VM that is not there never holds.
    got, _, body = put(board, name, tiny.spec(name, "idle"), headers={"If-Match": "*"})
    assert got == 412 and body["error"]["code"] == "precondition_failed", body
    assert board.api("GET", f"/vms/{name}")[0] == 404


def test_if_match_guards_a_vm_made_again(board):
    name = f"etag-{secrets.token_hex(3)}"
    try:
        status, headers, first = put(board, name, tiny.spec(name, "idle"))
        assert status == 201, first
        old = headers["ETag"]
        status, _, _ = board.api("POST", f"/vms/{name}/destroy", headers={"If-Match": old})
        assert status == 200
        status, _, _ = board.api("DELETE", f"/vms/{name}", headers={"If-Match": old})
        assert status == 204
        # Made again under the same name: another VM, another ETag.
        status, headers, second = put(board, name, tiny.spec(name, "idle"))
        assert status == 201 and headers["ETag"] != old, (headers, second)
        # A stale request refused, whatever route of the VM it takes.
        for method, path in (("POST", f"/vms/{name}/destroy"), ("DELETE", f"/vms/{name}"),
                             ("GET", f"/vms/{name}")):
            status, _, body = board.api(method, path, headers={"If-Match": old})
            assert status == 412 and body["error"]["code"] == "precondition_failed", (method, body)
        status, _, body = put(board, name, tiny.spec(name, "idle"), headers={"If-Match": old})
        assert status == 412, body
        assert board.api("GET", f"/vms/{name}")[2]["state"] == "running"
        # Its own ETag, in a list or as *, holds.
        status, _, _ = board.api("POST", f"/vms/{name}/destroy", headers={"If-Match": f'{old}, {headers["ETag"]}'})
        assert status == 200
        status, _, _ = board.api("DELETE", f"/vms/{name}", headers={"If-Match": "*"})
        assert status == 204
    finally:
        board.delete_vm(name)
