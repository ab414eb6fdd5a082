"""A console log's budget on real Xen: a guest floods 32 MiB into a console
whose log may hold 4 MiB (on the bundled board; on the stock one, where a
flood moves at half the speed, 12 MiB with the same checks, to keep CI
short). The oldest bytes go, whole segments at a time; what stays is
exactly the guest's last bytes; the VM's JSON counts what went; a reader, a
viewer or (on the bundled board) a follower left behind by the removal is
told; the journal says so; and the disk holds no more than the budget. (The
tiny guest floods: a Linux guest's flood of the same size took minutes more
of the board's time.)"""
import http.client
import json
import socket
import threading
import time

import websocket

import metrics
import tiny
from contract import contract
from eventstream import Stream

SIZES = {"bundled": 32 * 1024 * 1024, "stock": 12 * 1024 * 1024}
BUDGET = 4 * 1024 * 1024


class LaggingFollower:
    """A follower from offset 0 that reads 4 KiB every 0.1 s (some 40 KiB/s,
    far slower than a flood, yet never idle long enough to be timed out):
    the budget removes bytes it has not read yet, and its stream ends. The
    agent sees that end only once the bytes it sent before are read (the
    sockets' and QEMU's buffers hold megabytes: at 40 KiB/s minutes), so
    once the flood is over the follower reads as fast as it can."""

    def __init__(self, board, vm):
        self.got, self.error, self.cut = bytearray(), None, False
        self.hurry = threading.Event()
        self.conn = http.client.HTTPSConnection("127.0.0.1", board.port, timeout=120, context=board.ssl)
        self.conn.connect()
        self.conn.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        self.conn.request("GET", f"/v1/vms/{vm}/consoles/pv/log?follow=1&from=0",
                          headers={"Authorization": f"Bearer {board.token}"})
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        try:
            resp = self.conn.getresponse()
            assert resp.status == 200, resp.status
            while chunk := resp.read(65536 if self.hurry.is_set() else 4096):
                self.got += chunk
                if not self.hurry.is_set():
                    time.sleep(0.1)
        except http.client.IncompleteRead as e:
            # Seen once on the bundled board over TLS (libmicrohttpd 1.0):
            # the stream was cut inside a chunk instead of ending with its
            # last one. Not understood yet (issue 15's note); the bytes are
            # still checked below, and the cut is printed.
            self.got += e.partial
            self.cut = True
        except Exception as e:  # the test thread reports it
            self.error = e

    def ended(self, timeout):
        self.hurry.set()
        self.thread.join(timeout)
        self.conn.close()
        assert not self.thread.is_alive(), "the lagging follower's stream did not end"
        assert self.error is None, self.error
        if self.cut:
            print(f"\nthe lagging follower's stream was cut off inside a chunk after {len(self.got)} bytes")
        return bytes(self.got)


