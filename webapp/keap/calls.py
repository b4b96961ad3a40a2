"""How Onramp makes one call to Keap: every call any KeapClient operation makes goes through Caller.

Each call, in order:
1. takes one unit of budget from the shared limiter (webapp.limiter), waiting exactly as long as it
   says; a call the limiter knows Keap would refuse is never sent, and when the limiter cannot be
   reached nothing is sent at all;
2. gets a fresh token from its TokenSource (refresh rules live there);
3. is sent with a timeout (webapp.keap.transport);
4. settles its grant with the limiter (the grant moves to the time the answer came, and the
   limiter rises to Keap's `x-keap-*` headers: one round trip) and records its usage;
5. on 401, refreshes the token once and tries again; on 429, pauses the whole bucket Keap named
   (Retry-After when present, else what the quota headers say) and tries again, since a 429 proves
   the call did not land; on a timeout or 5xx, backs off exponentially with full jitter, and tries
   again only if the call is idempotent or provably never reached Keap.

A call may also be split between two threads (reserve(), _begin(), discard()): see
webapp.keap.ahead. What Onramp asks of Keap (the operations) is webapp.keap.client.
"""

import logging
import math
import random
import time
import xmlrpc.client
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import requests
from django.views.decorators.debug import sensitive_variables

from webapp import limiter
from webapp.keap import answers, transport
from webapp.keap.ahead import Reservation, SentCall
from webapp.keap.errors import (
    KeapAuthError,
    KeapLimiterUnavailable,
    KeapNotFound,
    KeapProtocolError,
    KeapRejected,
    KeapThrottled,
    KeapUnavailable,
)
from webapp.keap.models import DeveloperApp
from webapp.limiter import Lane
from webapp.limiter.headers import QuotaSnapshot, parse_quota_headers
from webapp.usage import recorder
from webapp.usage.records import CallRecord, quota_from_snapshot

log = logging.getLogger(__name__)

# Transient failures (timeouts, 5xx, 429s) are tried this many times in all, with backoff between.
MAX_ATTEMPTS = 4
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 8.0
# A Retry-After longer than this is not believed: pause this long and let the headers speak.
RETRY_AFTER_CAP_SECONDS = 300.0
# A 429 on the spike arrest (25/second) with no Retry-After pauses the app this long.
SPIKE_PAUSE_SECONDS = 0.2
# How long a caller may wait for budget before giving up, by lane.
ACQUIRE_TIMEOUT_SECONDS = {Lane.INTERACTIVE: 20.0, Lane.BULK: 600.0}


class TokenSource(Protocol):
    """Where the client gets its bearer token. Keap's rotation rules live behind it."""

    def current(self) -> str:
        """A token to call Keap with now (refreshed first if it is about to expire)."""
        ...

    def after_rejection(self, rejected: str) -> str:
        """Keap answered 401 to `rejected`: a replacement, refreshing unless someone already did."""
        ...


@dataclass(frozen=True)
class StaticToken:
    """A token that cannot be refreshed: used right after the code exchange."""

    token: str = field(repr=False)

    def current(self) -> str:
        return self.token

    def after_rejection(self, rejected: str) -> str:
        return rejected  # nothing newer exists; the retry is skipped and KeapAuthError raised


