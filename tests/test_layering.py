"""The agent's layering (agent/README.md), checked on its sources: the core
(libraries xvmd-base and xvmd-core in agent/meson.build) knows nothing of
HTTP (no status number, no libmicrohttpd), and the front end (xvmd-front)
reaches the core only through core.h."""
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AGENT = os.path.join(ROOT, "agent")


def meson_text():
    with open(os.path.join(AGENT, "meson.build")) as f:
        return f.read()


def block(text, start):
    """The quoted file names from `start` to the next 'dependencies'."""
    i = text.index(start)
    j = text.index("dependencies", i)
    return set(re.findall(r"'([\w-]+\.c)'", text[i:j]))


def sources():
    text = meson_text()
    base = block(text, "libxvmd_base = static_library(")
    core = block(text, "core_sources = files(")
    core |= set(re.findall(r"'([\w-]+\.c)'", text[text.index("xen_sources = "):text.index("libxvmd_xen =")]))
    front = block(text, "libxvmd_front = static_library(")
    return base, core, front


def with_headers(names):
    out = set()
    for c in names:
        for name in (c, c[:-2] + ".h"):
            if os.path.exists(os.path.join(AGENT, name)):
                out.add(name)
    return out


def read(name):
    with open(os.path.join(AGENT, name)) as f:
        return f.read()


def includes(name):
    return re.findall(r'^#include "([^"]+)"', read(name), re.M)


def test_the_libraries_are_disjoint_and_complete():
    base, core, front = sources()
    assert not base & core and not base & front and not core & front
    listed = base | core | front | {"main.c", "manager.c"}
    on_disk = {n for n in os.listdir(AGENT) if n.endswith(".c")}
    # domain.c and domain-none.c: one of the two, by the build's machine.
    assert on_disk - listed == set(), f"sources in no library: {sorted(on_disk - listed)}"


def test_the_core_knows_no_http():
    base, core, _ = sources()
    status = re.compile(r"\b(?:4[0-2]\d|5[01]\d)\b")
    for name in sorted(with_headers(base | core) | {"core.h"}):
        for n, line in enumerate(read(name).splitlines(), 1):
            assert "MHD_" not in line and "microhttpd" not in line, f"{name}:{n}: {line.strip()}"
            if "gic-400" in line:  # a GIC's name, not a status
                continue
            assert not status.search(line), f"{name}:{n} has what looks like an HTTP status: {line.strip()}"
        for inc in includes(name):
            assert not inc.startswith(("api", "http-server", "console-ws", "ws", "auth", "session")), \
                f"{name} includes the front end's {inc}"


def test_the_front_end_reaches_the_core_through_core_h():
    base, core, front = sources()
    core_headers = {h for h in with_headers(core) if h.endswith(".h")} | {"vm.h"}
    for name in sorted(with_headers(front) | {"api-internal.h"}):
        for inc in includes(name):
            assert inc not in core_headers, f"{name} includes the core's {inc} (use core.h)"
