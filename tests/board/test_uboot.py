"""The U-Boot guest on real Xen: U-Boot's xenguest_arm64 board is the VM's
kernel, it reads the extlinux.conf, kernel and initramfs from the VM's PV
disk (an image bound to a loop device in dom0, served by xen-blkback) and
boots the Linux guest, whose shell answers on the PV console.

Disk sharing: a writable disk is its image's only user among running VMs;
read-only disks of one image may run side by side."""
import re
import secrets
import time

import pytest

import metrics

IMAGE = "linux-disk"
IMAGE_PATH = "/var/lib/xvmd/images/" + IMAGE
XVDA = 51712   # (202 << 8) | (0 << 4): the first disk


def uboot_vm(name, readonly=False, **kw):
    body = {"name": name, "kernel": "uboot-xenguest", "memory_mib": 256,
            "disks": [{"image": IMAGE, "readonly": readonly}]}
    body.update(kw)
    return body


def create(board, body):
    status, _, vm = board.api("POST", "/vms", body)
    assert status == 201 and "error" not in vm, vm
    return vm


def dom0(board, *cmd):
    """board.dom0, tried again when SSH cannot reach dom0 (exit 255): on a
    loaded host, dom0 busy serving two booting guests' disks has answered
    SSH's connect after its 10 s timeout."""
    for _ in range(3):
        r = board.dom0(*cmd)
        if r.returncode != 255:
            break
        time.sleep(5)
    return r


def loops_on_image(board):
    """dom0's loop devices bound to the disk image (losetup -a)."""
    r = dom0(board, "losetup", "-a")
    assert r.returncode == 0, r.stderr
    return [line.split(":")[0] for line in r.stdout.splitlines() if IMAGE_PATH in line]


def xs_exists(board, path):
    r = dom0(board, "sh", "-c", f"xenstore-exists {path} && echo yes || echo no")
    return r.stdout.strip() == "yes"


def xs_read(board, path):
    r = dom0(board, "xenstore-read", path)
    assert r.returncode == 0, (path, r.stderr)
    return r.stdout.strip()


def wait_gone(board, domid, timeout=60):
    """Waits until dom0 has no vbd backend for domid and no loop device on
    the image; the kernel backend lets go of the loop device asynchronously."""
    deadline = time.monotonic() + timeout
    while True:
        backend = xs_exists(board, f"/local/domain/0/backend/vbd/{domid}")
        loops = loops_on_image(board)
        if not backend and not loops:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"after {timeout} s: backend keys {backend}, loop devices {loops}")
        time.sleep(1)


@pytest.fixture(scope="module")
def uvm(board):
    """One U-Boot VM per board flavour, booted through to Linux's shell."""
    name = "ub-" + secrets.token_hex(3)
    t0 = time.monotonic()
    create(board, uboot_vm(name))
    board.wait_log(name, "pv", " xenguest", timeout=240)     # U-Boot's banner
    t_uboot = time.monotonic() - t0
    board.wait_log(name, "pv", "guest:hvc0# ", timeout=480)   # slow on a loaded host
    print(f"\n[{board.flavor}] U-Boot on the PV console after {t_uboot:.1f} s, "
          f"Linux's shell after {time.monotonic() - t0:.1f} s")
    yield name
    board.delete_vm(name)


def test_uboot_banner_then_linux_from_the_disk(board, uvm):
    status, _, body = board.api("GET", f"/vms/{uvm}")
    assert status == 200 and body["state"] == "running"
    assert body["spec"]["disks"] == [{"image": IMAGE, "readonly": False}]
    assert body["spec"]["ramdisk"] is None
    pv, _, _ = board.log(uvm, "pv")
    # U-Boot's banner, then its boot from the disk's extlinux.conf, then
    # the kernel it loaded, in that order.
    banner = re.search(rb"U-Boot 20\d\d\.\d\d[^\n]*xenguest", pv)
    assert banner, pv[:2000]
    steps = [b"Retrieving file: /boot/extlinux/extlinux.conf", b"Retrieving file: /boot/Image",
             b"Starting kernel ...", b"Booting Linux", b"xvmd-guest: ready on hvc0"]
    at = banner.end()
    for s in steps:
        i = pv.find(s, at)
        assert i >= 0, f"{s!r} missing after offset {at}: {pv[at:at + 600]!r}"
        at = i
    # The kernel messages came from the kernel the disk holds: the command
    # line is the extlinux.conf's, not the VM spec's (empty).
    assert b"hostname=xvmd-uboot" in pv


def test_disk_backend_and_loop_device_in_dom0(board, uvm):
    domid = board.api("GET", f"/vms/{uvm}")[2]["domid"]
    be = f"/local/domain/0/backend/vbd/{domid}/{XVDA}"
    fe = f"/local/domain/{domid}/device/vbd/{XVDA}"
    loops = loops_on_image(board)
    assert len(loops) == 1, loops
    r = dom0(board, "stat", "-c", "%t:%T", loops[0])   # major:minor in hex
    assert r.returncode == 0, r.stderr
    assert xs_read(board, f"{be}/physical-device") == r.stdout.strip()
    assert xs_read(board, f"{be}/params") == IMAGE_PATH
    assert xs_read(board, f"{be}/mode") == "w"
    assert xs_read(board, f"{be}/type") == "phy"
    assert xs_read(board, f"{be}/frontend") == fe
    assert xs_read(board, f"{fe}/backend") == be
    assert xs_read(board, f"{fe}/virtual-device") == str(XVDA)
    # xen-blkback took the device: it published the disk's size.
    sizes = {i["name"]: i["size"] for i in board.api("GET", "/images")[2]["images"]}
    assert int(xs_read(board, f"{be}/sectors")) * 512 == sizes[IMAGE]
    # What it counted for the disk, as the metrics show it: the backend's
    # own counts (read just after the scrape: the idle guest reads little).
    s = metrics.scrape(board)
    labels = {"vm": uvm, "disk": "xvda", "image": IMAGE}
    stats = f"/sys/bus/xen-backend/devices/vbd-{domid}-{XVDA}/statistics"
    r = dom0(board, "cat", f"{stats}/rd_sect", f"{stats}/rd_req", f"{stats}/wr_sect")
    rd_sect, rd_req, wr_sect = map(int, r.stdout.split())
    read = s.get("xvmd_vm_disk_read_bytes_total", **labels)
    assert read <= rd_sect * 512 < read + 1024 * 1024, (read, rd_sect)
    assert s.get("xvmd_vm_disk_reads_total", **labels) <= rd_req
    assert s.get("xvmd_vm_disk_written_bytes_total", **labels) <= wr_sect * 512