class Caller:
    """Calls to Keap on behalf of one tenant (and usually one connection), in one lane."""

    def __init__(
        self,
        *,
        app: DeveloperApp,
        tokens: TokenSource,
        tenant: str,
        connection_id: int | None = None,
        lane: Lane = Lane.INTERACTIVE,
    ) -> None:
        self.app = app
        self.tokens = tokens
        self.tenant = tenant
        self.connection_id = connection_id
        self.lane = lane
        self.limits = app.limiter_limits()
        # Tries of one call (a caller that must not keep a person waiting may lower it).
        self.max_attempts = MAX_ATTEMPTS
        # Calls sent (or attempted) through this client so far: a sync run counts its spend.
        self.calls = 0

    # --- Calls begun ahead (webapp.keap.ahead) ---------------------------------------------

    def reserve(self) -> Reservation:
        """Step 1 of a call made later (start_list_contacts_v2(reserved=...)): the limiter's
        grant, taken now. One that will not be used must be release()d."""
        waited, grant = self._acquire("a call ahead")
        return Reservation(waited=waited, grant=grant)

    def release(self, reserved: Reservation) -> None:
        """A reservation that will not be used: its grant is settled now. It stays counted (the
        safe side), but no longer holds a slot of the limiter's second as a call in flight does."""
        self._settle(reserved.grant)

    def discard(self, sent: SentCall) -> None:
        """A call begun ahead whose answer is no longer wanted: if it went out, settled and
        recorded all the same (Keap counted it); if not, its grant released."""
        if sent.outcome is not None:
            self._after(
                sent.operation, sent.outcome, waited=sent.waited, retries=0, grant=sent.grant
            )
        else:
            self._settle(sent.grant)

    # --- Sending: token, limiter, send, settle, record --------------------------------------

    def _json(self, operation: str, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return answers.json_object(self._call(operation, method, path, **kwargs), path)

    def _xmlrpc(self, operation: str, method_name: str, params: tuple[Any, ...]) -> Any:
        payload = xmlrpc.client.dumps(params, method_name).encode()
        response = self._call(
            operation, "POST", "/xmlrpc/v1", data=payload,
            headers={"Content-Type": "text/xml"}, idempotent=False,
        )  # fmt: skip
        try:
            (answer,), _ = xmlrpc.client.loads(response.content)
        except xmlrpc.client.Fault as fault:
            raise KeapRejected(
                f"Keap's XML-RPC fault {str(fault.faultCode)[:20]}: {str(fault.faultString)[:300]}",
                status=response.status_code,
            ) from None
        except Exception:
            raise KeapProtocolError("Keap's XML-RPC answer is unreadable.") from None
        return answer

    @sensitive_variables()
    def _call(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        idempotent: bool | None = None,
        sent: SentCall | None = None,
        **request: Any,
    ) -> requests.Response:
        """Send one logical call, with the limiter, token and retry rules in the module docstring.

        `sent`: its first attempt, begun by _begin()."""
        if idempotent is None:
            idempotent = method in {"GET", "PUT", "DELETE", "PATCH"}
        if sent is not None and (sent.operation, sent.method, sent.path, sent.request) != (
            operation, method, path, request
        ):  # fmt: skip
            self.discard(sent)  # sent ahead for another call: not this one's answer
            sent = None
        token = sent.token if sent is not None else self.tokens.current()
        auth_retried = False
        for attempt in range(1, self.max_attempts + 1):
            if sent is not None:  # the first attempt, begun (and usually sent) already
                waited, grant, outcome, sent = sent.waited, sent.grant, sent.attempt(), None
            else:
                waited, grant = self._acquire(operation)
                try:
                    outcome = transport.send(self.app.api_url, method, path, token, request)
                except BaseException:  # a Celery time limit, say: the call is abandoned
                    self._settle(grant)
                    raise
            self._after(operation, outcome, waited=waited, retries=attempt - 1, grant=grant)
            status = outcome.status
            if status == 401 and not auth_retried:
                auth_retried = True
                replacement = self.tokens.after_rejection(token)
                if replacement != token:
                    token = replacement
                    continue
            if status == 401:
                raise KeapAuthError(
                    "Keap refused the access token.", errorcode=answers.fault_code(outcome.response)
                )
            if status == 429:
                self._pause(outcome.response)
                if attempt < self.max_attempts:
                    continue  # a 429 proves the call did not land
                raise KeapThrottled(f"Keap kept answering 429 to {operation}.")
            if status == 0 or status >= 500:
                if attempt < self.max_attempts and (idempotent or not outcome.landed):
                    _backoff(attempt)
                    continue
                raise KeapUnavailable(
                    f"Keap {'did not answer' if status == 0 else f'answered HTTP {status}'} "
                    f"for {operation}.",
                    landed=outcome.landed,
                )
            if status == 404:
                raise KeapNotFound(
                    answers.error_message(outcome.response) or f"Keap found nothing at {path}."
                )
            if status >= 400:
                raise KeapRejected(
                    answers.error_message(outcome.response)
                    or f"Keap refused {operation} (HTTP {status}).",
                    status=status,
                )
            if not 200 <= status < 300:  # a redirect, or a status no Keap API answers with
                raise KeapProtocolError(f"Keap answered HTTP {status} to {operation}.")
            assert outcome.response is not None
            return outcome.response
        raise AssertionError("unreachable")  # pragma: no cover

    @sensitive_variables()
    def _begin(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        reserved: Reservation | None = None,
        **request: Any,
    ) -> SentCall:
        """Steps 1 and 2 of a call (limiter, unless its grant was reserved; token);
        SentCall.send() and _call(sent=...) do the rest."""
        token = self.tokens.current()
        if reserved is None:
            waited, grant = self._acquire(operation)
        else:
            waited, grant = reserved.waited, reserved.grant
        return SentCall(self.app.api_url, operation, method, path, request, token, waited, grant)

    def _acquire(self, operation: str) -> tuple[bool, limiter.Decision]:
        """Take one unit of budget: whether the caller had to wait for it (it was throttled), and
        the grant, which `_after` settles once the answer is in."""
        try:
            # The common case costs one round trip; only a refused caller goes on to wait.
            decision = limiter.try_acquire(
                app=self.app.client_id, tenant=self.tenant, lane=self.lane, limits=self.limits
            )
            if decision.granted:
                return False, decision
            decision = limiter.acquire(
                app=self.app.client_id,
                tenant=self.tenant,
                lane=self.lane,
                limits=self.limits,
                timeout=ACQUIRE_TIMEOUT_SECONDS[self.lane],
            )
        except limiter.LimiterUnavailable as exc:
            raise KeapLimiterUnavailable(
                f"The shared rate limiter is unreachable, so nothing was sent to Keap ({exc})."
            ) from None
        except limiter.LimiterTimeout as exc:
            raise KeapThrottled(
                f"No budget for {operation} within {ACQUIRE_TIMEOUT_SECONDS[self.lane]:.0f}s "
                f"(bound by {exc.decision.bucket}, next in {exc.decision.wait_seconds:.1f}s).",
                wait_seconds=exc.decision.wait_seconds,
            ) from None
        return True, decision

    def _after(
        self,
        operation: str,
        outcome: transport.Attempt,
        *,
        waited: bool,
        retries: int,
        grant: limiter.Decision | None = None,
    ) -> None:
        self.calls += 1
        snapshot = (
            parse_quota_headers(outcome.response.headers) if outcome.response is not None else None
        )
        # One round trip: the grant moves to now (Keap counted the call when it arrived, at the
        # latest now), and our counts rise to Keap's headers. Also for a call with no answer.
        self._settle(grant, snapshot)
        _record_usage(
            app=self.app.client_id,
            connection_id=self.connection_id,
            tenant=self.tenant,
            operation=operation,
            lane=self.lane,
            status=outcome.status,
            latency_ms=outcome.latency_ms,
            throttled=waited or outcome.status == 429,
            retries=retries,
            snapshot=snapshot,
        )

    def _settle(
        self, grant: limiter.Decision | None, snapshot: QuotaSnapshot | None = None
    ) -> None:
        """Settle a grant (it stops counting as a call in flight, and stays counted), rising to
        Keap's headers when there are any. A limiter out of reach is only logged: the call has
        been made, or abandoned, either way."""
        try:
            limiter.settle(
                app=self.app.client_id,
                tenant=self.tenant,
                decision=grant,
                snapshot=snapshot,
                limits=self.limits,
            )
        except limiter.LimiterError as exc:
            log.warning("Could not settle a grant with the limiter: %s", exc)

    def _pause(self, response: requests.Response | None) -> None:
        """A 429 pauses the whole bucket Keap named, not just this request."""
        snapshot = (
            parse_quota_headers(response.headers) if response is not None else QuotaSnapshot()
        )
        tenant_exhausted = any(
            window is not None and window.available == 0
            for window in (snapshot.tenant_minute, snapshot.tenant_day)
        )
        seconds = _retry_after(response) or _seconds_until_budget(snapshot)
        limiter.pause(
            app=self.app.client_id,
            tenant=self.tenant if tenant_exhausted else None,
            seconds=seconds,
            bucket="tenant" if tenant_exhausted else "app",
        )


def _backoff(attempt: int) -> None:
    # Full jitter (AWS architecture blog): callers that failed together do not return together.
    time.sleep(random.uniform(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt)))  # noqa: S311