def test_budget_keeps_the_newest_bytes_and_counts_the_rest(board):
    size = SIZES[board.flavor]
    events = Stream(board)
    with tiny.vm(board, "budget", "flood", console="pv", bytes=size, delay=2, log_max_bytes=BUDGET) as vm:
        # A follower left behind, where the flood is far larger than what
        # the board's network buffers hold: QEMU's user network takes all
        # dom0 sends, so behind 12 MiB a slow reader's cursor in the agent
        # still ran ahead of the budget's removals (seen on the stock board).
        behind = LaggingFollower(board, vm) if size >= SIZES["bundled"] else None
        _, _, body = board.api("GET", f"/vms/{vm}")
        assert body["spec"]["log_max_bytes"] == BUDGET
        assert body["consoles"]["pv"]["log_max_bytes"] == BUDGET
        assert body["consoles"]["vuart"]["log_removed"] == 0
        # Watched through the VM's JSON (reading the log meanwhile would
        # only slow the flood down), then its last bytes.
        board.wait_vm(vm, lambda b: b["consoles"]["pv"]["log_end"] >= size, timeout=900)
        board.wait_log(vm, "pv", tiny.flood_done(size).strip(), timeout=120, start=size - 4096)

        c = board.api("GET", f"/vms/{vm}")[2]["consoles"]["pv"]
        # Nothing silent: what is held and what went add up to every byte.
        assert c["log_removed"] == c["log_start"]
        assert c["log_bytes"] == c["log_end"] - c["log_start"]
        assert c["log_bytes"] <= BUDGET, c
        assert c["log_removed"] >= size - BUDGET, c
        assert c["log_end"] > size

        # What stays is the guest's last bytes, exactly: the flood's tail
        # and its end line.
        held = board.whole_log(vm, "pv", c["log_start"])
        assert len(held) == c["log_bytes"]
        want = tiny.flood_pattern(size) + tiny.flood_done(size)
        assert held == want[-len(held):], "the log does not hold the flood's last bytes"
        assert b"tiny: ready" not in held

        # A reader asking for offset 0 gets the log from its start, and is told.
        status, headers, page = board.api("GET", f"/vms/{vm}/consoles/pv/log?from=0")
        assert status == 200 and page == held[:len(page)]
        assert int(headers["X-Xvmd-Log-Start"]) == c["log_start"]
        assert int(headers["X-Xvmd-Log-Skipped"]) == c["log_start"]
        # A viewer asking for it too, with a `skipped` message.
        ws = websocket.create_connection(f"{board.ws_base}/v1/vms/{vm}/consoles/pv/ws?from=0",
                                         header=[f"Authorization: Bearer {board.token}"], timeout=60,
                                         sslopt=board.sslopt)
        try:
            messages = []
            while not any(m["type"] == "skipped" for m in messages):
                op, payload = ws.recv_data()
                assert op != websocket.ABNF.OPCODE_BINARY, "bytes before the skipped message"
                if op == websocket.ABNF.OPCODE_TEXT:
                    messages.append(json.loads(payload))
                    contract().check_ws_message(messages[-1])
            hello, skipped = messages[0], messages[-1]
            assert hello["type"] == "hello" and hello["offset"] == 0 and hello["log_start"] == c["log_start"]
            assert (skipped["from"], skipped["to"]) == (0, c["log_start"])
        finally:
            ws.close()
        # The follower that read nothing: its stream ends where it stood (a
        # prefix of what the guest wrote, from offset 0), and a reconnect
        # from there is told how much the budget took from under it.
        got = behind.ended(timeout=120) if behind else None
        if got is not None:
            assert 0 < len(got) < c["log_start"], (len(got), c)
            start = got.find(b"tiny 0000000000 ")
            assert start > 0 and tiny.banner("pv", "flood") in got[:start], got[:200]
            assert got[start:] == tiny.flood_pattern(len(got) - start), "the follower's bytes are not the flood's first"
            status, headers, page = board.api("GET", f"/vms/{vm}/consoles/pv/log?from={len(got)}")
            assert status == 200 and page == held[:len(page)]
            assert int(headers["X-Xvmd-Log-Skipped"]) == c["log_start"] - len(got), (headers, len(got))
        # The event stream told each removal, and they add up.
        removed = []
        while sum(removed) < c["log_removed"]:
            e = events.next()
            if e["type"] == "log_removed" and e["vm"] == vm:
                assert e["console"] == "pv" and e["reason"] == "budget", e
                removed.append(e["bytes"])
        events.close()
        assert sum(removed) == c["log_removed"] and e["log_start"] == c["log_start"], (removed, e, c)
        # The metrics count the same: what the budget removed, what the viewer skipped.
        s = metrics.scrape(board)
        assert s.get("xvmd_console_log_removed_bytes_total", vm=vm, console="pv") == c["log_removed"]
        assert s.get("xvmd_console_log_bytes", vm=vm, console="pv") == c["log_bytes"]
        assert s.get("xvmd_console_viewers_skipped_bytes_total", vm=vm, console="pv") == c["log_start"]

        # The disk holds what the agent says, within the budget, in whole
        # segments of a quarter of it.
        r = board.dom0("sh", "-c", f"cd /var/lib/xvmd/vms/{vm}/pv && stat -c '%n %s' *.log")
        files = [(n, int(s)) for n, s in (line.split() for line in r.stdout.split("\n") if line)]
        assert sum(s for _, s in files) == c["log_bytes"], r.stdout
        assert all(s <= BUDGET // 4 for _, s in files), r.stdout
        assert 4 <= len(files) <= 6, r.stdout
        assert int(files[0][0].split(".")[0]) == c["log_start"], r.stdout

        # The journal says when and how much.
        r = board.dom0("journalctl", "-u", "xvmd", "-b", "-o", "cat", "--no-pager")
        removals = [line for line in r.stdout.splitlines()
                    if line.startswith(f"The console log of {vm}/pv removed its oldest")]
        assert removals, r.stdout[-2000:]
        assert f"it now holds offsets {c['log_start']} to" in removals[-1]


def free_bytes(board):
    """What the state file system has free for the agent (statfs: blocks
    available times their size; dom0's busybox df cannot name its root)."""
    r = board.dom0("stat", "-f", "-c", "%a %S", "/var/lib/xvmd")
    assert r.returncode == 0, r.stderr
    blocks, size = map(int, r.stdout.split())
    return blocks * size


def test_the_free_floor_takes_from_the_chattiest_log(board):
    """All logs together keep a floor of the state file system free
    (--logs-keep-free; by default 15 % of it): a guest that floods while the
    disk is near that floor loses its own oldest bytes, well within its own
    budget, and the floor holds. The agent runs here with a floor just below
    what is free now, rather than the disk being filled up to its default."""
    margin = 3 * 1024 * 1024
    keep_free = free_bytes(board) - margin
    budget = 8 * 1024 * 1024          # segments of 2 MiB
    n = 12 * 1024 * 1024
    board.restart_agent(f"--logs-keep-free {keep_free}")
    try:
        r = board.dom0("journalctl", "-u", "xvmd", "-b", "-o", "cat", "--no-pager")
        limits = [line for line in r.stdout.splitlines() if line.startswith("Console logs: ")]
        assert limits and f"keeping {keep_free} bytes" in limits[-1], limits[-3:]
        with tiny.vm(board, "floor", "flood", console="pv", bytes=n, delay=2, log_max_bytes=budget) as vm:
            board.wait_vm(vm, lambda b: b["consoles"]["pv"]["log_end"] >= n, timeout=900)
            board.wait_log(vm, "pv", tiny.flood_done(n).strip(), timeout=120, start=n - 4096)
            c = board.api("GET", f"/vms/{vm}")[2]["consoles"]["pv"]
            # The floor took the bytes (the journal says which limit), and
            # the log holds less than its own budget would have left.
            assert c["log_bytes"] <= margin + 3 * 1024 * 1024 < budget, c
            assert c["log_removed"] == c["log_start"] >= n - budget, c
            held = board.whole_log(vm, "pv", c["log_start"])
            want = tiny.flood_pattern(n) + tiny.flood_done(n)
            assert held == want[-len(held):]
            # Free space is looked at every MiB logged, and only whole
            # segments (2 MiB) go: the floor holds to within that.
            free = free_bytes(board)
            assert free >= keep_free - 4 * 1024 * 1024, (free, keep_free)
            r = board.dom0("journalctl", "-u", "xvmd", "-b", "-o", "cat", "--no-pager")
            assert f"The console log of {vm}/pv removed its oldest" in r.stdout, r.stdout[-2000:]
            assert "the state file system's free floor" in r.stdout, r.stdout[-2000:]
    finally:
        board.restart_agent()
