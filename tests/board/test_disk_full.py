"""A full state file system on real Xen is a clear state, not corruption: a
new VM is refused with 507 and leaves nothing behind, a guest's console
output waits in its ring instead of being lost, a state change that cannot
be saved says so, and once space returns everything catches up by itself,
without a restart. The agent runs here on a small tmpfs of its own (a drop-in
gives it --state-dir), which a file fills up."""
import secrets
import time

import tiny

DIR = "/run/xvmd-full"
DROP_IN = "/run/systemd/system/xvmd.service.d/zz-test-full.conf"


def journal(board):
    return board.dom0("journalctl", "-u", "xvmd", "-b", "-o", "cat", "--no-pager").stdout


def restart(board):
    for cmd in (("systemctl", "daemon-reload"), ("systemctl", "restart", "xvmd")):
        r = board.dom0(*cmd)
        assert r.returncode == 0, r.stderr
    deadline = time.monotonic() + 60
    while board.api("GET", "/vms", timeout=10)[0] != 200:
        assert time.monotonic() < deadline
        time.sleep(1)


def fill(board):
    board.dom0("dd", "if=/dev/zero", f"of={DIR}/filler", "bs=65536")
    r = board.dom0("stat", "-f", "-c", "%a", DIR)
    assert r.stdout.strip() == "0", r.stdout


def test_a_full_disk_is_refused_clearly_and_recovered_from(board):
    conf = ("[Service]\nExecStart=\nExecStart=/usr/sbin/xvmd --listen 0.0.0.0:8080 --token-file /etc/xvmd/token "
            f"{board.AGENT_TLS} --state-dir {DIR}\n")
    r = board.dom0("sh", "-c", f"mkdir -p {DIR} && mount -t tmpfs -o size=16m,mode=0700 xvmd-full {DIR} && "
                   f"mkdir -m 0700 {DIR}/images && cp /var/lib/xvmd/images/tiny-guest "
                   f"/var/lib/xvmd/images/.tiny-guest.sha256 {DIR}/images/ && "
                   f"mkdir -p {DROP_IN.rsplit('/', 1)[0]} && printf '%s' '{conf}' > {DROP_IN}")
    assert r.returncode == 0, r.stderr
    try:
        restart(board)
        with tiny.vm(board, "full", "echo", log_max_bytes=64 * 1024) as vm:
            fill(board)
            # A new VM: 507, naming the limit, and nothing of it kept.
            name = f"nospace-{secrets.token_hex(2)}"
            status, _, err = board.api("POST", "/vms", tiny.spec(name, "idle"))
            assert status == 507 and err["error"]["code"] == "insufficient_storage", err
            assert "state file system is full" in err["error"]["message"]
            assert board.api("GET", f"/vms/{name}")[0] == 404
            assert board.dom0("test", "-e", f"{DIR}/vms/{name}").returncode != 0
            # What the guest writes meanwhile waits in its ring (what fits
            # in the last page the log has is stored): 16 KiB echoed, whose
            # end does not reach the log; the API goes on answering.
            _, _, end = board.log(vm, "pv")
            tag = secrets.token_hex(3)
            text = b"".join(b"%s-%05d-" % (tag.encode(), i) for i in range(16384 // 14))
            text += b"END-" + tag.encode()
            assert len(text) <= 16384
            assert board.api("POST", f"/vms/{vm}/consoles/pv/input", text)[0] == 204
            time.sleep(5)
            assert b"END-" + tag.encode() not in board.log(vm, "pv", start=end)[0]
            assert board.api("GET", f"/vms/{vm}")[2]["state"] == "running"
            assert f"The console log of {vm}/pv takes no more output" in journal(board)
            # Space comes back: the whole echo is logged, once and in order;
            # a VM can be made.
            assert board.dom0("rm", f"{DIR}/filler").returncode == 0
            data = board.wait_log(vm, "pv", b"END-" + tag.encode(), timeout=30, start=end)
            assert data == text, (len(data), len(text))
            assert f"The console log of {vm}/pv takes output again." in journal(board)
            status, _, body = board.api("POST", "/vms", tiny.spec(name, "idle", start=False))
            assert status == 201, body
            assert board.api("DELETE", f"/vms/{name}")[0] == 204

            # A change that cannot be saved stands, and is saved later.
            fill(board)
            status, _, err = board.api("POST", f"/vms/{vm}/destroy")
            assert status == 500 and err["error"]["code"] == "state_not_saved", err
            assert board.api("GET", f"/vms/{vm}")[2]["state"] == "stopped"
            assert board.dom0("rm", f"{DIR}/filler").returncode == 0
            deadline = time.monotonic() + 30
            while f"VM {vm}: its state is saved again." not in journal(board):
                assert time.monotonic() < deadline, journal(board)[-1500:]
                time.sleep(1)
            r = board.dom0("cat", f"{DIR}/vms/{vm}/run.json")
            assert '"stopped"' in r.stdout, r.stdout
    finally:
        board.dom0("rm", "-f", DROP_IN)
        restart(board)
        board.dom0("umount", DIR)
