"""The guest's `xvmd-flood BYTES` (guest-images/linux/rootfs/usr/bin/xvmd-flood)
seen from the host: the bytes it writes, and how to cut them out of a console
log. Shared by tests/board/test_console_flood.py and tests/bench/console-vs-xl.

The guest writes `<<xvmd-flood:begin N>>\\n`, then N bytes of PATTERN, then
`<<xvmd-flood:end SECONDS>>`, the terminal raw in between. PATTERN is the
first N bytes of records of 263 bytes: the record's index as 8 lowercase hex
digits, then the bytes 1..255 in order. Neither marker can occur in it."""
import re

RECORD = 263
_TAIL = bytes(range(1, 256))
END = b"<<xvmd-flood:end "


def pattern(n):
    """The n bytes xvmd-flood writes."""
    records = -(-n // RECORD)
    return b"".join(b"%08x" % r + _TAIL for r in range(records))[:n]


def begin_marker(n):
    return b"<<xvmd-flood:begin %d>>\n" % n


def cut(log, n, start=0):
    """Finds the flood of n bytes in log (from offset start). Returns
    (payload_offset, payload, guest_seconds) or None if the end marker is not
    there yet. payload is everything between the markers, whatever its size."""
    b = log.find(begin_marker(n), start)
    if b < 0:
        return None
    p = b + len(begin_marker(n))
    e = log.find(END, p)
    if e < 0:
        return None
    m = re.match(rb"<<xvmd-flood:end ([0-9.]+)>>", log[e:e + 64])
    return p, log[p:e], float(m.group(1)) if m else None


def first_difference(got, want):
    """Offset of the first byte where got and want differ (or the shorter's
    length), with a little context, for an assertion message."""
    i = next((k for k in range(min(len(got), len(want))) if got[k] != want[k]), min(len(got), len(want)))
    return f"{len(got)} bytes, {len(want)} wanted; first difference at {i}: " \
           f"got {got[max(0, i - 16):i + 16]!r}, want {want[max(0, i - 16):i + 16]!r}"
