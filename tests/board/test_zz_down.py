"""Last of a flavour's tests: the board goes down cleanly."""
import os
import subprocess

from conftest import board_cmd, pid_alive, save_dom0_journal


def test_down_leaves_no_qemu(board):
    save_dom0_journal(board)
    pid = board.qemu_pid()
    assert pid and pid_alive(pid)
    r = board_cmd("down", port=board.port, timeout=180)
    assert r.returncode == 0, r.stderr
    assert not pid_alive(pid)
    # Powered off from dom0, not killed: Xen's last words are in the log.
    with open(os.path.join(board.state, "serial.log"), errors="replace") as f:
        assert "reboot: Power down" in f.read()
    r = subprocess.run(["pgrep", "-f", f"hostfwd=tcp:127.0.0.1:{board.port}-"],
                       capture_output=True)
    assert r.returncode == 1
    assert board_cmd("status", port=board.port).returncode == 1
