"""The agent's unit runs sandboxed (issue 15; agent/xvmd.service.in): systemd's
own rating of it (`systemd-analyze security xvmd`, run in dom0) is printed,
and what the sandbox promises is read back from the running agent and its
dnsmasq children in /proc. Everything else the board tests check runs under
the same unit, so they are the proof that the agent still does its work in
it."""
import re

EXPOSURE_MAX = 4.0   # systemd's scale: 0 (locked down) to 10 (unprotected)

# The capabilities the unit keeps (CapabilityBoundingSet, linux/capability.h).
CAPS = {"CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_FOWNER": 3, "CAP_KILL": 5, "CAP_SETGID": 6,
        "CAP_SETUID": 7, "CAP_NET_BIND_SERVICE": 10, "CAP_NET_ADMIN": 12, "CAP_NET_RAW": 13,
        "CAP_SYS_ADMIN": 21}


def dom0_out(board, *cmd):
    r = board.dom0(*cmd)
    assert r.returncode == 0, (cmd, r.stderr)
    return r.stdout


def status_of(board, pid):
    return dict(line.split(":\t", 1) for line in dom0_out(board, "cat", f"/proc/{pid}/status").splitlines()
                if ":\t" in line)


def test_exposure_is_printed_and_low(board, capsys):
    out = dom0_out(board, "systemd-analyze", "security", "--no-pager", "xvmd.service")
    m = re.search(r"Overall exposure level for xvmd\.service: ([0-9.]+) (\S+)", out)
    assert m, out[-2000:]
    with capsys.disabled():
        print(f"\n[{board.flavor}] systemd-analyze security xvmd.service: exposure {m.group(1)} {m.group(2)}")
    assert float(m.group(1)) <= EXPOSURE_MAX, out


def test_the_running_agent_is_confined(board):
    pid = dom0_out(board, "systemctl", "show", "-P", "MainPID", "xvmd").strip()
    assert pid and pid != "0"
    st = status_of(board, pid)
    assert st["NoNewPrivs"].strip() == "1"
    assert st["Seccomp"].strip() == "2"            # a filter
    want = sum(1 << bit for bit in CAPS.values())
    assert int(st["CapBnd"], 16) == want, (st["CapBnd"], hex(want))
    # its root is mounted read-only; its state directory is not
    mounts = dom0_out(board, "cat", f"/proc/{pid}/mountinfo").splitlines()
    opts = {fields[4]: fields[5].split(",") for fields in (m.split() for m in mounts)}
    assert "ro" in opts["/"], opts["/"]
    assert "rw" in opts["/var/lib/xvmd"], opts.get("/var/lib/xvmd")
    assert "rw" in opts["/run/xvmd"], opts.get("/run/xvmd")
    assert "ro" in opts["/proc/sys"] and "rw" in opts["/proc/sys/net/ipv6/conf"]
    # dnsmasq (the default network's) is its child, in the same sandbox
    children = dom0_out(board, "sh", "-c", f"cat /proc/{pid}/task/*/children").split()
    dnsmasq = [c for c in children
               if dom0_out(board, "cat", f"/proc/{c}/comm").strip() == "dnsmasq"]
    assert dnsmasq, children
    ds = status_of(board, dnsmasq[0])
    assert ds["NoNewPrivs"].strip() == "1" and ds["Seccomp"].strip() == "2"
    assert int(ds["CapBnd"], 16) & ~want == 0
    assert "xvmd.service" in dom0_out(board, "cat", f"/proc/{dnsmasq[0]}/cgroup")
