"""Calls to Keap's REST API made with an access token.

For now: who the token belongs to (userinfo) and which business it is (account profile), which is what
connecting an account needs. Every request has a timeout and every failure is a typed error.
"""

from dataclasses import dataclass, field
from typing import Any, Protocol

import requests
from django.conf import settings

from webapp.keap.errors import KeapAuthError, KeapError, KeapProtocolError, KeapUnavailable


@dataclass(frozen=True)
class UserInfo:
    """The Keap user who granted access (REST v1 `UserInfoDTO`)."""

    email: str
    given_name: str
    family_name: str
    global_user_id: int | None
    sub: str


@dataclass(frozen=True)
class AccountProfile:
    """The business behind a Keap app (REST v1 `AccountProfile`)."""

    name: str
    email: str
    phone: str
    website: str
    time_zone: str


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
        return rejected  # nothing newer exists; the retry fails and raises KeapAuthError


class KeapClient:
    """Keap's REST API for one connection. A 401 refreshes the token once and retries."""

    def __init__(self, *, tokens: TokenSource) -> None:
        self.tokens = tokens

    def userinfo(self) -> UserInfo:
        """Who granted the token: GET /rest/v1/oauth/connect/userinfo."""
        body = self._get("/v1/oauth/connect/userinfo")
        global_user_id = body.get("global_user_id")
        return UserInfo(
            email=_text(body, "email"),
            given_name=_text(body, "given_name"),
            family_name=_text(body, "family_name"),
            global_user_id=global_user_id if isinstance(global_user_id, int) else None,
            sub=_text(body, "sub"),
        )

    def account_profile(self) -> AccountProfile:
        """The Keap app's business profile: GET /rest/v1/account/profile."""
        body = self._get("/v1/account/profile")
        return AccountProfile(
            name=_text(body, "name"),
            email=_text(body, "email"),
            phone=_text(body, "phone"),
            website=_text(body, "website"),
            time_zone=_text(body, "time_zone"),
        )

    def _get(self, path: str) -> dict[str, Any]:
        token = self.tokens.current()
        response = _send("GET", path, token)
        if response.status_code == 401:
            retry_with = self.tokens.after_rejection(token)
            if retry_with != token:
                response = _send("GET", path, retry_with)
        return _json_object(response, path)


def _send(method: str, path: str, token: str) -> requests.Response:
    url = f"{settings.KEAP_API_URL}/rest{path}"
    try:
        return requests.request(
            method,
            url,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=settings.KEAP_HTTP_TIMEOUT_SECONDS,
        )
    except (requests.Timeout, requests.ConnectionError) as exc:
        raise KeapUnavailable(f"Keap did not answer {path}: {type(exc).__name__}") from None


def _json_object(response: requests.Response, path: str) -> dict[str, Any]:
    if response.status_code == 401:
        raise KeapAuthError("Keap refused the access token.", errorcode=_fault_code(response))
    if response.status_code >= 500:
        raise KeapUnavailable(f"Keap answered HTTP {response.status_code} for {path}.")
    if response.status_code != 200:
        raise KeapError(f"Keap answered HTTP {response.status_code} for {path}.")
    try:
        body = response.json()
    except ValueError:
        raise KeapProtocolError(f"Keap's answer to {path} is not JSON.") from None
    if not isinstance(body, dict):
        raise KeapProtocolError(f"Keap's answer to {path} is not a JSON object.")
    return body


def _fault_code(response: requests.Response) -> str:
    try:
        return str(response.json()["fault"]["detail"]["errorcode"])
    except (ValueError, KeyError, TypeError):
        return ""


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    return "" if value is None else str(value)
