"""Keap's OAuth 2.0 authorization-code flow, through requests-oauthlib.

Keap treats integrations as confidential clients: the code exchange sends client_id and client_secret
in the form body and no Authorization header (docs/keap/API.md §1.3). PKCE is not documented by Keap; Onramp sends
an S256 challenge and the verifier anyway, which Keap ignores and which protects the code if it leaks.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from django.conf import settings
from django.views.decorators.debug import sensitive_variables
from oauthlib.oauth2 import OAuth2Error, WebApplicationClient
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth2Session

from webapp.keap.errors import KeapProtocolError, KeapScopeError, KeapTokenError, KeapUnavailable
from webapp.keap.models import DeveloperApp

log = logging.getLogger(__name__)

SCOPE = "full"


@dataclass(frozen=True)
class AuthorizationRequest:
    """Where to send the browser, and what to remember in its session until the callback."""

    url: str
    state: str = field(repr=False)
    code_verifier: str = field(repr=False)


@dataclass(frozen=True)
class TokenSet:
    """The pair Keap issued. The repr shows no secret."""

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    expires_at: datetime
    scope: str

    @property
    def app_name(self) -> str:
        """The Keap app the grant is for: `full|ab123.infusionsoft.com` gives `ab123`."""
        return app_name_from_scope(self.scope)


def app_name_from_scope(scope: str) -> str:
    """Read the tenant's app name from Keap's `full|<app>.infusionsoft.com` scope."""
    _, _, host = scope.partition("|")
    if not host:
        raise KeapProtocolError("Keap's scope does not name a Keap app.")
    return host.removesuffix(".infusionsoft.com")


def require_full_access(scope: str) -> None:
    """Refuse a grant narrower than `full` (Keap's only documented scope, docs/keap/API.md 1.2):
    Onramp syncs contacts and completes goals, so it stores no connection it could not serve."""
    granted, _, _ = scope.partition("|")
    if set(granted.split()) != {SCOPE}:
        raise KeapScopeError(
            f"Keap granted “{granted or 'no'}” access where Onramp needs full access."
        )


def start_authorization(app: DeveloperApp) -> AuthorizationRequest:
    """Build the authorize URL with a fresh state and a PKCE S256 challenge."""
    client = WebApplicationClient(app.client_id)
    verifier = client.create_code_verifier(length=64)
    challenge = client.create_code_challenge(verifier, code_challenge_method="S256")
    session = OAuth2Session(app.client_id, redirect_uri=settings.KEAP_REDIRECT_URI, scope=[SCOPE])
    url, state = session.authorization_url(
        app.authorize_url, code_challenge=challenge, code_challenge_method="S256"
    )
    return AuthorizationRequest(url=url, state=state, code_verifier=verifier)


@sensitive_variables()
def exchange_code(
    app: DeveloperApp, *, code: str, code_verifier: str, redirect_uri: str = ""
) -> TokenSet:
    """Trade an authorization code for Keap's token pair (credentials in the form body).

    `redirect_uri` must be the one the authorization request named (default: KEAP_REDIRECT_URI).
    """
    session = _session(app, redirect_uri or settings.KEAP_REDIRECT_URI)
    with _token_endpoint_errors("authorization code"):
        token = session.fetch_token(
            app.token_url,
            code=code,
            client_secret=app.client_secret(),
            include_client_id=True,
            code_verifier=code_verifier,
            timeout=settings.KEAP_HTTP_TIMEOUT_SECONDS,
        )
    tokens = _token_set(token)
    app_name_from_scope(tokens.scope)  # a grant that names no Keap app is of no use to Onramp
    require_full_access(tokens.scope)
    return tokens


@sensitive_variables()
def refresh(app: DeveloperApp, *, refresh_token: str) -> TokenSet:
    """Trade a refresh token for a new pair. Keap rotates: the old refresh token dies at once.

    Client credentials go in a Basic header and the body carries only grant_type and refresh_token
    (docs/keap/API.md §1.4). If Keap answers without a refresh token, the old one is kept.
    """
    session = _session(app, settings.KEAP_REDIRECT_URI)
    with _token_endpoint_errors("refresh token"):
        token = session.refresh_token(
            app.token_url,
            refresh_token=refresh_token,
            auth=HTTPBasicAuth(app.client_id, app.client_secret()),
            timeout=settings.KEAP_HTTP_TIMEOUT_SECONDS,
        )
    return _token_set(token)


def _session(app: DeveloperApp, redirect_uri: str) -> OAuth2Session:
    # No scope on this session: Keap answers `full|<app>.infusionsoft.com`, which oauthlib would
    # otherwise report as a changed scope and refuse.
    session = OAuth2Session(app.client_id, redirect_uri=redirect_uri)
    session.register_compliance_hook("access_token_response", _raise_for_server_error)
    session.register_compliance_hook("refresh_token_response", _raise_for_server_error)
    return session


@contextmanager
def _token_endpoint_errors(what: str) -> Iterator[None]:
    """Turn whatever requests and oauthlib raise into Onramp's typed errors, without secrets."""
    # Every exception leaves as a new one raised here, `from None`: the frames of requests-oauthlib
    # hold the request body (code, verifier, secret, refresh token), and no error page, reporter
    # or log handler may ever walk them.
    try:
        yield
    except KeapTokenError as exc:  # raised by our compliance hook, deep inside requests-oauthlib
        raise KeapTokenError(str(exc), status=exc.status, error=exc.error) from None
    except KeapUnavailable as exc:
        raise KeapUnavailable(str(exc)) from None
    except OAuth2Error as exc:
        status = exc.status_code or 400
        log.warning("Keap refused the %s: %s (HTTP %s)", what, exc.error, status)
        raise KeapTokenError(
            f"Keap refused the {what} ({exc.error}).", status=status, error=exc.error
        ) from None
    except (requests.Timeout, requests.ConnectionError) as exc:
        raise KeapUnavailable(
            f"Keap's token endpoint did not answer: {type(exc).__name__}"
        ) from None
    except ValueError:
        raise KeapProtocolError(
            "Keap's token endpoint answered with something unreadable."
        ) from None
    except Exception as exc:
        raise KeapProtocolError(
            f"The call to Keap's token endpoint failed unexpectedly ({type(exc).__name__})."
        ) from None


def _raise_for_server_error(response: requests.Response) -> requests.Response:
    """Judge the token endpoint's status before oauthlib reads the body as a token.

    5xx is Keap being down (retry); 4xx is a refusal whose status matters: 400 means the grant is
    gone and the customer must reconnect, 401 means our client credentials are wrong.
    """
    if response.status_code >= 500:
        raise KeapUnavailable(f"Keap's token endpoint answered HTTP {response.status_code}.")
    if response.status_code >= 400:
        try:
            error = str(response.json().get("error", ""))[:100]
        except (ValueError, AttributeError):
            error = ""
        log.warning("Keap's token endpoint refused: %s (HTTP %s)", error, response.status_code)
        raise KeapTokenError(
            f"Keap's token endpoint refused ({error or 'no reason given'}).",
            status=response.status_code,
            error=error,
        )
    return response


@sensitive_variables()
def _token_set(token: dict[str, Any]) -> TokenSet:
    try:
        expires_in = int(token["expires_in"])
        scope = token.get("scope") or ""
        if isinstance(scope, list):
            scope = " ".join(scope)
        return TokenSet(
            access_token=str(token["access_token"]),
            refresh_token=str(token.get("refresh_token") or ""),
            expires_at=datetime.now(UTC) + timedelta(seconds=expires_in),
            scope=scope,
        )
    except (KeyError, TypeError, ValueError):
        raise KeapProtocolError("Keap's token response is missing a field.") from None