def _retry_after(response: requests.Response | None) -> float:
    """Seconds from a Retry-After header (seconds or an HTTP date), capped; 0 when absent."""
    value = response.headers.get("Retry-After", "").strip() if response is not None else ""
    if not value:
        return 0.0
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError, IndexError, OverflowError):
            return 0.0
    if not math.isfinite(seconds) or seconds <= 0:
        return 0.0
    return min(seconds, RETRY_AFTER_CAP_SECONDS)


def _seconds_until_budget(snapshot: QuotaSnapshot) -> float:
    """Without Retry-After (Keap does not document one): what the quota headers imply."""
    day = snapshot.app_day or snapshot.tenant_day
    if day is not None and day.available == 0 and day.reset_at_ms:
        return min(max(day.reset_at_ms / 1000 - time.time(), 1.0), 86_400.0)
    minute = snapshot.app_minute or snapshot.tenant_minute
    if minute is not None and minute.available == 0:
        return 5.0  # a rolling minute frees a little at a time; look again soon
    # The spike arrest: the limiter's own second window (settled at arrival) already keeps the
    # next calls apart; a short pause just lets the calls in flight land first.
    return SPIKE_PAUSE_SECONDS


def _record_usage(
    *, snapshot: QuotaSnapshot | None, lane: Lane, latency_ms: float, **call: Any
) -> None:
    """Hand the call to usage recording (a buffer: no database round trip on this path)."""
    recorder.record(
        CallRecord(
            lane="interactive" if lane is Lane.INTERACTIVE else "bulk",
            latency_ms=round(latency_ms),
            quota=quota_from_snapshot(snapshot) if snapshot is not None else {},
            **call,
        )
    )
