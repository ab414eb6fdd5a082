"""The agent dies or is away while guests run, on real Xen: a kill -9 in the
middle of floods loses no byte and stores none twice; domains that power off,
crash or reboot while the agent is down are handled when it comes back as if
it had been up; a running domain of one of its VMs that run.json does not
name is adopted; an
autostart VM starts when the agent first starts after a host boot."""
import datetime
import time

import tiny

AGENT_UP_TIMEOUT = 90


def journal(board):
    r = board.dom0("journalctl", "-u", "xvmd", "-b", "-o", "cat", "--no-pager")
    assert r.returncode == 0, r.stderr
    return r.stdout


def kill9(board):
    r = board.dom0("systemctl", "kill", "--signal=KILL", "xvmd")
    assert r.returncode == 0, r.stderr
    time.sleep(1)
    board.wait_agent(AGENT_UP_TIMEOUT)


def xl_list(board):
    """Domain names xl lists (dom0's own left out)."""
    r = board.dom0("xl", "list")
    assert r.returncode == 0, r.stderr
    return [line.split()[0] for line in r.stdout.splitlines()[2:]]


def test_kill9_during_floods_loses_and_repeats_nothing(board):
    n = 2 * 1024 * 1024
    big = 64 * 1024 * 1024
    with tiny.vm(board, "kill-a", "flood", console="both", bytes=n, log_max_bytes=big) as a, \
            tiny.vm(board, "kill-b", "flood", console="both", bytes=n, log_max_bytes=big) as b:
        restarts = journal(board).count("Started xvmd")
        # Twice, while all four consoles are mid-flood.
        for fraction in (0.25, 0.6):
            for vm in (a, b):
                board.wait_vm(vm, lambda v: v["consoles"]["vuart"]["log_end"] >= n * fraction, timeout=900)
            kill9(board)
        whole = n + 1024 + len(tiny.flood_done(n))  # the banner is shorter than 1 KiB
        for vm in (a, b):
            for console in ("pv", "vuart"):
                board.wait_vm(vm, lambda v: v["consoles"][console]["log_end"] >= n, timeout=900)
                board.wait_log(vm, console, tiny.flood_done(n).strip(), timeout=120, start=n - 4096)
        assert whole > n
        for vm in (a, b):
            for console in ("pv", "vuart"):
                tiny.check_flood(board.whole_log(vm, console), n)
        log = journal(board)
        assert log.count("Started xvmd") >= restarts + 2, "systemd did not restart the agent twice"
        assert "may be logged twice" not in log, [x for x in log.splitlines() if "twice" in x]


def test_deaths_while_the_agent_is_down_are_handled_when_it_returns(board):
    delay = 20
    with tiny.vm(board, "off", "poweroff", delay=delay) as off, \
            tiny.vm(board, "crash", "crash", delay=delay) as crash, \
            tiny.vm(board, "reboot", "reboot", delay=delay) as reboot:
        status, ids, before = board.api("GET", f"/vms/{reboot}")
        # dom0's clock (the bundled board's is not the host's).
        t_stop = float(board.dom0("date", "+%s").stdout)
        r = board.dom0("systemctl", "stop", "xvmd")
        assert r.returncode == 0, r.stderr
        try:
            # All three end while nobody serves them (their domains stay,
            # shut down, for a toolstack to see).
            time.sleep(delay + 5)
        finally:
            r = board.dom0("systemctl", "start", "xvmd")
            assert r.returncode == 0, r.stderr
        board.wait_agent(AGENT_UP_TIMEOUT)
        body = board.api("GET", f"/vms/{off}")[2]
        assert body["state"] == "stopped" and body["exit_reason"] == "poweroff", body
        _, ids_after, body = board.api("GET", f"/vms/{crash}")
        assert body["state"] == "crashed" and body["exit_reason"] == "crash", body
        # A new agent on the same host: the answers say so.
        assert ids_after["X-Xvmd-Instance-Id"] != ids["X-Xvmd-Instance-Id"]
        assert ids_after["X-Xvmd-Boot-Id"] == ids["X-Xvmd-Boot-Id"]
        # Its last exit, seen when the agent returned: the first boot, a crash.
        last = body["last_exit"]
        assert (last["reason"], last["boot"]) == ("crash", 1), last
        when = datetime.datetime.fromisoformat(last["time"].replace("Z", "+00:00")).timestamp()
        assert t_stop - 2 <= when <= float(board.dom0("date", "+%s").stdout) + 2, (last, t_stop)
        body = board.wait_vm(reboot, lambda v: v["state"] == "running" and v["boot_count"] == before["boot_count"] + 1)
        assert body["exit_reason"] == "reboot"
        # Their last words were read before their domains went.
        for vm, word in ((off, b"tiny: poweroff"), (crash, b"tiny: crash"), (reboot, b"tiny: reboot")):
            assert word in board.log(vm, "pv")[0], vm
        boots = board.api("GET", f"/vms/{reboot}/consoles/pv/boots")[2]["boots"]
        assert [b["ended"] for b in boots] == ["reboot", "running"], boots
        # Nothing left behind: no domain of theirs but the rebooted one's.
        names = xl_list(board)
        assert off not in names and crash not in names, names
        assert names.count(reboot) == 1, names


