"""The API contract, checked: every answer the board tests get from the agent
is held against api/openapi.yaml, and every JSON message of a console
websocket against its Ws* schemas (Debian's python3-jsonschema, JSON Schema
2020-12 as OpenAPI 3.1 has it).

An answer passes when
- its request matches an operation (method and path template) and its status
  is one the operation lists; a request that matches none may only be
  answered 404 or 405 (with Allow), with the Error body;
- its Content-Type is one of that response's media types (none when the
  response has no content, and then no body either), and a JSON body
  validates against the media type's schema (undocumented fields fail: the
  schemas say additionalProperties: false);
- every header the response requires is there, every documented header's
  value fits its schema, and no header of the agent's own (below) comes
  without being documented.

Board.request() (conftest.py) calls check_response() on every answer; tests
that speak HTTP by hand (raw sockets, http.client) call check_raw() or
check_response() themselves. tests/test_contract.py shows that the check
fails on a wrong document, so it cannot pass vacuously.
"""
import json
import os
import re
import urllib.parse

import jsonschema
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPEC = os.path.join(ROOT, "api", "openapi.yaml")

# Headers the agent itself adds (http-server.c, api-*.c); the rest (Date,
# Content-Length, Connection, Transfer-Encoding, ...) are libmicrohttpd's.
AGENT_HEADERS = {"set-cookie", "cache-control", "content-security-policy", "x-frame-options",
                 "x-content-type-options", "x-xvmd-log-start", "x-xvmd-log-end", "x-xvmd-log-skipped",
                 "www-authenticate", "x-xvmd-instance-id", "x-xvmd-boot-id", "etag", "x-xvmd-events-after",
                 "upgrade", "sec-websocket-accept", "sec-websocket-version", "allow"}
METHODS = ("get", "put", "post", "delete", "patch")


class ContractError(AssertionError):
    pass


