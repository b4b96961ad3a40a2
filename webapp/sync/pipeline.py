"""A run's pages, one after another, with the next page's request already out while one is stored.

    with Pages(client, query=query, token=token, prefetch=True, on_error=record) as pages:
        for page in pages:
            ...store it...

Without prefetch this is a plain loop of list calls, each page tried SYNC_PAGE_ATTEMPTS times with
backoff. With it, a thread sends the request for page k+1, waits on the socket (the GIL free) and
reads the answer into contacts while the caller stores page k. The caller's thread takes every
limiter grant (one page early: the grant for page k+2 is reserved before page k is handed over, so
its request goes out the moment page k+1 names it) and settles every answer, so every database
write stays in one thread, and on SQLite the two never queue for its one write lock.

Nothing is leaked when the caller stops early (cancel, deadline, an error): on leaving the `with`,
a grant reserved for a page that will not be fetched is released, and a page sent ahead and never
read is settled and recorded all the same (Keap counted it).
"""

import logging
import random
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any

from django.conf import settings
from django.db import DatabaseError
from django.db import connection as db

from webapp.keap.ahead import Reservation, SentCall
from webapp.keap.client import KeapClient
from webapp.keap.errors import (
    KeapLimiterUnavailable,
    KeapProtocolError,
    KeapThrottled,
    KeapUnavailable,
)
from webapp.keap.results import ContactPage

log = logging.getLogger(__name__)

# Failures worth trying again: Keap down, slow, throttled or talking nonsense; our database blipping.
TRANSIENT = (
    KeapUnavailable,
    KeapThrottled,
    KeapProtocolError,
    KeapLimiterUnavailable,
    DatabaseError,
)


class PageFailed(Exception):
    """A page kept failing for a reason that may pass; the run is retried from its checkpoint."""


def describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def prefetch_allowed() -> bool:
    """Whether a thread may send the request for page k+1 while this one stores page k.

    SYNC_PREFETCH: "auto" (default), True or False; "auto" is on except inside an outer
    transaction (eager tests), where the sync stays in one thread.
    """
    if db.in_atomic_block:
        return False
    choice = settings.SYNC_PREFETCH
    return choice is True or choice == "auto"


class Pages:
    """The pages of one query from `token` on; iterate inside `with` (see the module docstring)."""

    def __init__(
        self,
        client: KeapClient,
        *,
        query: dict[str, str],
        token: str,
        prefetch: bool,
        on_error: Callable[[Exception], None],
    ) -> None:
        self.client = client
        self.query = query
        self.token = token
        self.on_error = on_error
        self.executor = ThreadPoolExecutor(max_workers=1) if prefetch else None
        # The next page's call, sent ahead (or None), and the grant reserved for the one after.
        self.ahead: Future[SentCall] | None = None
        self.reserved: Reservation | None = None

    def __enter__(self) -> "Pages":
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.reserved is not None:  # taken for a page this run will not fetch
            self.client.release(self.reserved)
            self.reserved = None
        if self.executor is not None:
            if self.ahead is not None:  # sent, never read: Keap counted it all the same
                _discard(self.client, self.ahead)
                self.ahead = None
            self.executor.shutdown(wait=True)

    def __iter__(self) -> Iterator[ContactPage]:
        token = self.token
        while True:
            # _fetch owns these from here: it reads (or discards) the page sent ahead and sends
            # the next on the reserved grant, or releases it.
            sending, self.ahead = self.ahead, None
            handed, self.reserved = self.reserved, None
            page, self.ahead = self._fetch(token, sending, handed)
            if page.next_page_token and self.executor is not None and self.ahead is None:
                self.ahead = self._send_ahead(page.next_page_token)
            if self.ahead is not None:
                # The grant for the page after the one on its way, taken before this page is
                # stored, so that its request goes out the moment that page names it.
                self.reserved = _reserve(self.client)
            yield page
            if not page.next_page_token:
                return
            token = page.next_page_token

    def _fetch(
        self, token: str, ahead: Future[SentCall] | None, reserved: Reservation | None
    ) -> tuple[ContactPage, Future[SentCall] | None]:
        """The page at `token` (its request already sent when `ahead` is given), tried again with
        backoff when it fails; each failure reported to on_error. With `ahead`, also the request
        for the page after it (on the `reserved` grant), sent as soon as the answer names that
        page, before this one is settled: the fetching thread waits on nothing here."""
        attempts = max(1, int(settings.SYNC_PAGE_ATTEMPTS))
        try:
            for attempt in range(1, attempts + 1):
                following: Future[SentCall] | None = None
                try:
                    sent = None
                    if ahead is not None:
                        future, ahead = ahead, None
                        sent = future.result()
                        after = sent.next_page_token()
                        if after and self.executor is not None:
                            following = self._send_ahead(after, reserved)
                            reserved = None
                    page = self.client.list_contacts_v2(**self._params(token), sent=sent)
                    return page, following
                except BaseException as exc:
                    if following is not None:  # sent ahead for a page this call will not read
                        _discard(self.client, following)
                    if not isinstance(exc, TRANSIENT):
                        raise
                    self.on_error(exc)
                    if attempt == attempts:
                        raise PageFailed(describe(exc)) from exc
                    base = float(settings.SYNC_PAGE_BACKOFF_SECONDS)
                    time.sleep(random.uniform(0, min(30.0, base * 2**attempt)))  # noqa: S311
        finally:
            if reserved is not None:  # no page after this one was sent ahead on it
                self.client.release(reserved)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send_ahead(
        self, token: str, reserved: Reservation | None = None
    ) -> Future[SentCall] | None:
        """Begin the call for the page at `token` here (token, limiter grant unless `reserved`),
        and leave sending it and reading the answer to the executor's thread. None when no grant
        came now: the page is then fetched the ordinary way, with its retries."""
        assert self.executor is not None
        try:
            sent = self.client.start_list_contacts_v2(**self._params(token), reserved=reserved)
        except TRANSIENT as exc:
            log.info("Not fetching ahead: %s", describe(exc))
            if reserved is not None:
                self.client.release(reserved)
            return None
        return self.executor.submit(sent.send)

    def _params(self, token: str) -> dict[str, Any]:
        return {
            "page_size": int(settings.SYNC_PAGE_SIZE),
            "page_token": token,
            "filter": self.query["filter"],
            "order_by": self.query["order_by"],
        }


def _reserve(client: KeapClient) -> Reservation | None:
    try:
        return client.reserve()
    except TRANSIENT as exc:
        log.info("No grant ahead: %s", describe(exc))
        return None


def _discard(client: KeapClient, ahead: Future[SentCall]) -> None:
    try:
        sent = ahead.result()
    except Exception:  # sending raised (a bug): nothing went out to settle
        return
    try:
        client.discard(sent)
    except Exception:
        log.warning("Could not settle a page sent ahead and never read", exc_info=True)
