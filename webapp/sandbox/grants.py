"""Codes and tokens: issuing, exchanging, rotating and checking them.

Workflow functions used by the OAuth views and the gateway. Every secret is handed out once and
stored only as its digest.
"""

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction

from webapp.sandbox import clock, switches
from webapp.sandbox.credentials import digest, new_secret
from webapp.sandbox.models import (
    AccessToken,
    AuthorizationCode,
    CodeExchange,
    DeveloperApp,
    Grant,
    KeapUser,
    Tenant,
)


class TokenError(Exception):
    """A refusal from the token endpoint, carrying Keap's `error` and `error_description`."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


INVALID_CODE = ("invalid_grant", "Invalid authorization code")
# Behind the `enforce_pkce` switch (Keap has no PKCE): RFC 7636 §4.6 answers a verifier that does
# not match with invalid_grant, as the sandbox answers any other bad code (what Keap itself answers
# for a bad code is unconfirmed, docs/keap/API.md §1.7).
MISSING_VERIFIER = ("invalid_grant", "code_verifier is required")
WRONG_VERIFIER = ("invalid_grant", "code_verifier does not match the code_challenge")
# RFC 7636 §4.1: 43 to 128 characters, unreserved ones only.
VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")
# The current gateway's wording for a reused, rotated or expired refresh token
# (docs/keap/API.md §1.7), and the Mashery-era one behind the `refresh_error` switch.
INVALID_REFRESH = ("invalid_request", "Invalid Refresh Token")
LEGACY_INVALID_REFRESH = ("invalid_grant", "Invalid refresh token")


def _invalid_refresh() -> TokenError:
    if switches.current()["refresh_error"] == "invalid_grant":
        return TokenError(*LEGACY_INVALID_REFRESH)
    return TokenError(*INVALID_REFRESH)


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    expires_in: int
    scope: str


def issue_code(
    *,
    developer_app: DeveloperApp,
    tenant: Tenant,
    keap_user: KeapUser,
    redirect_uri: str,
    state: str | None = None,
    code_challenge: str = "",
    code_challenge_method: str = "",
) -> str:
    """Create a single-use authorization code and return it (only its digest is kept)."""
    code = new_secret(24)
    now = clock.now()
    AuthorizationCode.objects.create(
        code_digest=digest(code),
        developer_app=developer_app,
        tenant=tenant,
        keap_user=keap_user,
        redirect_uri=redirect_uri,
        state=(state or "")[:256],
        code_challenge=code_challenge[:200],
        code_challenge_method=code_challenge_method[:10],
        created_at=now,
        expires_at=now + timedelta(seconds=settings.SANDBOX_CODE_SECONDS),
    )
    return code


def s256(code_verifier: str) -> str:
    """PKCE's S256 transform: BASE64URL(SHA256(verifier)) without padding (RFC 7636 §4.2)."""
    hashed = hashlib.sha256(code_verifier.encode("ascii", errors="replace")).digest()
    return base64.urlsafe_b64encode(hashed).rstrip(b"=").decode()


def exchange_code(
    *, developer_app: DeveloperApp, code: str, redirect_uri: str, code_verifier: str = ""
) -> TokenPair:
    """Trade an authorization code for a token pair; raise TokenError when it can't be used.

    Every attempt is recorded (CodeExchange), answered or refused.
    """
    row = (
        AuthorizationCode.objects.select_related("tenant")
        .filter(code_digest=digest(code), developer_app=developer_app)
        .first()
    )
    error = ""
    try:
        return _redeem(
            row, developer_app=developer_app, redirect_uri=redirect_uri, code_verifier=code_verifier
        )
    except TokenError as exc:
        error = exc.description
        raise
    finally:
        CodeExchange.objects.create(
            code=row,
            redirect_uri=redirect_uri,
            code_verifier_s256=s256(code_verifier) if code_verifier else "",
            error=error,
            created_at=clock.now(),
        )


def _redeem(
    row: AuthorizationCode | None,
    *,
    developer_app: DeveloperApp,
    redirect_uri: str,
    code_verifier: str,
) -> TokenPair:
    now = clock.now()
    replayed = None
    with transaction.atomic():
        if row is not None and row.used_at is not None:
            replayed = row
        elif row is not None and row.expires_at > now and row.redirect_uri == redirect_uri:
            # Checked before the claim: a wrong verifier does not spend the code, so whoever holds
            # the right one (the browser that asked for it) can still redeem it.
            _check_pkce(row, code_verifier)
            # The conditional update is the claim: of two concurrent exchanges only one wins.
            if AuthorizationCode.objects.filter(pk=row.pk, used_at__isnull=True).update(
                used_at=now
            ):
                grant, _ = Grant.objects.get_or_create(
                    developer_app=developer_app,
                    tenant=row.tenant,
                    keap_user_id=row.keap_user_id,
                    defaults={"created_at": now, "updated_at": now},
                )
                grant.tenant = row.tenant
                return _issue(grant=grant, origin_code=row, now=now)
            replayed = row
        if replayed is not None:
            # RFC 6749 4.1.2: a code used twice may have leaked; revoke what it produced.
            _revoke_descendants(replayed)
    raise TokenError(*INVALID_CODE)


