"""Guests nobody trusts, next to a normal one, on real Xen: the tiny guest
(guest-images/tiny) floods both consoles, moves its PV ring's index without
end, breaks its ring's indexes, or reboots in a loop. The normal VM's echo
and the API keep answering throughout; each hostile VM's state says what
happened; its log is bounded and kept."""
import secrets
import time

import tiny


def echo_round_trip(board, vm, console, timeout=60):
    """Types a fresh word on the console of an echo-mode tiny guest and
    waits until the log holds it back."""
    _, _, end = board.log(vm, console)
    word = f"ping-{secrets.token_hex(4)}"
    status, _, body = board.api("POST", f"/vms/{vm}/consoles/{console}/input", word.encode())
    assert status == 204, body
    board.wait_log(vm, console, word, timeout=timeout, start=end)


def test_floods_and_a_spinning_ring_do_not_hold_the_host(board):
    budget = 1024 * 1024
    with tiny.vm(board, "calm", "echo") as calm, \
            tiny.vm(board, "flood", "flood", console="both", bytes="64m", log_max_bytes=budget) as flood, \
            tiny.vm(board, "spin", "spin", log_max_bytes=budget) as spin:
        # While both write as fast as they can, the calm guest's echo on
        # both consoles and the API answer, again and again.
        for _ in range(5):
            for console in ("pv", "vuart"):
                echo_round_trip(board, calm, console)
            status, _, body = board.api("GET", "/vms")
            assert status == 200
            states = {v["name"]: v["state"] for v in body["vms"]}
            assert states[calm] == states[flood] == states[spin] == "running"
        # The spinning guest's endless stream went to its log, which its
        # budget bounds, and nothing of it was silent.
        c = board.wait_vm(spin, lambda b: b["consoles"]["pv"]["log_removed"] > 0, timeout=300)["consoles"]["pv"]
        assert c["state"] == "connected"
        assert c["log_bytes"] <= budget + budget // 4, c
        assert c["log_removed"] == c["log_start"] and c["log_end"] == c["log_start"] + c["log_bytes"]
        f = board.api("GET", f"/vms/{flood}")[2]["consoles"]
        for console in ("pv", "vuart"):
            assert f[console]["log_bytes"] <= budget + budget // 4, f[console]


def test_a_corrupt_ring_is_shown_and_kept_apart(board):
    with tiny.vm(board, "calm", "echo") as calm, tiny.vm(board, "bad", "corrupt") as bad:
        body = board.wait_vm(bad, lambda b: b["consoles"]["pv"]["state"] == "corrupt", timeout=60)
        pv = body["consoles"]["pv"]
        assert "claims" in pv["problem"] and "ring" in pv["problem"], pv
        assert pv["connected"] is False
        # Its other console and the VM itself are fine; its log keeps what
        # the guest wrote before.
        assert body["state"] == "running" and body["consoles"]["vuart"]["state"] == "connected"
        log, _, _ = board.log(bad, "pv")
        assert tiny.banner("pv", "corrupt") in log
        # Input to it is refused, saying why; its other console takes input.
        status, _, body = board.api("POST", f"/vms/{bad}/consoles/pv/input", b"x")
        assert status == 409 and body["error"]["code"] == "console_corrupt", (status, body)
        assert "claims" in body["error"]["message"], body
        status, _, body = board.api("POST", f"/vms/{bad}/consoles/vuart/input", b"x")
        assert status == 204, (status, body)
        for console in ("pv", "vuart"):
            echo_round_trip(board, calm, console)
        r = board.dom0("journalctl", "-u", "xvmd", "-b", "-o", "cat", "--no-pager")
        assert f"The console of {bad}/pv is corrupt" in r.stdout, r.stdout[-2000:]
        # Destroyed and started again, it is served again (and breaks its
        # ring again, being what it is).
        status, _, body = board.api("POST", f"/vms/{bad}/destroy")
        assert status == 200 and body["consoles"]["pv"]["state"] == "disconnected", body
        status, _, body = board.api("POST", f"/vms/{bad}/start")
        assert status == 200, body
        board.wait_log(bad, "pv", tiny.banner("pv", "corrupt"), start=len(log))
        board.wait_vm(bad, lambda b: b["consoles"]["pv"]["state"] == "corrupt", timeout=60)


def test_a_reboot_loop_is_stopped_as_crashed(board):
    with tiny.vm(board, "calm", "echo") as calm, tiny.vm(board, "loop", "rebootloop", wait_banner=False) as loop:
        body = board.wait_vm(loop, lambda b: b["state"] == "crashed", timeout=120)
        # Five guest reboots within 60 s: the fifth is not followed by a boot.
        assert body["exit_reason"] == "reboot_loop", body
        assert body["boot_count"] == 5, body
        assert body["domid"] is None
        time.sleep(3)
        assert board.api("GET", f"/vms/{loop}")[2]["boot_count"] == 5
        r = board.dom0("journalctl", "-u", "xvmd", "-b", "-o", "cat", "--no-pager")
        assert f"VM {loop} rebooted 5 times within 60 s: stopped as crashed (reboot_loop)" in r.stdout
        # Every boot is in the log, with how it ended.
        status, _, boots = board.api("GET", f"/vms/{loop}/consoles/pv/boots")
        assert status == 200
        assert [b["boot"] for b in boots["boots"]] == [1, 2, 3, 4, 5], boots
        assert [b["ended"] for b in boots["boots"]] == ["reboot"] * 4 + ["reboot_loop"], boots
        log, _, _ = board.log(loop, "pv")
        assert log.count(tiny.banner("pv", "rebootloop")) == 5
        for console in ("pv", "vuart"):
            echo_round_trip(board, calm, console)
        # It may be started again once fixed (here: it loops again).
        status, _, body = board.api("POST", f"/vms/{loop}/start")
        assert status == 200, body
        body = board.wait_vm(loop, lambda b: b["state"] == "crashed" and b["boot_count"] == 10, timeout=120)
        assert body["exit_reason"] == "reboot_loop"
