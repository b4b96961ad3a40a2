"""Calls begun ahead: the limiter's grant taken in one thread, the request sent in another.

A sync fetches page k+1 in a thread while it stores page k (webapp.sync.pipeline). That thread
waits on the socket (the GIL free) and reads the answer into contacts; the grant and the settle
(database writes, which on SQLite would queue behind the page's upsert for the one write lock)
and the judging of the answer stay in the storing thread. So a call is split in three:

1. KeapClient.reserve() (the grant, possibly a page early) or KeapClient.start_list_contacts_v2()
   (token and grant): a `SentCall`, not yet sent;
2. SentCall.send(), in any thread: the request, and the reading of a successful answer;
3. KeapClient.list_contacts_v2(sent=...): settled, recorded, judged and read as any call is; or
   KeapClient.discard() when the answer is no longer wanted (settled and recorded all the same).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

from webapp import limiter
from webapp.keap import transport


@dataclass(frozen=True)
class Reservation:
    """A grant from the limiter for a call not yet begun (KeapClient.reserve)."""

    waited: bool
    grant: limiter.Decision


@dataclass
class SentCall:
    """A call's first attempt, granted by the limiter; sent by send(), then settled, recorded and
    read by the call it was begun for (KeapClient.start_list_contacts_v2)."""

    base_url: str
    operation: str
    method: str
    path: str
    request: dict[str, Any]
    token: str = field(repr=False)
    waited: bool
    grant: limiter.Decision
    # How to read a successful answer's body (decode, type), done by send() as well: the
    # thread that waited for the answer reads it while the other goes on with its own work.
    reader: Callable[[requests.Response], Any] | None = None
    outcome: transport.Attempt | None = None
    read: Any = None
    read_error: Exception | None = None

    def send(self) -> "SentCall":
        """Send the request and read the whole answer, once. Meant for one other thread: the
        caller waits for it (a Future) before it looks at the outcome."""
        if self.outcome is None:
            outcome = transport.send(
                self.base_url, self.method, self.path, self.token, self.request
            )
            response = outcome.response
            if self.reader is not None and response is not None and 200 <= outcome.status < 300:
                try:
                    self.read = self.reader(response)
                except Exception as exc:  # raised where the answer is judged and read, not here
                    self.read_error = exc
            self.outcome = outcome
        return self

    def attempt(self) -> transport.Attempt:
        """What the request came to (sent now if send() has not run yet)."""
        outcome = self.send().outcome
        assert outcome is not None  # send() always sets it
        return outcome

    def next_page_token(self) -> str:
        """The next page's token in the answer send() read: "" when it names none, or when
        send() read nothing (an error, or an answer that will be refused when it is judged)."""
        if self.read_error is not None or not isinstance(self.read, tuple):
            return ""
        token = self.read[0].get("next_page_token") or ""
        return token if isinstance(token, str) else ""

    def read_of(self, response: requests.Response) -> Any:
        """What send() read from `response`, if this is the answer it read; else None."""
        outcome = self.outcome
        if outcome is None or outcome.response is not response or self.reader is None:
            return None
        if self.read_error is not None:
            raise self.read_error
        return self.read
