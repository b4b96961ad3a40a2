"""Keeping a connection's tokens fresh, single-flight, across threads, processes and machines.

Keap rotates refresh tokens: each refresh returns a new one and kills the old one at once. Two
workers refreshing the same connection at the same moment would leave one of them holding a dead
token, and the customer disconnected (infusionsoft-php #16, #99, #220). So every refresh happens
with the connection's row locked: lock, re-read, refresh only if nobody else already did, commit the
new pair, and only then use it. The HTTP call to Keap is made while the lock is held, deliberately:
that is what makes it single-flight.

Outcomes (docs/architecture.md, "Tokens"):
- a 400 from the token endpoint, after the re-read under the lock shows nobody rotated, means Keap
  revoked the grant: the connection turns `needs reconnect`, its work stops, the owner is emailed;
- timeouts and 5xx are retried with backoff and jitter, then a cooldown; they never flip the
  connection;
- a worker killed after Keap answered but before the commit leaves the row exactly as it was (one
  UPDATE in one transaction). Keap has already rotated, so the next refresh gets a 400 and the
  connection turns `needs reconnect` as above (docs/architecture.md, "Tokens").
"""

import logging
import random
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from webapp.connections.models import ConnectionEvent, KeapConnection
from webapp.keap import oauth
from webapp.keap.client import KeapClient
from webapp.keap.errors import KeapTokenError, KeapUnavailable
from webapp.limiter import Lane

log = logging.getLogger(__name__)

# Refresh when less than this much life is left on the access token.
REFRESH_MARGIN = timedelta(hours=1)
# Keap's refresh tokens live 45 days; refresh idle connections well before that.
KEEPALIVE_AGE = timedelta(days=30)
# Attempts at the token endpoint per refresh when it times out or fails (5xx), and their backoff.
REFRESH_ATTEMPTS = 3
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 4.0
# After the attempts are spent, leave Keap's token endpoint alone for this long.
REFRESH_COOLDOWN = timedelta(minutes=5)


class ConnectionNotActive(Exception):
    """The connection cannot be used to call Keap (disconnected, or waiting for its owner)."""


class NeedsReconnect(ConnectionNotActive):
    """Keap revoked the grant; only the customer reconnecting can restore it."""


@sensitive_variables()
def fresh_access_token(connection_id: int, *, rejected: str | None = None) -> str:
    """An access token for the connection with at least REFRESH_MARGIN of life left.

    `rejected` is a token Keap just answered 401 to: refresh unless someone already replaced it.
    """
    connection = KeapConnection.objects.get(pk=connection_id)
    _check_usable(connection)
    current = connection.access_token()
    if not _must_refresh(connection, current, rejected):
        return current
    cooling = _cooling_down(connection)
    if cooling and rejected is None and not _expired(connection):
        return current  # Keap's token endpoint is failing; the token still works for now
    if cooling:
        raise KeapUnavailable(
            f"Token refresh is cooling down until {connection.refresh_retry_after:%H:%M:%S} UTC."
        )

    with transaction.atomic():
        locked = KeapConnection.objects.select_for_update().get(pk=connection_id)
        _check_usable(locked)
        current = locked.access_token()
        # Someone else may have refreshed while we waited for the lock: then use theirs.
        if not _must_refresh(locked, current, rejected):
            return current
        outcome = _refresh_locked(locked, reason="401 from Keap" if rejected else "expiring")
    # Raised only now, after the commit: what the failure recorded must not be rolled back.
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def refresh_if_idle(connection_id: int) -> bool:
    """Keep-alive: refresh if the refresh token is older than KEEPALIVE_AGE. True if it refreshed."""
    return _refresh_active(
        connection_id, reason="keep-alive", issued_before=timezone.now() - KEEPALIVE_AGE
    )


def force_refresh(connection_id: int, *, reason: str) -> bool:
    """Refresh now, whatever the token's age (an operator's action). False if not active.

    Single-flight like every refresh: it waits for the row lock, so it never races another refresh.
    Raises what the refresh raised (NeedsReconnect, KeapUnavailable, KeapTokenError) after the commit.
    """
    return _refresh_active(connection_id, reason=reason)


@sensitive_variables()
def _refresh_active(
    connection_id: int, *, reason: str, issued_before: datetime | None = None
) -> bool:
    """Refresh an active connection under its row lock, unless its refresh token was issued at or
    after `issued_before` (refreshed since the job was queued). True if it refreshed."""
    with transaction.atomic():
        locked = KeapConnection.objects.select_for_update().get(pk=connection_id)
        if locked.status != KeapConnection.Status.ACTIVE or not locked.has_tokens:
            return False
        issued = locked.refresh_token_issued_at
        if issued_before is not None and issued and issued >= issued_before:
            return False
        outcome = _refresh_locked(locked, reason=reason)
    # Raised only now, after the commit: what the failure recorded must not be rolled back.
    if isinstance(outcome, Exception):
        raise outcome
    return True


