"""A console log's budget on real Xen: a guest floods 64 MiB into a console
whose log may hold 4 MiB. The oldest bytes go, whole segments at a time; what
stays is exactly the guest's last bytes; the VM's JSON counts what went; a
reader or a viewer asking for removed bytes is told; the journal says so; and
the disk holds no more than the budget."""
import json

import websocket

import flood
from contract import contract

SIZE = 64 * 1024 * 1024
BUDGET = 4 * 1024 * 1024


def test_budget_keeps_the_newest_bytes_and_counts_the_rest(board):
    # The flood's pattern is made in the guest's /run (half its memory).
    with board.linux_vm("budget", log_max_bytes=BUDGET, memory_mib=256) as vm:
        _, _, body = board.api("GET", f"/vms/{vm}")
        assert body["spec"]["log_max_bytes"] == BUDGET
        assert body["consoles"]["pv"]["log_max_bytes"] == BUDGET
        assert body["consoles"]["vuart"]["log_removed"] == 0
        before = body["consoles"]["pv"]["log_end"]
        status, _, _ = board.api("POST", f"/vms/{vm}/consoles/pv/input", f"xvmd-flood {SIZE}\n".encode())
        assert status == 204
        # Watched through the VM's JSON (reading the log meanwhile would
        # only slow the flood down), then its last bytes.
        board.wait_vm(vm, lambda b: b["consoles"]["pv"]["log_end"] >= before + SIZE, timeout=900)
        board.wait_log(vm, "pv", flood.END, timeout=120, start=before + SIZE - 4096)
        board.wait_log(vm, "pv", board.PROMPTS["pv"], timeout=120, start=before + SIZE - 4096)

        c = board.api("GET", f"/vms/{vm}")[2]["consoles"]["pv"]
        # Nothing silent: what is held and what went add up to every byte.
        assert c["log_removed"] == c["log_start"]
        assert c["log_bytes"] == c["log_end"] - c["log_start"]
        assert c["log_bytes"] <= BUDGET, c
        assert c["log_removed"] >= SIZE - BUDGET, c
        assert c["log_end"] > SIZE

        # What stays is the guest's last bytes, exactly: the flood's tail,
        # its end marker, the shell's prompt.
        held = board.whole_log(vm, "pv", c["log_start"])
        assert len(held) == c["log_bytes"]
        e = held.find(flood.END)
        assert 0 < e <= SIZE and flood.begin_marker(SIZE) not in held
        want = flood.pattern(SIZE)
        assert held[:e] == want[-e:], flood.first_difference(held[:e], want[-e:])

        # A reader asking for offset 0 gets the log from its start, and is told.
        status, headers, page = board.api("GET", f"/vms/{vm}/consoles/pv/log?from=0")
        assert status == 200 and page == held[:len(page)]
        assert int(headers["X-Xvmd-Log-Start"]) == c["log_start"]
        assert int(headers["X-Xvmd-Log-Skipped"]) == c["log_start"]
        # A viewer asking for it too, with a `skipped` message.
        ws = websocket.create_connection(f"ws://127.0.0.1:{board.port}/v1/vms/{vm}/consoles/pv/ws?from=0",
                                         header=[f"Authorization: Bearer {board.token}"], timeout=60)
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
