"""A console log by boot and by time, on real Xen: GET .../boots lists each
boot with its offsets, times and how it ended; ?boot=N reads one; since= and
until= (RFC 3339 or relative) select by time, exact to the second, from the
log's index; ?timestamps=1 dates each line; a follower keeps following across
reboots and sees exactly the log."""
import datetime
import http.client
import threading
import time
import urllib.parse

import tiny
from contract import contract


def stamped_lines(body):
    """[(datetime, line bytes)] of a ?timestamps=1 answer (whole lines)."""
    out = []
    for line in body.split(b"\n")[:-1]:
        stamp, _, rest = line.partition(b" ")
        out.append((datetime.datetime.fromisoformat(stamp.decode().replace("Z", "+00:00")), rest))
    return out


def iso(t):
    return t.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def get_log(board, vm, **q):
    status, headers, body = board.api("GET", f"/vms/{vm}/consoles/pv/log?" + urllib.parse.urlencode(q))
    assert status == 200, body
    return headers, body


def test_timestamps_since_and_until(board):
    with tiny.vm(board, "trickle", "trickle", interval_ms=250) as vm:
        time.sleep(8)
        headers, raw = get_log(board, vm)
        headers2, body = get_log(board, vm, timestamps=1, **{"from": int(headers["X-Xvmd-Log-Start"])})
        end = int(headers2["X-Xvmd-Log-End"])
        lines = stamped_lines(body)
        # Each line dated; the bytes are the log's, only the stamps added.
        assert lines[0][1] == tiny.banner("pv", "trickle")
        assert b"".join(rest + b"\n" for _, rest in lines) == raw[:end][:len(b"".join(r + b"\n" for _, r in lines))]
        times = [t for t, _ in lines]
        assert times == sorted(times)
        assert times[-1] - times[0] >= datetime.timedelta(seconds=5)
        # Four lines a second: several share a second, and seconds differ.
        assert len(set(times)) >= 5 and len(set(times)) < len(times)

        # Where each line begins in the log.
        offsets, o = [], int(headers2["X-Xvmd-Log-Start"])
        for _, rest in lines:
            offsets.append(o)
            o += len(rest) + 1
        one = datetime.timedelta(seconds=1)

        def first_at_or_after(t):
            return next(off for (lt, _), off in zip(lines, offsets) if lt >= t)

        def last_at_or_before(t):
            return [off for (lt, _), off in zip(lines, offsets) if lt <= t][-1]

        mid = times[len(times) // 2]
        # since: from that second on, nothing dated a second before it (the
        # answer may begin inside a line: an index record marks the byte).
        h, _ = get_log(board, vm, since=iso(mid))
        start = int(h["X-Xvmd-Log-Start"])
        assert last_at_or_before(mid - one) < start <= first_at_or_after(mid), (start, mid)
        # until: up to that second, nothing dated after it.
        h, _ = get_log(board, vm, until=iso(mid))
        stop = int(h["X-Xvmd-Log-End"])
        later = [off for (lt, _), off in zip(lines, offsets) if lt > mid]
        assert last_at_or_before(mid) < stop <= later[0], (stop, mid)
        # Both: that second.
        h, _ = get_log(board, vm, since=iso(mid), until=iso(mid))
        assert int(h["X-Xvmd-Log-Start"]) == start and int(h["X-Xvmd-Log-End"]) == stop
        # Relative to now: the last two seconds, not the first of the VM's.
        _, got = get_log(board, vm, timestamps=1, since="-2s")
        got_lines = stamped_lines(got)
        assert got_lines and got_lines[0][0] > times[0]

        for q, field in (({"since": "yesterday"}, "since"), ({"until": "2026-13-01T00:00:00Z"}, "until"),
                         ({"timestamps": "2"}, "timestamps"), ({"follow": 1, "until": "-1s"}, "follow"),
                         ({"boot": "0"}, "boot")):
            status, _, err = board.api("GET", f"/vms/{vm}/consoles/pv/log?" + urllib.parse.urlencode(q))
            assert status == 400 and err["error"]["field"] == field, (q, err)


def follow(board, vm, got, done):
    conn = http.client.HTTPSConnection("127.0.0.1", board.port, timeout=120, context=board.ssl)
    conn.request("GET", f"/v1/vms/{vm}/consoles/pv/log?follow=1&from=0",
                 headers={"Authorization": f"Bearer {board.token}"})
    r = conn.getresponse()
    contract().check_response("GET", f"/v1/vms/{vm}/consoles/pv/log", r.status, r.getheaders(), b"", complete=False)
    assert r.status == 200

    def reader():
        try:
            while True:
                chunk = r.read1(65536)
                if not chunk:
                    break
                got.extend(chunk)
        except Exception:  # noqa: BLE001 - the test closed the connection under it
            pass
        finally:
            done.set()
    threading.Thread(target=reader, daemon=True).start()
    return conn


def test_boots_by_number_and_a_follower_across_reboots(board):
    with tiny.vm(board, "boots", "reboot", delay=4) as vm:
        got, done = bytearray(), threading.Event()
        conn = follow(board, vm, got, done)
        board.wait_vm(vm, lambda v: v["boot_count"] >= 3, timeout=120)
        status, body = board.api("POST", f"/vms/{vm}/destroy")[:2]
        assert status == 200
        boots = board.api("GET", f"/vms/{vm}/consoles/pv/boots")[2]["boots"]
        assert [b["boot"] for b in boots] == list(range(1, len(boots) + 1)) and len(boots) >= 3, boots
        assert all(b["ended"] == "reboot" for b in boots[:-1]) and boots[-1]["ended"] == "destroy", boots
        assert all(b["end_time"] and b["start_time"] <= b["end_time"] for b in boots)
        for a, b in zip(boots, boots[1:]):
            assert a["end_offset"] <= b["start_offset"] and a["end_time"] <= b["start_time"]
        whole = board.whole_log(vm, "pv")
        assert boots[-1]["end_offset"] == len(whole)
        # Each boot's output alone: its banner, its last words.
        for b in boots[:-1]:
            _, one = get_log(board, vm, boot=b["boot"])
            assert one == whole[b["start_offset"]:b["end_offset"]]
            assert one.count(tiny.banner("pv", "reboot")) == 1 and one.endswith(b"tiny: reboot\n"), one
        status, _, err = board.api("GET", f"/vms/{vm}/consoles/pv/log?boot=99")
        assert status == 404 and err["error"]["code"] == "boot_not_found"
        # The follower saw every boot's bytes, exactly the log.
        deadline = time.monotonic() + 60
        while len(got) < len(whole) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert bytes(got) == whole
        conn.sock.shutdown(2) if conn.sock else None
        conn.close()


def test_a_follower_keeps_following_across_budget_removal(board):
    """A follower that keeps up sees every byte of a flood four times its
    console's budget, while the budget removes the oldest bytes under it."""
    budget, n = 256 * 1024, 1024 * 1024
    with tiny.vm(board, "rm", "flood", console="pv", bytes=n, delay=5, log_max_bytes=budget) as vm:
        got, done = bytearray(), threading.Event()
        conn = follow(board, vm, got, done)
        end_line = tiny.flood_done(n)
        deadline = time.monotonic() + 600
        while not bytes(got).endswith(end_line) and time.monotonic() < deadline and not done.is_set():
            time.sleep(0.5)
        c = board.api("GET", f"/vms/{vm}")[2]["consoles"]["pv"]
        assert c["log_removed"] >= n - budget and c["log_start"] == c["log_removed"], c
        assert c["log_end"] == len(got), (c, len(got))
        # Everything from offset 0: the banner, the whole flood, its end.
        tiny.check_flood(bytes(got), n)
        assert bytes(got).startswith(tiny.banner("pv", "flood")), bytes(got[:100])
        conn.sock.shutdown(2) if conn.sock else None
        conn.close()
