"""api/openapi.yaml and the agent's routing table (agent/api.c) describe the
same routes, as the same templates (parameter names too: the routing
table's templates are the metrics' route labels): a route added to one and
not the other fails here."""
import os
import re

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def server_routes():
    with open(os.path.join(ROOT, "agent", "api.c")) as f:
        text = f.read()
    table = text[text.index("static const struct api_route routes[]"):]
    table = table[:table.index("};")]
    return {(m, p) for m, p in re.findall(r'\{\s*"([A-Z]+)",\s*"([^"]+)"', table)}


def spec_routes():
    with open(os.path.join(ROOT, "api", "openapi.yaml")) as f:
        spec = yaml.safe_load(f)
    out = set()
    for path, item in spec["paths"].items():
        for method in item:
            if method in ("get", "post", "put", "delete", "patch"):
                out.add((method.upper(), path))
    return out


def test_every_server_route_is_in_the_spec():
    missing = server_routes() - spec_routes()
    assert not missing, f"routes the agent serves but openapi.yaml lacks: {sorted(missing)}"


def test_every_spec_route_is_served():
    extra = spec_routes() - server_routes()
    assert not extra, f"routes openapi.yaml describes but the agent lacks: {sorted(extra)}"
