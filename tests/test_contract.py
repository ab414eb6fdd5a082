"""The contract check of the board tests (tests/board/contract.py), on
answers made up here: good ones pass, and each kind of mismatch fails,
including a good answer held against a deliberately wrong document, so the
check cannot pass vacuously. No board needed."""
import copy
import json
import os
import re
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "board"))
import contract as contract_mod  # noqa: E402

# What every answer carries (x-every-answer-headers); Checked adds them to
# each answer below that does not name them.
IDS = {"X-Xvmd-Instance-Id": "0123456789abcdef0123456789abcdef", "X-Xvmd-Boot-Id": "fedcba9876543210fedcba9876543210"}
ETAG = '"0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9-1"'
JSON = {"Content-Type": "application/json"}
VM = {
    "name": "g1", "state": "running", "domid": 3, "boot_count": 1, "generation": 1, "exit_reason": "reboot",
    "last_exit": {"reason": "reboot", "time": "2026-12-01T09:50:17.123Z", "boot": 1},
    "spec": {"name": "g1", "uuid": "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9", "vcpus": 1, "memory_mib": 128,
             "firmware": None, "acpi": False, "kernel": "linux-kernel", "ramdisk": None, "cmdline": "", "consoles": ["pv", "vuart"], "disks": [],
             "nics": [{"network": "default", "mac": "00:16:3e:12:34:56", "address": "169.254.1.2"}],
             "log_max_bytes": 16777216, "autostart": False},
    "consoles": {"pv": {"state": "connected", "log_start": 4, "log_end": 10, "log_bytes": 6, "log_max_bytes": 16777216, "log_removed": 4,
                        "connected": True},
                 "vuart": {"state": "corrupt", "problem": "out ring", "log_start": 0, "log_end": 0, "log_bytes": 0, "log_max_bytes": 16777216, "log_removed": 0,
                           "connected": True}},
    "nics": [{"network": "default", "mac": "00:16:3e:12:34:56", "address": "169.254.1.2", "vif": "vif3.0", "connected": True,
              "lease": {"address": "169.254.1.2", "expires": 1796118000}, "rx_bytes": 1200, "rx_packets": 12,
              "tx_bytes": 800, "tx_packets": 8}],
}
ERROR = {"error": {"code": "vm_not_found", "message": "there is no VM named x", "field": "name"}}


class Checked(contract_mod.Contract):
    def check_response(self, method, path, status, headers, body, complete=True):
        pairs = list(headers.items() if hasattr(headers, "items") else headers)
        names = {k.lower() for k, _ in pairs}
        pairs += [(k, v) for k, v in IDS.items() if k.lower() not in names]
        # A VM's own answers carry its ETag.
        if re.fullmatch(r"/v1/vms/[^/]+(/[a-z]+)?", path) and 200 <= status <= 202 and "etag" not in names:
            pairs.append(("ETag", ETAG))
        return super().check_response(method, path, status, pairs, body, complete)


@pytest.fixture(scope="module")
def c():
    return Checked()


def body(obj):
    return json.dumps(obj).encode()


def test_good_answers_pass(c):
    c.check_response("GET", "/v1/vms/g1", 200, JSON, body(VM))
    c.check_response("GET", "/v1/vms", 200, JSON, body({"vms": [VM]}))
    c.check_response("POST", "/v1/vms/g1/shutdown", 202, JSON, body(VM))
    c.check_response("GET", "/v1/vms/x", 404, JSON, body(ERROR))
    c.check_response("DELETE", "/v1/vms/g1", 204, {}, b"")
    c.check_response("GET", "/v1/vms/g1/consoles/pv/log?from=3", 200,
                     {"Content-Type": "application/octet-stream", "X-Xvmd-Log-Start": "3", "X-Xvmd-Log-End": "9"},
                     b"abcdef")
    c.check_response("GET", "/v1/vms/g1/consoles/pv/log?from=0", 200,
                     {"Content-Type": "application/octet-stream", "X-Xvmd-Log-Start": "4", "X-Xvmd-Log-End": "10",
                      "X-Xvmd-Log-Skipped": "4"}, b"abcdef")
    c.check_response("GET", "/v1/host", 401,
                     {"Content-Type": "application/json", "WWW-Authenticate": 'Bearer realm="xvmd"'},
                     body({"error": {"code": "unauthorized", "message": "no"}}))
    c.check_response("GET", "/healthz", 200, {"Content-Type": "application/json"}, body({"status": "ok"}))
    # Outside every operation: 404, or 405 with Allow.
    c.check_response("GET", "/nope", 404, JSON, body({"error": {"code": "not_found", "message": "x"}}))
    c.check_response("POST", "/healthz", 405, {**JSON, "Allow": "GET, HEAD"},
                     body({"error": {"code": "method_not_allowed", "message": "x"}}))
    c.check_response("GET", "/v1/no-such-thing", 401, {**JSON, "WWW-Authenticate": 'Bearer realm="xvmd"'},
                     body({"error": {"code": "unauthorized", "message": "x"}}))
    c.check_ws_message({"type": "vm", "state": "running", "boot_count": 2})
    c.check_ws_message({"type": "presence", "viewers": 2, "writer": None})


