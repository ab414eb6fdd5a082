"""VMSS-style VMs on real Xen: a VM's firmware instead of a kernel. EDK2's
ArmVirtXen ("uefi") and U-Boot's EFI loader ("uboot-efi") boot the portable
disk image the project builds (guest-images/efi-disk: GPT, an EFI System
Partition with GRUB on the removable path, Debian's kernel) unmodified; in
the guest, xvmd-vmspec-verify (our own take on Linaro's vmspec-verify) checks
what the VM gives it: EFI, a device tree or the agent's ACPI tables, the EFI
RTC, the SBSA UART, the vCPUs.

Each VM boots once per test; the ACPI case types GRUB's hotkey for its
acpi=force entry when the menu shows."""
import re
import secrets
import time
import urllib.parse

import pytest

DISK = "debian-efi-disk"
MENU = "xvmd-efi-disk: grub menu"
PROMPT = "guest:hvc0# "


def efi_spec(name, firmware, **kw):
    spec = {"name": name, "firmware": firmware, "memory_mib": 256,
            "disks": [{"image": DISK, "readonly": True}]}
    spec.update(kw)
    return spec


def wait_for(board, name, pattern, start, timeout):
    """The agent's long poll (GET .../wait): answers as soon as the log
    holds pattern at or after start; returns the offset after the match."""
    q = urllib.parse.urlencode({"pattern": pattern, "from": start, "timeout": timeout})
    status, _, body = board.api("GET", f"/vms/{name}/consoles/pv/wait?{q}", timeout=timeout + 30)
    assert status == 200, (pattern, status, body)
    return body["end"]


def boot(board, name, entry="dt", start=0, timeout=600):
    """Follows one boot of the disk from GRUB's menu to Linux's shell on the
    PV console, choosing the menu's entry ("dt" by waiting, "acpi" by its
    hotkey, typed the moment the menu's line is logged: GRUB counts 3 s);
    returns the log's offset where the shell answered."""
    at = wait_for(board, name, MENU, start, timeout)
    if entry == "acpi":
        board.type_on(name, "pv", "a")
    at = wait_for(board, name, "xvmd-efi-disk: booting ", at, 120)
    chosen, _, _ = board.log(name, "pv", at)
    assert chosen.startswith(entry.encode()), f"GRUB booted {chosen[:10]!r}, not {entry}"
    return wait_for(board, name, PROMPT, at, timeout)


def vmspec_verify(board, name, args=""):
    """Runs xvmd-vmspec-verify in the guest's shell; returns {check: (result,
    why)} and the exit status it printed."""
    _, _, end = board.log(name, "pv")
    board.type_on(name, "pv", f"xvmd-vmspec-verify {args}; echo vmspec-rc=$?\n")
    data = board.wait_log(name, "pv", re.compile(rb"\nvmspec-rc=\d+"), timeout=180, start=end)
    checks = {m[2].decode(): (m[1].decode(), (m[3] or b"").decode())
              for m in re.finditer(rb"^(PASS|FAIL|SKIP) ([A-Z0-9-]+)(?: \((.*)\))?\r?$", data, re.M)}
    rc = int(re.search(rb"\nvmspec-rc=(\d+)", data)[1])
    return checks, rc, data