def _check_pkce(row: AuthorizationCode, code_verifier: str) -> None:
    """With `enforce_pkce` on, a code issued for a code_challenge needs its verifier (S256 only)."""
    if not row.code_challenge or not switches.current()["enforce_pkce"]:
        return
    if not code_verifier:
        raise TokenError(*MISSING_VERIFIER)
    matches = row.code_challenge_method == "S256" and hmac.compare_digest(
        s256(code_verifier).encode(), row.code_challenge.encode()
    )
    if not VERIFIER.fullmatch(code_verifier) or not matches:
        raise TokenError(*WRONG_VERIFIER)


def refresh(*, developer_app: DeveloperApp, refresh_token: str) -> TokenPair:
    """Rotate a refresh token: a new pair is issued and the presented token dies at once."""
    now = clock.now()
    old = digest(refresh_token)
    with transaction.atomic():
        grant = (
            Grant.objects.select_related("tenant")
            .filter(
                refresh_token_digest=old,
                developer_app=developer_app,
                refresh_expires_at__gt=now,
            )
            .first()
        )
        if grant is None:
            raise _invalid_refresh()
        if switches.current()["refresh_revokes_access_token"]:
            # UNCONFIRMED in Keap (docs/keap/API.md §1.6); off by default: old access tokens
            # live on.
            AccessToken.objects.filter(grant=grant).delete()
        return _issue(grant=grant, origin_code=grant.origin_code, now=now, expected_refresh=old)


def _issue(
    *,
    grant: Grant,
    origin_code: AuthorizationCode | None,
    now: datetime,
    expected_refresh: str | None = None,
) -> TokenPair:
    access_token, refresh_token = new_secret(), new_secret()
    lifetimes = switches.current()
    access_seconds = lifetimes["access_token_seconds"]
    rows = Grant.objects.filter(pk=grant.pk)
    if expected_refresh is not None:
        # Compare-and-swap on the old digest: two refreshes racing with one token get one pair.
        rows = rows.filter(refresh_token_digest=expected_refresh)
    updated = rows.update(
        refresh_token_digest=digest(refresh_token),
        refresh_expires_at=now + timedelta(seconds=lifetimes["refresh_token_seconds"]),
        origin_code=origin_code,
        revoked_at=None,
        updated_at=now,
    )
    if not updated:
        raise _invalid_refresh()
    AccessToken.objects.create(
        token_digest=digest(access_token),
        grant=grant,
        origin_code=origin_code,
        created_at=now,
        expires_at=now + timedelta(seconds=access_seconds),
    )
    return TokenPair(
        access_token=access_token,
        refresh_token=refresh_token,
        expires_in=access_seconds,
        scope=grant.tenant.scope,
    )


def _revoke_descendants(code: AuthorizationCode) -> None:
    AccessToken.objects.filter(origin_code=code).delete()
    Grant.objects.filter(origin_code=code).update(
        refresh_token_digest=None, refresh_expires_at=None, revoked_at=clock.now()
    )


def find_access_token(token: str) -> AccessToken | None:
    """Return the live access token with this value, with its grant, tenant, user and app."""
    return (
        AccessToken.objects.select_related(
            "grant__tenant", "grant__keap_user", "grant__developer_app"
        )
        .filter(token_digest=digest(token), expires_at__gt=clock.now())
        .first()
    )


def find_bearer(token: str) -> tuple[int, int, int, Tenant] | None:
    """The hot path of the gateway: (grant id, keap user id, developer app id, tenant) for a live
    access token, in one query. Raw SQL because composing the ORM query cost more than the rest
    of a small API call together."""
    fields = [field.column for field in Tenant._meta.concrete_fields]
    columns = ", ".join(f"t.{column}" for column in fields)
    moment = connection.ops.adapt_datetimefield_value(clock.now())
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT g.id, g.keap_user_id, g.developer_app_id, {columns} "  # noqa: S608
            "FROM sandbox_accesstoken a JOIN sandbox_grant g ON g.id = a.grant_id "
            "JOIN sandbox_tenant t ON t.id = g.tenant_id "
            "WHERE a.token_digest = %s AND a.expires_at > %s",
            [digest(token), moment],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    tenant = Tenant.from_db(
        connection.alias, [f.attname for f in Tenant._meta.concrete_fields], row[3:]
    )
    return row[0], row[1], row[2], tenant
