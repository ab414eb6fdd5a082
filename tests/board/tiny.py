"""The tiny bare-metal test guest (guest-images/tiny) seen from the host: its
spec, its flood pattern, and a VM of it for a test. Shared by the board tests
that need many small, fast-booting or misbehaving guests.

A flood of N bytes is the first N bytes of 64-byte lines
`tiny NNNNNNNNNN abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU\\n` (the line
number in 10 decimal digits, from 0), then `tiny: flood done N\\n` (after a
newline if N is not a whole number of lines)."""
import contextlib
import secrets

LINE = 64
FILLER = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTU"


SPEC_FIELDS = ("log_max_bytes", "autostart", "vcpus", "start")


def spec(name, mode, memory_mib=32, **args):
    """A VM spec of the tiny guest in mode: SPEC_FIELDS go to the spec, other
    arguments are key=value words of its command line (delay=, console=,
    bytes=, interval_ms=)."""
    words = [f"mode={mode}"] + [f"{k}={v}" for k, v in args.items() if k not in SPEC_FIELDS]
    s = {"name": name, "kernel": "tiny-guest", "memory_mib": memory_mib, "cmdline": " ".join(words)}
    s.update({k: v for k, v in args.items() if k in SPEC_FIELDS})
    return s


def banner(console, mode):
    return f"tiny: ready on {console} mode={mode}".encode()


def flood_pattern(n):
    lines = -(-n // LINE)
    return b"".join(b"tiny %010d " % i + FILLER + b"\n" for i in range(lines))[:n]


def flood_done(n):
    return (b"\n" if n % LINE else b"") + b"tiny: flood done %d\n" % n


def check_flood(log, n):
    """Asserts that log holds, after the banner, exactly the flood of n bytes
    and its end line: no byte lost, none twice."""
    b = log.find(b"tiny 0000000000 ")
    assert b >= 0, log[:200]
    got = log[b:]
    want = flood_pattern(n) + flood_done(n)
    if got != want:
        i = next((k for k in range(min(len(got), len(want))) if got[k] != want[k]), min(len(got), len(want)))
        raise AssertionError(f"flood of {n}: {len(got)} bytes, {len(want)} wanted; first difference at {i}: "
                             f"got {got[max(0, i - 70):i + 70]!r}, want {want[max(0, i - 70):i + 70]!r}")


@contextlib.contextmanager
def vm(board, prefix, mode, wait_banner=True, **kw):
    """A tiny guest named PREFIX-RANDOM in mode, created and (by default)
    at its banner on both consoles; destroyed and deleted afterwards."""
    name = f"{prefix}-{secrets.token_hex(3)}"
    status, _, body = board.api("POST", "/vms", spec(name, mode, **kw))
    assert status == 201, body
    try:
        if wait_banner:
            for console in ("pv", "vuart"):
                board.wait_log(name, console, banner(console, mode).decode(), timeout=120)
        yield name
    finally:
        board.delete_vm(name)