def leftovers(board, domid, timeout):
    """Waits until dom0 holds nothing of domain domid: its xenstore
    directories, the disk's backend, a loop device on the disk's image
    (dom0's backend lets go of it asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        r = board.dom0("sh", "-c", f"xenstore-exists /local/domain/{domid} && echo domain; "
                       f"xenstore-exists /local/domain/0/backend/vbd/{domid} && echo backend; "
                       f"losetup -a | grep -c /{DISK} || true")
        left = r.stdout.split()
        if left == ["0"]:
            return
        assert time.monotonic() < deadline, f"domain {domid} left {left} in dom0"
        time.sleep(1)


def passed(checks, *names):
    missing = [n for n in names if checks.get(n, ("",))[0] != "PASS"]
    assert not missing, {n: checks.get(n) for n in missing}


@pytest.fixture(scope="module")
def firmware(board):
    status, _, host = board.api("GET", "/host")
    assert status == 200
    return host["firmware"]


def test_the_host_lists_its_firmware(board, firmware):
    assert sorted(firmware) == ["uboot-efi", "uefi"]


def test_edk2_boots_the_disk_with_a_device_tree(board, firmware):
    """EDK2 → GRUB → Linux with the device tree: the guest finds EFI, its
    GPT disk and ESP, the EFI RTC and the SBSA UART; typed input is echoed;
    a reboot from the guest goes through the firmware again; poweroff is
    stopped."""
    name = "uefi-" + secrets.token_hex(3)
    t0 = time.monotonic()
    status, _, vm = board.api("POST", "/vms", efi_spec(name, "uefi", acpi=False))
    assert status == 201 and "error" not in vm, vm
    try:
        assert vm["spec"]["firmware"] == "uefi" and vm["spec"]["kernel"] is None
        at = boot(board, name)
        print(f"\n[{board.flavor}] EDK2 to Linux's shell in {time.monotonic() - t0:.1f} s")
        pv, _, _ = board.log(name, "pv")
        # The firmware's own output came first, then GRUB's, then Linux's.
        assert pv.find(MENU.encode()) < pv.find(b"Booting Linux") < at, pv[:3000]
        checks, rc, out = vmspec_verify(board, name, "--cpus 1")
        passed(checks, "IMAGE-GPT", "IMAGE-ESP", "IMAGE-BOOTAA64", "EFI", "EFI-DTB", "OS-EFI-RTC",
               "OS-SBSA-UART", "EFI-VARIABLES", "CPUS")
        assert checks["EFI-ACPI"][0] == "SKIP", checks
        assert rc == 0, out[-3000:]
        # The vuart is the guest's ttyAMA0, and it answers there too.
        board.type_on(name, "vuart", "echo via-$((6*7))\n")
        board.wait_log(name, "vuart", "via-42")

        # A reboot from the guest: a second boot, through the firmware.
        _, _, end = board.log(name, "pv")
        board.type_on(name, "pv", "reboot\n")
        boot(board, name, start=end)
        body = board.wait_vm(name, lambda b: b["state"] == "running" and b["boot_count"] == 2)
        assert body["last_exit"]["reason"] == "reboot", body
        # Poweroff: stopped, as for any guest; and nothing of its domain is
        # left in dom0: no xenstore keys, no loop device on the image.
        domid = board.api("GET", f"/vms/{name}")[2]["domid"]
        board.type_on(name, "pv", "poweroff\n")
        body = board.wait_vm(name, lambda b: b["state"] == "stopped", timeout=120)
        assert body["last_exit"]["reason"] == "poweroff", body
        leftovers(board, domid, timeout=60)
    finally:
        board.delete_vm(name)


@pytest.mark.parametrize("vcpus", [1, 2])
def test_edk2_with_acpi(board, firmware, vcpus):
    """EDK2 with the agent's ACPI tables and Linux booted with acpi=force:
    the guest finds its processors through the MADT, its timer through the
    GTDT, its SBSA UART through the SPCR and the DSDT; the PV console and
    disk still work (Xen's node of the device tree). The board has 2 CPUs,
    and a VM may have no more vCPUs than its host (exceeds_host); the MADT
    of 1 to 8 vCPUs and more is the unit tests' (test-guest-acpi.c)."""
    name = f"acpi{vcpus}-" + secrets.token_hex(3)
    status, _, vm = board.api("POST", "/vms", efi_spec(name, "uefi", vcpus=vcpus))
    assert status == 201 and "error" not in vm, vm
    try:
        assert vm["spec"]["acpi"] is True
        boot(board, name, entry="acpi")
        checks, rc, out = vmspec_verify(board, name, f"--cpus {vcpus}")
        passed(checks, "IMAGE-GPT", "IMAGE-ESP", "IMAGE-BOOTAA64", "EFI", "EFI-ACPI", "OS-EFI-RTC",
               "OS-SBSA-UART", "EFI-VARIABLES", "CPUS")
        assert rc == 0, out[-3000:]
        pv, _, _ = board.log(name, "pv")
        # Linux took the agent's tables, found the UART through the SPCR,
        # and answers on it (ttyAMA0 from the DSDT's ARMH0011).
        for table in (b"RSDP", b"XSDT", b"FACP", b"DSDT", b"APIC", b"GTDT", b"SPCR"):
            assert re.search(rb"ACPI: " + table + rb" 0x[0-9A-F]+ [0-9A-F]+ \(v\d\d XVMD ", pv), table
        assert b"ACPI: SPCR: console: pl011,mmio32,0x22000000" in pv, pv[:4000]
        assert re.search(rb"Kernel command line: [^\n]*acpi=force", pv), pv[:4000]
        board.type_on(name, "vuart", "echo via-$((6*7))\n")
        board.wait_log(name, "vuart", "via-42")
        # Destroy and delete leave nothing in dom0.
        domid = board.api("GET", f"/vms/{name}")[2]["domid"]
        board.delete_vm(name)
        leftovers(board, domid, timeout=60)
    finally:
        board.delete_vm(name)


def test_uboot_efi_boots_the_same_disk(board, firmware):
    """U-Boot's EFI loader runs the same BOOTAA64.EFI: GRUB, then Linux with
    the device tree U-Boot was given."""
    name = "ubefi-" + secrets.token_hex(3)
    t0 = time.monotonic()
    status, _, vm = board.api("POST", "/vms", efi_spec(name, "uboot-efi"))
    assert status == 201 and "error" not in vm, vm
    try:
        assert vm["spec"]["acpi"] is False
        boot(board, name)
        print(f"\n[{board.flavor}] U-Boot EFI to Linux's shell in {time.monotonic() - t0:.1f} s")
        checks, rc, out = vmspec_verify(board, name, "--cpus 1")
        passed(checks, "IMAGE-GPT", "IMAGE-ESP", "IMAGE-BOOTAA64", "EFI", "EFI-DTB", "OS-SBSA-UART", "CPUS")
        # What U-Boot's EFI does not offer (firmware/README.md): no ACPI,
        # and no RTC among its runtime services.
        assert checks["EFI-ACPI"][0] == "SKIP", checks
        assert [c for c, (r, _) in checks.items() if r == "FAIL"] == ["OS-EFI-RTC"], checks
        assert rc == 1, out[-3000:]
    finally:
        board.delete_vm(name)


def test_firmware_specs_refused_clearly(board):
    for body, code, field in [
            (efi_spec("x", "uefi", kernel="linux-kernel"), "invalid_field", "kernel"),
            (efi_spec("x", "uefi", cmdline="quiet"), "invalid_field", "cmdline"),
            (efi_spec("x", "uboot-efi", acpi=True), "invalid_field", "acpi"),
            (efi_spec("x", "bios"), "invalid_field", "firmware")]:
        status, _, err = board.api("POST", "/vms", body)
        assert (status, err["error"]["code"], err["error"].get("field")) == (400, code, field), err
    assert board.api("GET", "/vms/x")[0] == 404
