"""Connecting and disconnecting Keap accounts: the workflows behind the connection views."""

import logging
import time
from collections.abc import MutableMapping
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import QueryDict
from django.utils import timezone
from django.views.decorators.debug import sensitive_variables

from webapp import limiter
from webapp.accounts.models import User
from webapp.connections.models import ConnectionEvent, KeapConnection
from webapp.hooks import subscriptions
from webapp.hooks import tasks as hook_tasks
from webapp.keap import oauth
from webapp.keap.calls import StaticToken
from webapp.keap.client import KeapClient
from webapp.keap.errors import KeapError, KeapScopeError, KeapTokenError
from webapp.keap.models import DeveloperApp
from webapp.keap.oauth import TokenSet
from webapp.keap.results import AccountProfile, UserInfo
from webapp.schedule.today import initial_sync_now
from webapp.sync.flows import start_initial_sync  # sync: for save_connection

log = logging.getLogger(__name__)

# Where pending authorizations wait in the browser's session, keyed by state.
PENDING_KEY = "keap_oauth_pending"
PENDING_LIFETIME_SECONDS = 15 * 60
# A few tabs may be connecting at once; more than this and the oldest is forgotten.
PENDING_MAX = 5
# Generous bounds for what Keap sends back; anything longer is not Keap's.
MAX_PARAM_LENGTH = {"state": 256, "code": 2048, "error": 100, "scope": 512}


class ConnectError(Exception):
    """The callback cannot complete. The message is safe to show the customer."""

    status = 400


class ConnectDenied(ConnectError):
    """The customer chose Deny on Keap's consent page."""


class ConnectUnavailable(ConnectError):
    """Onramp itself cannot finish a connect now (its limiter's store is away): nothing was asked
    of Keap, so the customer loses nothing by trying again later."""

    status = 503
    retry_after = 60


def ensure_keap_callable(app: DeveloperApp) -> None:
    """Connecting ends in calls to Keap, which go through the shared limiter. Ask the limiter
    first: with its store (Redis) away, Keap's one-time code would be spent on a connect that
    cannot finish, and the customer told Keap failed when Onramp did."""
    try:
        limiter.in_flight(app=app.client_id)  # one cheap read of the limiter's store
    except limiter.LimiterUnavailable as exc:
        log.warning("Connect refused before asking Keap: %s", exc)
        raise ConnectUnavailable(
            "Onramp cannot connect Keap accounts right now: one of its own services is down. "
            "Nothing was connected and nothing was asked of Keap. Please try again in a few "
            "minutes."
        ) from None


def begin_connect(*, session: MutableMapping[str, Any]) -> str:
    """Start the authorization-code flow: remember state and verifier, return Keap's authorize URL."""
    app = DeveloperApp.objects.current()
    ensure_keap_callable(app)
    request = oauth.start_authorization(app)
    now = time.time()
    pending = {
        state: entry
        for state, entry in session.get(PENDING_KEY, {}).items()
        if now - entry["created"] < PENDING_LIFETIME_SECONDS
    }
    pending[request.state] = {"verifier": request.code_verifier, "created": now}
    newest = sorted(pending.items(), key=lambda item: item[1]["created"])[-PENDING_MAX:]
    session[PENDING_KEY] = dict(newest)
    return request.url


@sensitive_variables()
def _claim_pending(session: MutableMapping[str, Any], state: str) -> str | None:
    """Take the verifier for this state out of the session. Each state works once."""
    pending = dict(session.get(PENDING_KEY, {}))
    entry = pending.pop(state, None) if state else None
    if entry is None:
        return None  # nothing to take: a forged or replayed callback costs no session write
    session[PENDING_KEY] = pending
    if time.time() - entry["created"] >= PENDING_LIFETIME_SECONDS:
        return None
    return str(entry["verifier"])


def _single(params: QueryDict, name: str) -> str:
    values = params.getlist(name)
    if len(values) > 1:
        raise ConnectError(f"Keap's answer has more than one “{name}”; it was not accepted.")
    value = values[0] if values else ""
    if len(value) > MAX_PARAM_LENGTH[name]:
        raise ConnectError(f"Keap's answer has an over-long “{name}”; it was not accepted.")
    return value


