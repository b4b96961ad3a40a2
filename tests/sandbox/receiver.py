"""A REST hook receiver on loopback for sandbox tests: records every POST and answers as told.

A POST carrying `X-Hook-Secret` is a confirmation round; anything else is a delivery. By default
it confirms (200, echoing the secret) and accepts deliveries (200). Tests change `echo`,
`confirm_status`, `statuses` (answers for the next deliveries, in order), `status` (after
those) and `sleep` (seconds to wait before answering a delivery).
"""

import json
import threading
import time
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    at: float
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def secret(self) -> str | None:
        return self.headers.get("X-Hook-Secret")

    def json(self):
        return json.loads(self.body)


class Receiver(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.received: list[Received] = []
        self.changed = threading.Condition()
        self.echo = True
        self.echo_value: str | None = None  # echo this instead of the secret
        self.confirm_status = 200
        self.statuses: deque[int] = deque()
        self.status = 200
        self.sleep = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/keap/hooks"

    def confirmations(self) -> list[Received]:
        with self.changed:
            return [r for r in self.received if r.secret is not None]

    def deliveries(self) -> list[Received]:
        with self.changed:
            return [r for r in self.received if r.secret is None]

    def object_ids(self, event_key: str | None = None) -> list[int]:
        """Every object id delivered (optionally for one event key), in arrival order."""
        return [
            key["id"]
            for r in self.deliveries()
            if event_key is None or r.json()["event_key"] == event_key
            for key in r.json()["object_keys"]
        ]

    def wait_for(self, predicate, timeout: float = 30.0) -> bool:
        """Wait until `predicate(self)` holds; False if it still does not after `timeout`."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.changed.wait(min(left, 0.2))
        return True

    def wait_for_ids(self, ids, event_key: str | None = None, timeout: float = 30.0) -> bool:
        wanted = set(ids)
        return self.wait_for(lambda r: wanted <= set(r.object_ids(event_key)), timeout)


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        received = Received(time.time(), self.path, dict(self.headers), self.rfile.read(length))
        server = self.server
        with server.changed:
            server.received.append(received)
            server.changed.notify_all()
            if received.secret is None:
                status = server.statuses.popleft() if server.statuses else server.status
        if received.secret is not None:
            self.send_response(server.confirm_status)
            if server.echo:
                self.send_header("X-Hook-Secret", server.echo_value or received.secret)
        else:
            if server.sleep:
                time.sleep(server.sleep)
            self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args) -> None:
        pass
