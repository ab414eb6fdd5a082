"""GET /v1/events seen from the host: one stream, read line by line (JSON
lines) or event by event (Server-Sent Events), each message held against
api/openapi.yaml (contract.py). Shared by the tests that check what the
event stream says of their doings."""
import http.client
import json

from contract import contract


class Stream:
    """One GET /v1/events, read line by line (NDJSON) or event by event (SSE)."""

    def __init__(self, board, since=None, last_event_id=None, sse=False):
        self.conn = http.client.HTTPSConnection("127.0.0.1", board.port, timeout=120, context=board.ssl)
        self.path = "/v1/events" + (f"?since={since}" if since is not None else "")
        headers = {"Authorization": f"Bearer {board.token}"}
        if last_event_id is not None:
            headers["Last-Event-ID"] = str(last_event_id)
        if sse:
            headers["Accept"] = "text/event-stream"
        self.conn.request("GET", self.path, headers=headers)
        self.r = self.conn.getresponse()
        body = b"" if self.r.status == 200 else self.r.read()
        contract().check_response("GET", self.path, self.r.status, self.r.getheaders(), body,
                                  complete=self.r.status != 200)
        self.status, self.body = self.r.status, body

    def next(self):
        line = self.r.readline()
        assert line.endswith(b"\n"), f"the stream ended: {line!r}"
        event = json.loads(line)
        contract().check_event(event)
        return event

    def next_sse(self):
        """(id or None, the data's object), skipping retry: and comments."""
        ident, data = None, None
        while True:
            line = self.r.readline().decode()
            assert line, "the stream ended"
            line = line.rstrip("\n")
            if line == "" and data is not None:
                event = json.loads(data)
                contract().check_event(event)
                return ident, event
            if line.startswith("id: "):
                ident = line[4:]
            elif line.startswith("data: "):
                data = line[6:]

    def until(self, pred, limit=200):
        """The events up to and including the first for which pred holds."""
        got = []
        while len(got) < limit:
            got.append(self.next())
            if pred(got[-1]):
                return got
        raise AssertionError(f"not seen in {limit} events: {got[-5:]}")

    def close(self):
        self.conn.close()