@sensitive_variables()
def _refresh_locked(locked: KeapConnection, *, reason: str) -> str | Exception:
    """Refresh a connection whose row this transaction holds locked.

    Returns the new access token, or the exception to raise once the transaction has committed
    (raising inside it would roll back the failure's record).
    """
    refresh_token = locked.refresh_token()
    for attempt in range(REFRESH_ATTEMPTS):
        try:
            tokens = oauth.refresh(locked.developer_app, refresh_token=refresh_token)
            break
        except KeapUnavailable as exc:
            if attempt + 1 == REFRESH_ATTEMPTS:
                _record_transient_failure(locked, exc)
                return exc
            # Full jitter: refreshers that failed together do not come back together.
            delay = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt)
            time.sleep(random.uniform(0, delay))  # noqa: S311
        except KeapTokenError as exc:
            if exc.status == 400:
                _mark_needs_reconnect(locked, exc)
                return NeedsReconnect(f"Keap revoked access to {locked.app_name}.")
            raise  # 401: our client credentials are wrong; an operator must fix configuration

    locked.store_tokens(
        access_token=tokens.access_token,
        refresh_token=tokens.refresh_token,
        expires_at=tokens.expires_at,
    )
    locked.save()
    ConnectionEvent.objects.create(
        connection=locked, kind=ConnectionEvent.Kind.REFRESHED, detail=reason
    )
    log.info("Refreshed the tokens of connection %s (%s)", locked.pk, reason)
    return tokens.access_token


def _check_usable(connection: KeapConnection) -> None:
    if connection.status == KeapConnection.Status.NEEDS_RECONNECT:
        raise NeedsReconnect(f"Connection {connection.pk} needs its owner to reconnect.")
    if connection.status != KeapConnection.Status.ACTIVE or not connection.has_tokens:
        raise ConnectionNotActive(f"Connection {connection.pk} is {connection.status}.")


def _expired(connection: KeapConnection) -> bool:
    return connection.access_expires_at is None or connection.access_expires_at <= timezone.now()


@sensitive_variables()
def _must_refresh(connection: KeapConnection, current: str, rejected: str | None) -> bool:
    if rejected is not None:
        return current == rejected
    expires_at = connection.access_expires_at
    return expires_at is None or expires_at - timezone.now() < REFRESH_MARGIN


def _cooling_down(connection: KeapConnection) -> bool:
    return bool(connection.refresh_retry_after and connection.refresh_retry_after > timezone.now())


def _record_transient_failure(locked: KeapConnection, exc: Exception) -> None:
    # Saved in the same transaction as the caller's lock; nothing else about the row changes.
    locked.refresh_retry_after = timezone.now() + REFRESH_COOLDOWN
    locked.save(update_fields=["refresh_retry_after", "updated_at"])
    ConnectionEvent.objects.create(
        connection=locked, kind=ConnectionEvent.Kind.REFRESH_FAILED, detail=str(exc)[:500]
    )
    log.warning("Refreshing connection %s failed, cooling down: %s", locked.pk, exc)


def _mark_needs_reconnect(locked: KeapConnection, exc: KeapTokenError) -> None:
    locked.status = KeapConnection.Status.NEEDS_RECONNECT
    locked.forget_tokens()
    locked.save()
    ConnectionEvent.objects.create(
        connection=locked,
        kind=ConnectionEvent.Kind.NEEDS_RECONNECT,
        detail=f"Keap refused the refresh token ({exc.error or 'HTTP 400'})",
    )
    log.warning("Connection %s needs reconnect: Keap refused its refresh token", locked.pk)
    connection_id = locked.pk
    transaction.on_commit(lambda: _email_owner_to_reconnect(connection_id))


def _email_owner_to_reconnect(connection_id: int) -> None:
    connection = KeapConnection.objects.select_related("owner").get(pk=connection_id)
    url = settings.SITE_URL + reverse("connections:detail", args=[connection.pk])
    send_mail(
        subject=f"[Onramp] Reconnect your Keap app {connection.app_name}",
        message=(
            f"Keap no longer accepts Onramp's access to your Keap app {connection.app_name}"
            f" ({connection.business_name}), so Onramp has stopped working on it.\n\n"
            f"Reconnect it here; its history and synced data are kept:\n{url}\n"
        ),
        from_email=None,
        recipient_list=[connection.owner.email],
    )


class ConnectionTokens:
    """The Keap client's token source for one stored connection."""

    def __init__(self, connection_id: int) -> None:
        self.connection_id = connection_id

    def current(self) -> str:
        return fresh_access_token(self.connection_id)

    def after_rejection(self, rejected: str) -> str:
        return fresh_access_token(self.connection_id, rejected=rejected)


def client_for(connection_id: int, *, lane: Lane = Lane.INTERACTIVE) -> KeapClient:
    """A Keap client that calls on behalf of this connection, with fresh tokens, in `lane`."""
    connection = KeapConnection.objects.select_related("developer_app").get(pk=connection_id)
    return KeapClient(
        app=connection.developer_app,
        tokens=ConnectionTokens(connection_id),
        tenant=connection.app_name,
        connection_id=connection_id,
        lane=lane,
    )