class Contract:
    def __init__(self, spec=None):
        if spec is None:
            with open(SPEC) as f:
                spec = yaml.safe_load(f)
        self.spec = spec
        self.resolver = jsonschema.RefResolver.from_schema(spec)
        self.answers = self.messages = 0  # checked so far (conftest.py reports them)
        self.ops = []
        for template, item in spec["paths"].items():
            pattern = "^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(template)) + "$"
            for method in METHODS:
                if method in item:
                    self.ops.append((method.upper(), re.compile(pattern), template, item[method]))

    def resolve(self, obj):
        while isinstance(obj, dict) and "$ref" in obj:
            _, obj = self.resolver.resolve(obj["$ref"])
        return obj

    def operation(self, method, path):
        """(template, operation) of the request, or None."""
        method = "GET" if method == "HEAD" else method
        for m, rx, template, op in self.ops:
            if m == method and rx.match(path):
                return template, op
        return None

    def validate(self, instance, schema, where):
        v = jsonschema.Draft202012Validator(schema, resolver=self.resolver)
        errors = sorted(v.iter_errors(instance), key=lambda e: list(e.absolute_path))
        if errors:
            detail = "; ".join(f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in errors[:5])
            raise ContractError(f"{where}: {detail}\n  in {json.dumps(instance)[:600]}")

    def check_ws_message(self, obj):
        """One JSON message a console websocket sent."""
        self.validate(obj, {"$ref": "#/components/schemas/WsServerMessage"}, "websocket message")
        self.messages += 1

    def check_event(self, obj):
        """One message of GET /v1/events (a line, or an SSE data: field)."""
        self.validate(obj, {"$ref": "#/components/schemas/EventsMessage"}, "event")
        self.messages += 1

    def check_response(self, method, path, status, headers, body, complete=True):
        """headers: a case-insensitive mapping (or a list of pairs); body:
        bytes, or already parsed JSON; complete: False when only the start
        of the body was read (then it is not validated)."""
        path = urllib.parse.unquote(path.split("?", 1)[0])  # as the server routes it
        hdrs = {}
        for k, v in (headers.items() if hasattr(headers, "items") else headers):
            hdrs.setdefault(k.lower(), []).append(v)
        where = f"{method} {path} -> {status}"
        found = self.operation(method, path)
        if found is None:
            # Authentication comes before routing (nothing is learnt of /v1
            # without it), then 404 or 405: the document's description.
            unauthorized = status in (401, 429) and (path == "/v1" or path.startswith("/v1/"))
            if status not in (404, 405) and not unauthorized:
                raise ContractError(f"{where}: no operation of openapi.yaml matches, and only 404 or 405 "
                                    "(401 or 429 under /v1) may answer")
            if status == 405 and "allow" not in hdrs:
                raise ContractError(f"{where}: a 405 without Allow")
            responses = self.spec["components"]["responses"]
            response = self.resolve(responses["Error" if not unauthorized else
                                              "Unauthorized" if status == 401 else "TooManyLogins"])
            documented = {"allow"} if status == 405 else set()
            for name, h in response.get("headers", {}).items():
                documented.add(name.lower())
                if self.resolve(h).get("required") and name.lower() not in hdrs:
                    raise ContractError(f"{where}: required header {name} missing")
        else:
            template, op = found
            where = f"{method} {template} -> {status}"
            responses = op.get("responses", {})
            if str(status) not in responses:
                raise ContractError(f"{where}: status not documented (documented: {', '.join(responses)})")
            response = self.resolve(responses[str(status)])
            documented = set()
            for name, h in response.get("headers", {}).items():
                h = self.resolve(h)
                documented.add(name.lower())
                values = hdrs.get(name.lower())
                if not values:
                    if h.get("required"):
                        raise ContractError(f"{where}: required header {name} missing")
                    continue
                for value in values:
                    self.validate(value, h.get("schema", {}), f"{where}: header {name}")
        # The headers of every answer (the document's x-every-answer-headers).
        for name, h in self.spec.get("x-every-answer-headers", {}).items():
            values = hdrs.get(name.lower())
            if not values:
                if h.get("required"):
                    raise ContractError(f"{where}: header {name}, which every answer carries, missing")
                continue
            for value in values:
                self.validate(value, h.get("schema", {}), f"{where}: header {name}")
            documented.add(name.lower())
        for name in hdrs:
            if name in AGENT_HEADERS and name not in documented:
                raise ContractError(f"{where}: header {name} is not documented for this answer")
        self.check_body(where, status, response, hdrs, body, complete)
        self.answers += 1

    def check_body(self, where, status, response, hdrs, body, complete):
        content = response.get("content")
        ctype = (hdrs.get("content-type") or [None])[0]
        if status == 101:
            return  # what follows is the websocket
        if not content:
            if body not in (b"", None) and complete:
                raise ContractError(f"{where}: a body where the document has none: {body[:200]!r}")
            if ctype:
                raise ContractError(f"{where}: Content-Type {ctype} where the document has no content")
            return
        if not ctype:
            raise ContractError(f"{where}: no Content-Type (documented: {', '.join(content)})")
        media = ctype.split(";", 1)[0].strip().lower()
        if media not in content:
            raise ContractError(f"{where}: Content-Type {media} not documented (documented: {', '.join(content)})")
        schema = (content[media] or {}).get("schema")
        if media != "application/json" or schema is None or not complete:
            return
        if isinstance(body, (bytes, bytearray)):
            try:
                body = json.loads(body)
            except ValueError as e:
                raise ContractError(f"{where}: the body is not JSON ({e}): {bytes(body[:200])!r}")
        self.validate(body, schema, where)

    def check_raw(self, method, path, answer):
        """An answer read off a socket by hand (bytes, maybe cut short)."""
        head, sep, body = answer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = [tuple(x.strip() for x in line.split(":", 1)) for line in lines[1:] if ":" in line]
        length = next((int(v) for k, v in headers if k.lower() == "content-length"), None)
        complete = bool(sep) and (length is None or len(body) >= length)
        if length is not None:
            body = body[:length]
        self.check_response(method, path, status, headers, body, complete=complete)
        return status


_contract = None


def contract():
    """The contract of api/openapi.yaml, loaded once."""
    global _contract
    if _contract is None:
        _contract = Contract()
    return _contract