@pytest.mark.parametrize("method,path,status,headers,payload,why", [
    ("GET", "/v1/vms/g1", 418, JSON, VM, "status not documented"),
    ("GET", "/v1/vms/g1", 200, JSON, {**VM, "extra": 1}, "Additional properties"),
    ("GET", "/v1/vms/g1", 200, JSON, {**VM, "state": "dancing"}, "is not one of"),
    ("GET", "/v1/vms/g1", 200, {"Content-Type": "text/plain"}, VM, "Content-Type text/plain not documented"),
    ("GET", "/v1/vms/g1", 200, {}, VM, "no Content-Type"),
    ("DELETE", "/v1/vms/g1", 204, {}, {"unexpected": True}, "a body where the document has none"),
    ("GET", "/v1/vms/x", 404, JSON, {"error": {"message": "no code"}}, "'code' is a required property"),
    ("GET", "/v1/host", 401, JSON, {"error": {"code": "unauthorized", "message": "no"}},
     "required header WWW-Authenticate missing"),
    ("GET", "/v1/vms/g1/consoles/pv/log", 200, {"Content-Type": "application/octet-stream"}, b"x",
     "required header X-Xvmd-Log-Start missing"),
    ("GET", "/v1/vms/g1/consoles/pv/log", 200,
     {"Content-Type": "application/octet-stream", "X-Xvmd-Log-Start": "-1"}, b"x", "does not match"),
    ("GET", "/v1/vms", 200, {**JSON, "X-Xvmd-Log-Start": "0"}, {"vms": []}, "is not documented"),
    ("GET", "/nope", 200, JSON, {"status": "ok"}, "no operation"),
    ("GET", "/nope", 401, JSON, {"error": {"code": "unauthorized", "message": "x"}}, "no operation"),
    ("GET", "/v1/nope", 401, JSON, {"error": {"code": "unauthorized", "message": "x"}},
     "required header WWW-Authenticate missing"),
    ("POST", "/healthz", 405, JSON, {"error": {"code": "method_not_allowed", "message": "x"}}, "without Allow"),
    ("GET", "/healthz", 200, {**JSON, "X-Xvmd-Instance-Id": "not-hex"}, {"status": "ok"}, "does not match"),
    ("GET", "/v1/vms/g1", 200, {**JSON, "ETag": "W/\"weak\""}, VM, "does not match"),
    ("GET", "/v1/vms", 200, {**JSON, "ETag": ETAG}, {"vms": []}, "is not documented"),
    ("GET", "/v1/vms/g1", 200, JSON, {**VM, "last_exit": {"reason": "reboot", "time": None}}, "'boot' is a required"),
])
def test_mismatches_fail(c, method, path, status, headers, payload, why):
    raw = payload if isinstance(payload, bytes) else body(payload)
    with pytest.raises(contract_mod.ContractError, match=why):
        c.check_response(method, path, status, headers, raw)


def test_bad_ws_messages_fail(c):
    for bad in ({"type": "vm", "state": "running"}, {"type": "hello"}, {"type": "nope"},
                {"type": "sync", "offset": -1}, {"type": "error", "code": "no_lease", "message": "x", "more": 1}):
        with pytest.raises(contract_mod.ContractError):
            c.check_ws_message(bad)