def test_a_running_domain_the_agent_did_not_record_is_adopted(board):
    """What an agent killed between building a domain and saving its domid
    leaves: a domain with the VM's uuid that run.json does not name. Made
    here by stopping the agent and taking the domid out of run.json. It
    runs, so it is adopted (a build cut short, still paused, would be
    destroyed): one domain, served as before."""
    with tiny.vm(board, "owner", "echo") as owner:
        domid = board.api("GET", f"/vms/{owner}")[2]["domid"]
        run = f"/var/lib/xvmd/vms/{owner}/run.json"
        r = board.dom0("sh", "-c", f"systemctl stop xvmd && sed -i 's/\"domid\": *[0-9]*/\"domid\": 0/' {run} && "
                       f"grep -q '\"domid\": 0' {run} && systemctl start xvmd")
        assert r.returncode == 0, r.stdout + r.stderr
        board.wait_agent(AGENT_UP_TIMEOUT)
        assert f"Domain {domid} ({owner}) is VM {owner}'s, which had not recorded it" in journal(board)
        body = board.api("GET", f"/vms/{owner}")[2]
        assert body["state"] == "running" and body["domid"] == domid, body
        assert body["consoles"]["pv"]["state"] == "connected", body
        assert xl_list(board).count(owner) == 1
        _, _, end = board.log(owner, "pv")
        assert board.api("POST", f"/vms/{owner}/consoles/pv/input", b"adopted-echo")[0] == 204
        board.wait_log(owner, "pv", "adopted-echo", timeout=60, start=end)


def test_autostart_after_a_host_boot(board):
    """A host boot as the agent sees it: a boot id other than the one it
    saved. (The whole board's reboot is test_zy_persist's.)"""
    with tiny.vm(board, "auto", "idle", autostart=True) as auto, tiny.vm(board, "manual", "idle") as manual:
        assert board.api("GET", f"/vms/{auto}")[2]["spec"]["autostart"] is True
        for vm in (auto, manual):
            board.api("POST", f"/vms/{vm}/destroy")
        # An agent restart alone starts nothing.
        assert board.dom0("systemctl", "restart", "xvmd").returncode == 0
        board.wait_agent(AGENT_UP_TIMEOUT)
        assert board.api("GET", f"/vms/{auto}")[2]["state"] == "stopped"
        # After a "host boot", the autostart VM starts, the other does not.
        r = board.dom0("sh", "-c", "systemctl stop xvmd && rm /var/lib/xvmd/host.json && systemctl start xvmd")
        assert r.returncode == 0, r.stderr
        board.wait_agent(AGENT_UP_TIMEOUT)
        body = board.wait_vm(auto, lambda v: v["state"] == "running", timeout=60)
        assert body["boot_count"] == 2
        assert board.api("GET", f"/vms/{manual}")[2]["state"] == "stopped"
        assert f"VM {auto}: started (autostart after the host's boot)." in journal(board)


def test_a_log_whose_index_is_lost_says_so(board):
    """A log whose time index cannot be opened (here: a directory where the
    file should be) still serves its bytes by offset; since and until are a
    503 naming the field, not an answer that ignored them. (The agent has
    been restarted often in this module: systemd's start limit is reset.)"""
    with tiny.vm(board, "noidx", "echo") as vm:
        r = board.dom0("sh", "-c", f"i=$(find /var/lib/xvmd/vms/{vm} -path '*pv*' -name index -type f) && "
                                   f"[ -n \"$i\" ] && systemctl stop xvmd && rm \"$i\" && mkdir \"$i\" && "
                                   f"systemctl reset-failed xvmd && systemctl start xvmd && echo \"$i\"")
        assert r.returncode == 0, (r.stdout, r.stderr)
        index = r.stdout.strip()
        try:
            board.wait_agent(AGENT_UP_TIMEOUT)
            log, _, _ = board.log(vm, "pv")
            assert tiny.banner("pv", "echo") in log
            for q in ("since=-1h", "until=-1s"):
                status, _, body = board.api("GET", f"/vms/{vm}/consoles/pv/log?{q}")
                assert status == 503 and body["error"]["code"] == "time_index_unavailable", (q, status, body)
                assert body["error"]["field"] == q.split("=")[0], body
            # The other console's index is there: it answers.
            status, _, body = board.api("GET", f"/vms/{vm}/consoles/vuart/log?since=-1h")
            assert status == 200 and tiny.banner("vuart", "echo") in body, (status, body)
        finally:
            r = board.dom0("sh", "-c", f"systemctl stop xvmd; rmdir '{index}'; systemctl reset-failed xvmd; "
                                   f"systemctl start xvmd")
            assert r.returncode == 0, r.stderr
            board.wait_agent(AGENT_UP_TIMEOUT)