@sensitive_variables()
def complete_connect(
    *, user: User, session: MutableMapping[str, Any], params: QueryDict
) -> KeapConnection:
    """Finish the flow at the callback: check everything, exchange the code, store the connection."""
    app = DeveloperApp.objects.current()
    ensure_keap_callable(app)  # before the state is used up: the same answer works again later
    state = _single(params, "state")
    verifier = _claim_pending(session, state)
    if verifier is None:
        raise ConnectError(
            "This connection attempt was not started from this browser, was already used, or has "
            "expired. Nothing was connected."
        )
    error = _single(params, "error")
    if error == "access_denied":
        raise ConnectDenied("You chose not to allow Onramp to access your Keap account.")
    if error:
        raise ConnectError(f"Keap did not grant access ({error}). Nothing was connected.")
    code = _single(params, "code")
    if not code:
        raise ConnectError("Keap's answer has no authorization code. Nothing was connected.")

    try:
        tokens = oauth.exchange_code(app, code=code, code_verifier=verifier)
        keap = KeapClient(app=app, tokens=StaticToken(tokens.access_token), tenant=tokens.app_name)
        userinfo = keap.userinfo()
        profile = keap.account_profile()
    except KeapTokenError:
        raise ConnectError(
            "Keap did not accept the authorization (it may have expired). Please try again."
        ) from None
    except KeapScopeError as exc:
        raise ConnectError(
            f"{exc} Nothing was connected. Connect again and allow full access (if your Keap "
            "account limits what apps may do, ask its administrator first)."
        ) from None
    except KeapError as exc:
        log.warning("Connecting a Keap account failed: %s", exc)
        raise ConnectError(
            "Keap could not be reached to finish connecting. Please try again."
        ) from None

    return save_connection(app=app, user=user, tokens=tokens, userinfo=userinfo, profile=profile)


@sensitive_variables()
def save_connection(
    *,
    app: DeveloperApp,
    user: User,
    tokens: TokenSet,
    userinfo: UserInfo,
    profile: AccountProfile,
) -> KeapConnection:
    """Create or heal the connection for this Keap app, in place, with the new tokens."""
    app_name = tokens.app_name
    with transaction.atomic():
        connection, created = KeapConnection.objects.select_for_update().get_or_create(
            owner=user, app_name=app_name, defaults={"developer_app": app}
        )
        connection.developer_app = app
        reconnected = not created
        recovered = connection.status == KeapConnection.Status.NEEDS_RECONNECT
        connection.business_name = profile.name
        connection.scope = tokens.scope
        connection.keap_user_email = userinfo.email
        connection.keap_user_id = str(userinfo.global_user_id or userinfo.sub)
        paused = connection.status == KeapConnection.Status.PAUSED
        # A staff pause outlives a reconnect: the new tokens are kept, work waits for "Resume".
        connection.status = KeapConnection.Status.PAUSED if paused else KeapConnection.Status.ACTIVE
        connection.connected_at = timezone.now()
        connection.disconnected_at = None
        connection.store_tokens(
            access_token=tokens.access_token,
            refresh_token=tokens.refresh_token,
            expires_at=tokens.expires_at,
        )
        connection.save()
        ConnectionEvent.objects.create(
            connection=connection,
            kind=ConnectionEvent.Kind.RECONNECTED
            if reconnected
            else ConnectionEvent.Kind.CONNECTED,
            actor=user,
            detail=" ".join(
                part
                for part in (
                    "Recovered after Keap revoked access." if recovered else "",
                    f"Keap user {userinfo.email}" if userinfo.email else "",
                )
                if part
            ),
        )
        if not paused:
            # The first contact sync, unless today's budget for initial syncs is spent (then the
            # day's plan starts it, first come first served); and Keap's REST hooks.
            if initial_sync_now(app):
                transaction.on_commit(lambda: start_initial_sync(connection))
            if settings.HOOKS_ENABLED:
                hook_tasks.subscribe_hooks.delay_on_commit(connection_id=connection.pk)
    log.info(
        "Connection %s to Keap app %s %s",
        connection.pk,
        app_name,
        "reconnected" if reconnected else "created",
    )
    return connection


def disconnect(*, connection: KeapConnection, actor: User | None, delete_data: bool = False) -> int:
    """Delete the tokens at once and mark the connection disconnected; optionally its synced data.

    Keap has no revoke endpoint, so forgetting the tokens is what disconnecting means. Queued work
    for the connection finds it no longer active and stops (every task checks before calling
    Keap). Returns how many synced contacts were deleted.
    """
    from webapp.sync.models import Contact

    # While the tokens still work: Keap stops pushing this connection's changes.
    subscriptions.unsubscribe(connection_id=connection.pk)
    with transaction.atomic():
        locked = KeapConnection.objects.select_for_update().get(pk=connection.pk)
        locked.forget_tokens()
        locked.status = KeapConnection.Status.DISCONNECTED
        locked.disconnected_at = timezone.now()
        locked.save()
        deleted = Contact.objects.for_connection(locked).delete()[0] if delete_data else 0
        ConnectionEvent.objects.create(
            connection=locked,
            kind=ConnectionEvent.Kind.DISCONNECTED,
            actor=actor,
            detail=f"Deleted {deleted} synced contacts." if delete_data else "",
        )
    connection.refresh_from_db()
    return deleted