T = "2026-12-01T09:50:17.123Z"
GOOD_EVENTS = [
    {"seq": 1, "time": T, "type": "agent_started", "instance_id": IDS["X-Xvmd-Instance-Id"], "boot_id": None},
    {"seq": 2, "time": T, "type": "vm_created", "vm": "g1", "state": "stopped", "generation": 1},
    {"seq": 3, "time": T, "type": "vm_started", "vm": "g1", "state": "running", "boot": 1},
    {"seq": 4, "time": T, "type": "vm_rebooted", "vm": "g1", "state": "stopped", "boot": 2},
    {"seq": 5, "time": T, "type": "vm_crashed", "vm": "g1", "state": "crashed", "boot": 2, "reason": "watchdog"},
    {"seq": 6, "time": T, "type": "console_lease", "vm": "g1", "console": "pv", "event": "stolen", "viewer": 3},
    {"seq": 7, "time": T, "type": "log_removed", "vm": "g1", "console": "vuart", "bytes": 4096, "log_start": 4096,
     "reason": "budget"},
    {"seq": 8, "time": T, "type": "image_added", "image": "k", "size": 3, "sha256": "0" * 64, "replaced": False},
    {"seq": 9, "time": T, "type": "vm_deleted", "vm": "g1"},
    {"type": "reset", "time": T, "since": 1, "next": 5},
    {"type": "lagged", "time": T, "since": 9, "oldest": 4200},
]


def test_events(c):
    for e in GOOD_EVENTS:
        c.check_event(e)
    for bad in ({"seq": 1, "time": T, "type": "vm_started", "vm": "g1", "state": "running"},  # no boot
                {"seq": 1, "time": T, "type": "vm_deleted", "vm": "g1", "more": 1},
                {"seq": 1, "time": T, "type": "agent_started", "vm": "g1", "instance_id": "0" * 32, "boot_id": None},
                {"seq": 0, "time": T, "type": "vm_deleted", "vm": "g1"},
                {"seq": 1, "time": T, "type": "vm_exploded", "vm": "g1"},
                {"type": "reset", "time": T, "since": 1}):
        with pytest.raises(contract_mod.ContractError):
            c.check_event(bad)


def test_a_wrong_document_fails_a_good_answer(c):
    wrong = copy.deepcopy(c.spec)
    wrong["components"]["schemas"]["Vm"]["properties"]["boot_count"] = {"type": "string"}
    with pytest.raises(contract_mod.ContractError, match="boot_count"):
        Checked(wrong).check_response("GET", "/v1/vms/g1", 200, JSON, body(VM))
    wrong = copy.deepcopy(c.spec)
    del wrong["paths"]["/v1/vms/{name}"]["delete"]["responses"]["204"]
    with pytest.raises(contract_mod.ContractError, match="status not documented"):
        Checked(wrong).check_response("DELETE", "/v1/vms/g1", 204, {}, b"")
    # Without the instance id that every answer carries.
    with pytest.raises(contract_mod.ContractError, match="every answer carries"):
        contract_mod.Contract().check_response("GET", "/healthz", 200, JSON, body({"status": "ok"}))


def test_raw_answers(c):
    answer = (b"HTTP/1.1 426 Upgrade Required\r\nContent-Type: application/json\r\nUpgrade: websocket\r\n"
              b"Sec-WebSocket-Version: 13\r\nContent-Length: 53\r\n\r\n"
              b'{"error":{"code":"upgrade_required","message":"v13"}}')
    assert c.check_raw("GET", "/v1/vms/g1/consoles/pv/ws", answer) == 426
    with pytest.raises(contract_mod.ContractError, match="not documented"):
        c.check_raw("GET", "/v1/vms/g1/consoles/pv/ws", answer.replace(b"Upgrade Required", b"X").replace(
            b"HTTP/1.1 426", b"HTTP/1.1 402"))
    # Cut short: the headers are still checked, the body is not.
    assert c.check_raw("GET", "/v1/vms/g1/consoles/pv/ws", answer[:-10]) == 426
