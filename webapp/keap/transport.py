"""The HTTP underneath the Keap client: one pooled session per thread, and sending one request.

Three things differ from a plain requests.Session, each for a reason given where it is done:
no redirect is followed, a keep-alive connection idle past KEAP_HTTP_IDLE_SECONDS is never
reused, and a body is read whole in one go. `send()` turns every way a request can fail into an
`Attempt` (status 0 for no answer) that says whether the request provably never reached Keap.
"""

import http.client
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import requests
import urllib3
from django.conf import settings
from django.views.decorators.debug import sensitive_variables

log = logging.getLogger(__name__)

_sessions = threading.local()


@dataclass
class Attempt:
    """What one request came to: Keap's status (0: no answer) and the response, if any."""

    status: int = 0
    landed: bool = True  # False only when the request provably never reached Keap
    response: requests.Response | None = None
    latency_ms: float = 0.0


@sensitive_variables()
def send(base_url: str, method: str, path: str, token: str, request: dict[str, Any]) -> Attempt:
    """Send one request to Keap with the bearer token and read the whole answer."""
    extra = dict(request)  # a retry sends the same request again
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    headers.update(extra.pop("headers", None) or {})
    started = time.monotonic()
    try:
        response = session().request(
            method,
            f"{base_url.rstrip('/')}{path}",
            headers=headers,
            timeout=settings.KEAP_HTTP_TIMEOUT_SECONDS,
            allow_redirects=False,  # Keap's API never redirects; following one could leak
            stream=True,
            **extra,
        )
        _read_body(response)
    except requests.ConnectTimeout:
        return _no_answer(method, path, "connect timeout", landed=False)
    except requests.Timeout:
        return _no_answer(method, path, "read timeout", landed=True)
    except requests.ConnectionError as exc:
        # Refused before a byte was sent: provably never reached Keap. Anything else (a reset
        # mid-response, say) may have landed.
        never = "NewConnectionError" in repr(exc) or "Connection refused" in repr(exc)
        return _no_answer(method, path, type(exc).__name__, landed=not never)
    except requests.RequestException as exc:
        # An answer came but could not be read (cut short, bad chunks, a body that does not
        # decompress): the call landed, and what Keap said is unknown.
        return _no_answer(method, path, type(exc).__name__, landed=True)
    latency_ms = (time.monotonic() - started) * 1000
    return Attempt(status=response.status_code, response=response, latency_ms=latency_ms)


def _no_answer(method: str, path: str, why: str, *, landed: bool) -> Attempt:
    log.warning("Keap did not answer %s %s: %s", method, path, why)
    return Attempt(status=0, landed=landed, response=None)


class _NoRedirects(requests.Session):
    """Keap's API never redirects: a 3xx is an answer to judge, not a place to go.

    allow_redirects=False alone is not enough: requests still parses the Location and reads the
    body to prepare the next request, and raises untyped errors on garbage there.
    """

    def get_redirect_target(self, resp: requests.Response) -> None:
        return None


class _IdleLimit:
    """A connection pool that will not reuse a keep-alive connection idle for longer than
    KEAP_HTTP_IDLE_SECONDS: it is closed and a new one opened instead.

    Why our own: urllib3 reuses a pooled connection however long it sat idle, checking only that
    the server has not closed it yet, and neither it nor requests has an idle limit. A server
    closes idle connections on a timer of its own (gunicorn after 2 s, load balancers later),
    and when that happens while our request is on its way the request fails with no answer: a
    goal (a POST) cannot then be sent again safely, and usage counts a call Keap never saw.
    Closing our side first, well inside the server's timer, leaves no such race."""

    def _get_conn(self, timeout: float | None = None) -> Any:
        conn = super()._get_conn(timeout)  # type: ignore[misc]  # a mixin: urllib3's pool's method
        idle_since = getattr(conn, "onramp_idle_since", None)
        if (
            idle_since is not None
            and time.monotonic() - idle_since > settings.KEAP_HTTP_IDLE_SECONDS
        ):
            conn.close()  # reconnects on its next request, as urllib3 does for a dropped one
        return conn

    def _put_conn(self, conn: Any) -> None:
        if conn is not None:
            conn.onramp_idle_since = time.monotonic()
        super()._put_conn(conn)  # type: ignore[misc]  # a mixin: urllib3's pool's method


class _IdleLimitHTTPPool(_IdleLimit, urllib3.HTTPConnectionPool):
    pass


class _IdleLimitHTTPSPool(_IdleLimit, urllib3.HTTPSConnectionPool):
    pass


class _IdleLimitAdapter(requests.adapters.HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _IdleLimitHTTPPool,
            "https": _IdleLimitHTTPSPool,
        }


def session() -> requests.Session:
    """This thread's session: keep-alive connections to Keap, never shared across threads."""
    session = getattr(_sessions, "session", None)
    if session is None:
        session = _sessions.session = _NoRedirects()
        adapter = _IdleLimitAdapter()
        session.mount("http://", adapter)
        session.mount("https://", adapter)
    return session


def _read_body(response: requests.Response) -> None:
    """Read the whole body in one go, as the response's content.

    requests reads a body in 10 KB chunks, each a return to Python that must win the GIL back; in
    a thread fetching a page while another works, each of those waited up to the interpreter's
    switch interval (5 ms) and a 700 KB page took twice as long. urllib3's read() of the whole
    body reads it from the socket in as few calls as the data arrives in. Errors are raised as
    requests raises them when it reads the body itself.
    """
    try:
        content = response.raw.read(decode_content=True)
    except urllib3.exceptions.ReadTimeoutError as exc:
        response.close()
        raise requests.ReadTimeout(exc) from None
    except urllib3.exceptions.DecodeError as exc:
        response.close()
        raise requests.exceptions.ContentDecodingError(exc) from None
    except (urllib3.exceptions.HTTPError, OSError, http.client.HTTPException) as exc:
        response.close()
        raise requests.exceptions.ChunkedEncodingError(exc) from None
    # What requests itself stores once it has read a body (private, so not in its type stubs).
    response._content = content or b""
    response._content_consumed = True  # type: ignore[attr-defined]