def test_input_is_echoed_by_the_linux_from_the_disk(board, uvm):
    _, _, end = board.log(uvm, "pv")
    tag = secrets.token_hex(4)
    status, _, body = board.api("POST", f"/vms/{uvm}/consoles/pv/input", f"echo D-{tag}-$((6*7))\n".encode())
    assert status == 204, body
    board.wait_log(uvm, "pv", f"D-{tag}-42", timeout=60, start=end)


def test_a_second_vm_cannot_open_the_image_while_it_is_written(board, uvm):
    _, _, before = board.api("GET", "/vms")
    for readonly in (False, True):
        status, _, err = board.api("POST", "/vms", uboot_vm("ub2-" + secrets.token_hex(2), readonly=readonly))
        assert status == 409, err
        assert err["error"]["code"] == "image_in_use" and err["error"]["field"] == "disks[0].image", err
        assert uvm in err["error"]["message"]
    assert board.api("GET", "/vms")[2] == before
    assert len(loops_on_image(board)) == 1


def test_agent_restart_then_guest_poweroff_leave_nothing(board, uvm):
    _, _, before = board.api("GET", f"/vms/{uvm}")
    domid = before["domid"]
    # A restarted agent finds the VM (its disk still served) and still
    # knows the image is taken.
    assert dom0(board, "systemctl", "restart", "xvmd").returncode == 0
    status, _, after = board.api("GET", f"/vms/{uvm}")
    assert status == 200 and after["state"] == "running" and after["domid"] == domid
    status, _, err = board.api("POST", "/vms", uboot_vm("ub3-" + secrets.token_hex(2)))
    assert status == 409 and err["error"]["code"] == "image_in_use", err

    # The guest powers off: the agent tears the VM down on its own.
    status, _, body = board.api("POST", f"/vms/{uvm}/consoles/pv/input", b"poweroff\n")
    assert status == 204, body
    board.wait_vm(uvm, lambda b: b["state"] == "stopped", timeout=180)
    wait_gone(board, domid)
    assert not xs_exists(board, f"/local/domain/{domid}")
    status, _, _ = board.api("DELETE", f"/vms/{uvm}")
    assert status == 204


def test_read_only_disks_share_an_image_and_destroy_leaves_nothing(board):
    names = ["ro-a-" + secrets.token_hex(2), "ro-b-" + secrets.token_hex(2)]
    domids = []
    try:
        for n in names:
            domids.append(create(board, uboot_vm(n, readonly=True))["domid"])
        # Both boot Linux from the one image. (dom0 is left alone until
        # then: U-Boot polls its disk without ever idling, and two of them
        # loading kernels starve a 2-CPU board's dom0 for a while.)
        for n in names:
            board.wait_log(n, "pv", "guest:hvc0# ", timeout=480)
        assert len(loops_on_image(board)) == 2
        for d in domids:
            assert xs_read(board, f"/local/domain/0/backend/vbd/{d}/{XVDA}/mode") == "r"
        # A writer must wait for both.
        status, _, err = board.api("POST", "/vms", uboot_vm("ub4-" + secrets.token_hex(2)))
        assert status == 409 and err["error"]["code"] == "image_in_use", err
    finally:
        for n in names:
            board.delete_vm(n)      # destroy, then delete
    for d in domids:
        wait_gone(board, d)
        assert not xs_exists(board, f"/local/domain/{d}")


BAD_DISKS = [
    ({"disks": [{"image": "no-such-image"}]}, 422, "unknown_image", "disks[0].image"),
    ({"disks": [{"image": IMAGE}, {"image": "nope"}]}, 422, "unknown_image", "disks[1].image"),
    ({"disks": [{"image": "../images/" + IMAGE}]}, 400, "invalid_name", "disks[0].image"),
    ({"disks": [{"image": IMAGE, "readonly": "no"}]}, 400, "invalid_field", "disks[0].readonly"),
    ({"disks": [{"image": IMAGE, "mode": "w"}]}, 400, "unknown_field", "disks[0]"),
    ({"disks": [{"image": IMAGE}, {"image": IMAGE}]}, 400, "invalid_field", "disks[1].image"),
    ({"disks": [{"image": IMAGE}] * 9}, 400, "out_of_range", "disks"),
    ({"disks": IMAGE}, 400, "invalid_field", "disks"),
]


@pytest.mark.parametrize("extra,status,code,field", BAD_DISKS,
                         ids=[b[2] + "-" + str(i) for i, b in enumerate(BAD_DISKS)])
def test_bad_disks_change_nothing(board, extra, status, code, field):
    _, _, before = board.api("GET", "/vms")
    body = dict(uboot_vm("x"), **extra)
    got, _, err = board.api("POST", "/vms", body)
    assert got == status, err
    assert err["error"]["code"] == code and err["error"].get("field") == field, err
    assert board.api("GET", "/vms")[2] == before
    assert loops_on_image(board) == []
