"""The agent's state outlives the board: dom0 keeps it on the board's state
disk (build/board/PORT/state.img), so `board down` then `board up` on the
same port (without --fresh) comes back with the VMs, their logs and the
image store. One reboot of the board, so it runs last before
test_zz_down.py; the board it leaves up is the fixture's (same port, same
token)."""
import hashlib
import os
import secrets
import shutil
import subprocess
import time

from conftest import board_cmd, save_dom0_journal

SHIPPED = ("linux-kernel", "linux-initramfs", "uboot-xenguest", "linux-disk", "tiny-guest")


def images(board):
    status, _, body = board.api("GET", "/images")
    assert status == 200, body
    return {i["name"]: i for i in body["images"]}


def quiet_logs(board, vm, consoles=("pv", "vuart"), still=5, timeout=120):
    """Waits until no console of vm has logged anything for `still` seconds."""
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while True:
        status, _, body = board.api("GET", f"/vms/{vm}")
        assert status == 200, body
        ends = tuple(body["consoles"][c]["log_end"] for c in consoles)
        if ends != last:
            last, since = ends, time.monotonic()
        elif time.monotonic() - since >= still:
            return
        assert time.monotonic() < deadline, f"{vm}'s consoles never went quiet"
        time.sleep(1)


def e2fsck():
    return shutil.which("e2fsck") or "/sbin/e2fsck"


def test_state_outlives_down_and_up(board):
    disk = os.path.join(board.state, "state.img")
    r = board.dom0("sh", "-c", "grep ' /var/lib/xvmd ' /proc/mounts")
    assert r.returncode == 0 and " ext4 " in r.stdout, (r.stdout, r.stderr)

    # A VM that booted and wrote to its console, and an upload of our own.
    name = f"persist-{secrets.token_hex(3)}"
    marker = f"persist-marker-{secrets.token_hex(4)}"
    board.create_linux(name)
    # And one with a PV disk, whose loop device (on the state disk) must not
    # keep the disk busy when dom0 powers off.
    ub = f"persist-ub-{secrets.token_hex(3)}"
    status, _, body = board.api("POST", "/vms", {"name": ub, "kernel": "uboot-xenguest", "memory_mib": 256,
                                                 "disks": [{"image": "linux-disk"}]})
    assert status == 201, body
    # And a tiny one that starts by itself after the host's boot.
    auto = f"persist-auto-{secrets.token_hex(3)}"
    status, _, body = board.api("POST", "/vms", {"name": auto, "kernel": "tiny-guest", "memory_mib": 32,
                                                 "cmdline": "mode=idle", "autostart": True})
    assert status == 201, body
    img = f"persist-img-{secrets.token_hex(3)}"
    data = os.urandom(64 * 1024 + 3)
    digest = hashlib.sha256(data).hexdigest()
    try:
        board.wait_prompts(name)
        board.wait_log(ub, "pv", board.PROMPTS["pv"])
        status, _, _ = board.api("POST", f"/vms/{name}/consoles/pv/input", f"echo {marker}\n".encode())
        assert status == 204
        board.wait_log(name, "pv", marker + "\r\n", timeout=120)
        status, _, body = board.api("PUT", f"/images/{img}", body=data,
                                    headers={"Content-Type": "application/octet-stream"})
        assert status == 201 and body["sha256"] == digest, body

        quiet_logs(board, name)
        status, ids, before = board.api("GET", f"/vms/{name}")
        assert status == 200 and before["state"] == "running", before
        logs = {c: board.whole_log(name, c, before["consoles"][c]["log_start"]) for c in ("pv", "vuart")}
        assert marker.encode() in logs["pv"]
        have = images(board)
        assert all(i in have for i in SHIPPED), sorted(have)

        # Down, with the VMs still running: dom0 powers off and unmounts the
        # disk cleanly, so the host finds a consistent file system.
        save_dom0_journal(board)
        r = board_cmd("down", port=board.port, timeout=180)
        assert r.returncode == 0, r.stderr
        assert board.qemu_pid() is None
        r = subprocess.run([e2fsck(), "-fn", disk], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
        st = os.stat(disk)
        assert st.st_blocks * 512 < st.st_size // 4, "the state disk is not sparse"

        r = board_cmd("up", "--flavor", board.flavor, port=board.port)
        assert r.returncode == 0, r.stdout + r.stderr
        with open(os.path.join(board.state, "token")) as f:
            assert f.read().strip() == board.token, "a plain up made a new token"
        board.up_output = r.stdout

        # The VM is there as it was, stopped: its domain went with the host.
        status, _, after = board.api("GET", f"/vms/{name}")
        assert status == 200, after
        assert after["spec"] == before["spec"]
        assert after["boot_count"] == before["boot_count"]
        assert after["state"] == "stopped" and after["domid"] is None, after
        assert after["exit_reason"] == "host_reboot", after
        boots = board.api("GET", f"/vms/{name}/consoles/pv/boots")[2]["boots"]
        assert boots[-1]["ended"] == "host_reboot", boots
        # The autostart VM runs again, in a new boot.
        body = board.wait_vm(auto, lambda v: v["state"] == "running", timeout=60)
        assert body["boot_count"] == 2 and body["exit_reason"] == "host_reboot", body
        assert (body["last_exit"]["reason"], body["last_exit"]["boot"]) == ("host_reboot", 1), body
        # Answers say the host booted again, and carry its new boot id.
        _, ids_after, _ = board.api("GET", "/host")
        r = board.dom0("cat", "/proc/sys/kernel/random/boot_id")
        assert ids_after["X-Xvmd-Boot-Id"] == r.stdout.strip().replace("-", "")
        assert ids_after["X-Xvmd-Boot-Id"] != ids["X-Xvmd-Boot-Id"]
        assert ids_after["X-Xvmd-Instance-Id"] != ids["X-Xvmd-Instance-Id"]
        for c in ("pv", "vuart"):
            assert after["consoles"][c]["log_start"] == before["consoles"][c]["log_start"]
            assert after["consoles"][c]["log_end"] == before["consoles"][c]["log_end"], (c, before, after)
            assert board.whole_log(name, c, after["consoles"][c]["log_start"]) == logs[c], c

        status, _, body = board.api("GET", f"/vms/{ub}")
        assert status == 200 and body["state"] == "stopped", body

        # The image store: the upload with its digest, and the shipped ones.
        now = images(board)
        assert now[img]["sha256"] == digest and now[img]["size"] == len(data), now[img]
        for i in SHIPPED:
            assert now[i]["sha256"] == have[i]["sha256"], (i, have[i], now[i])
        r = board.dom0("sha256sum", f"/var/lib/xvmd/images/{img}")
        assert r.stdout.split()[0] == digest
    finally:
        board.delete_vm(name)
        board.delete_vm(ub)
        board.delete_vm(auto)
        board.api("DELETE", f"/images/{img}")

