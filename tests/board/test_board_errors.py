"""The board command fails clearly and never hangs."""
import os
import subprocess

from conftest import BOARD, PORT_BASE, board_cmd


def run(*args, timeout=60):
    return subprocess.run([BOARD, *args], capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def test_bad_flavor_and_port_are_refused():
    r = run("up", "--flavor", "nope")
    assert r.returncode != 0 and "bad --flavor" in r.stderr
    r = run("up", "--port", "99999")
    assert r.returncode != 0 and "bad --port" in r.stderr
    r = run("frobnicate")
    assert r.returncode != 0


def test_commands_on_a_board_that_is_not_running():
    port = PORT_BASE + 50
    for args in (("env",), ("dom0", "true"), ("status",)):
        r = board_cmd(*args, port=port)
        assert r.returncode != 0
        assert "no board" in (r.stderr + r.stdout)
    assert board_cmd("down", port=port).returncode == 0


def test_boot_that_does_not_answer_in_time_fails_with_the_serial_log():
    port = PORT_BASE + 60
    r = board_cmd("up", "--flavor", "stock", "--timeout", "3", port=port, timeout=900)
    assert r.returncode != 0
    assert "did not answer within 3 s" in r.stderr
    assert "last lines of" in r.stderr and "serial.log" in r.stderr
    state = os.path.join(os.path.dirname(BOARD), "..", "build", "board", str(port))
    assert not os.path.exists(os.path.join(state, "qemu.pid"))
    r = subprocess.run(["pgrep", "-f", f"hostfwd=tcp:127.0.0.1:{port}-"], capture_output=True)
    assert r.returncode == 1, "QEMU left running"
