"""The efi-disk guest image (guest-images/efi-disk/build), checked on the host
without the board: the build's own --check (GPT, ESP, BOOTAA64.EFI a PE/COFF
AArch64 image, the root's kernel and initramfs, read by debugfs and by GRUB's
own file system code), the partition table again from sfdisk's JSON, the
GRUB menu the tests drive, and the disk half of the in-guest check
(guest-images/linux/rootfs/usr/bin/xvmd-vmspec-verify) run by Debian's
busybox for the host on the disk file: what the guest's busybox runs on
/dev/xvda."""
import glob
import json
import os
import re
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.environ.get("XVMD_CACHE") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "xvmd")
VERIFY = os.path.join(ROOT, "guest-images", "linux", "rootfs", "usr", "bin", "xvmd-vmspec-verify")
ESP_TYPE = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"


@pytest.fixture(scope="module")
def image():
    out = subprocess.run([os.path.join(ROOT, "guest-images", "efi-disk", "build"), "--check"],
                         check=True, stdout=subprocess.PIPE, text=True).stdout.strip()
    return out


@pytest.fixture(scope="module")
def busybox(tmp_path_factory):
    """A folder of busybox applet links (Debian's busybox-static for the
    host's architecture, unpacked, not installed), as the guest has."""
    arch = subprocess.run(["dpkg", "--print-architecture"], check=True,
                          stdout=subprocess.PIPE, text=True).stdout.strip()
    debs = os.path.join(CACHE, "debs")
    os.makedirs(debs, exist_ok=True)
    found = glob.glob(os.path.join(debs, f"busybox-static_*_{arch}.deb"))
    if not found:
        subprocess.run(["apt-get", "download", "-q", f"busybox-static:{arch}"], cwd=debs,
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        found = glob.glob(os.path.join(debs, f"busybox-static_*_{arch}.deb"))
    d = tmp_path_factory.mktemp("busybox")
    tar = subprocess.run(["dpkg-deb", "--fsys-tarfile", sorted(found)[-1]],
                         check=True, stdout=subprocess.PIPE).stdout
    subprocess.run(["tar", "-x", "-C", str(d), "./bin/busybox"], input=tar, check=True)
    bindir = d / "applets"
    bindir.mkdir()
    subprocess.run([str(d / "bin" / "busybox"), "--install", "-s", str(bindir)], check=True)
    return str(bindir)


def verify(busybox, disk, checks):
    env = {"PATH": busybox}
    return subprocess.run([os.path.join(busybox, "sh"), VERIFY, "--disk", disk, "--checks", checks],
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_partitions(image):
    table = json.loads(subprocess.run(["sfdisk", "--json", os.path.join(image, "disk.img")],
                                      check=True, stdout=subprocess.PIPE, text=True).stdout)["partitiontable"]
    assert table["label"] == "gpt"
    parts = table["partitions"]
    assert [p["type"] for p in parts] == [ESP_TYPE, "B921B045-1DF0-41C3-AF44-4C6F280D3FAE"]
    assert parts[0]["start"] == 2048 and parts[0]["size"] * 512 >= 32 << 20
    assert parts[1]["start"] == parts[0]["start"] + parts[0]["size"]


def test_reproducible_names(image):
    """The GUIDs and ids are fixed (what GRUB's early config searches)."""
    dump = subprocess.run(["sfdisk", "--dump", os.path.join(image, "disk.img")],
                          check=True, stdout=subprocess.PIPE, text=True).stdout
    assert "label-id: 78766D64-EFD1-4000-8000-000000000000" in dump
    assert "uuid=78766D64-EFD1-4000-8000-000000000001" in dump


def test_menu(image):
    """What a test drives on the console: the marker before the menu, the two
    entries and their hotkeys, both with the Linux guest's consoles."""
    with open(os.path.join(image, "grub.cfg")) as f:
        cfg = f.read()
    assert 'echo "xvmd-efi-disk: grub menu' in cfg
    assert re.search(r"^set timeout=3$", cfg, re.M)
    entries = re.findall(r'^menuentry "([^"]+)" --id=(\w+) --hotkey=(\w)', cfg, re.M)
    assert [(e[1], e[2]) for e in entries] == [("dt", "d"), ("acpi", "a")]
    lines = re.findall(r"^\s*linux /boot/vmlinuz (.*)$", cfg, re.M)
    assert lines == ["console=hvc0 console=ttyAMA0", "console=hvc0 console=ttyAMA0 acpi=force"]


def test_verify_disk_checks_pass(image, busybox):
    r = verify(busybox, os.path.join(image, "disk.img"), "IMAGE-GPT,IMAGE-ESP")
    assert r.returncode == 0, r.stdout
    assert r.stdout.splitlines() == ["PASS IMAGE-GPT", "PASS IMAGE-ESP",
                                     "xvmd-vmspec-verify: 2 passed, 0 failed, 0 skipped"]


def test_verify_fails_without_gpt(busybox, tmp_path):
    disk = tmp_path / "mbr.img"
    with open(disk, "wb") as f:
        f.truncate(8 << 20)
    subprocess.run(["sfdisk", "-q", str(disk)], input="label: dos\nstart=2048, type=83\n",
                   text=True, check=True, stdout=subprocess.DEVNULL)
    r = verify(busybox, str(disk), "IMAGE-GPT,IMAGE-ESP")
    assert r.returncode == 1, r.stdout
    assert r.stdout.startswith('FAIL IMAGE-GPT (no "EFI PART" at LBA 1 of ')
    assert "xvmd-vmspec-verify: 0 passed, 2 failed, 0 skipped" in r.stdout


def test_verify_fails_without_esp(busybox, tmp_path):
    disk = tmp_path / "gpt.img"
    with open(disk, "wb") as f:
        f.truncate(8 << 20)
    subprocess.run(["sfdisk", "-q", str(disk)],
                   input="label: gpt\nstart=2048, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n",
                   text=True, check=True, stdout=subprocess.DEVNULL)
    r = verify(busybox, str(disk), "IMAGE-GPT,IMAGE-ESP")
    assert r.returncode == 1, r.stdout
    assert r.stdout.splitlines()[:2] == ["PASS IMAGE-GPT",
                                         "FAIL IMAGE-ESP (no GPT entry of 128 has the ESP type)"]


def test_verify_usage(busybox):
    r = subprocess.run([os.path.join(busybox, "sh"), VERIFY, "--bogus"], env={"PATH": busybox},
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert r.returncode == 2 and "usage" in r.stdout
