"""Typed results of Keap calls, read defensively from what Keap sends.

Keap's two REST versions name the same things differently (v1 `id` is a number and `last_updated`
looks like `2022-09-29T00:42:42.000+0000`; v2 `id` is a string and `update_time` is ISO-8601), so
both are read into one shape here. Anything that is not what the protocol promises raises
KeapProtocolError, never a KeyError or TypeError from deep inside a job.
"""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from webapp.keap.errors import KeapProtocolError


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


# Not frozen, with slots: a sync builds 1,000 of these per page, and a frozen dataclass's
# __init__ (object.__setattr__ per field) costs three times as much.
@dataclass(slots=True)
class Contact:
    """One Keap contact, from either REST version."""

    id: int
    given_name: str
    family_name: str
    email_addresses: list[dict[str, Any]]
    phone_numbers: list[dict[str, Any]]
    company: str
    tag_ids: list[int]
    updated_at: datetime | None
    raw: dict[str, Any] = field(repr=False)

    @property
    def email(self) -> str:
        """The first email address (EMAIL1 when present)."""
        emails = self.email_addresses
        if not emails:
            return ""
        first = emails[0] if len(emails) == 1 else min(emails, key=_email_field)
        return str(first.get("email", ""))


def _email_field(email: dict[str, Any]) -> str:
    return str(email.get("field", ""))


@dataclass(frozen=True)
class ContactPage:
    """One page of contacts. v1 pages by offset (`total` is Keap's count of all matches); v2 by
    opaque token (`next_page_token` empty on the last page, no total)."""

    contacts: list[Contact]
    total: int | None = None
    next_page_token: str = ""


@dataclass(frozen=True)
class GoalResult:
    """One goal Keap tried to achieve for a contact, and whether it fired."""

    success: bool
    message: str
    campaign_id: int | None
    goal_id: int | None


def text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    return "" if value is None else str(value)


def optional_int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def int_list(value: Any) -> list[int]:
    """The integers in a list (Keap sends tag ids as numbers or strings); the rest left out."""
    if isinstance(value, list):
        try:  # the common case: every item reads as an integer
            return [int(x) for x in value if x is not True and x is not False]
        except (TypeError, ValueError, OverflowError):
            pass
    else:
        return []  # a number, text or object where Keap promises a list: no ids to read
    ints = (optional_int(x) for x in value)
    return [number for number in ints if number is not None]


def parse_timestamp(value: Any) -> datetime | None:
    """Keap's v1 `...000+0000` and v2 ISO-8601 (`Z`) timestamps; None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    cleaned = value.replace("Z", "+00:00")
    if len(cleaned) >= 5 and cleaned[-5] in "+-" and cleaned[-3] != ":":
        cleaned = f"{cleaned[:-2]}:{cleaned[-2:]}"  # +0000 → +00:00
    try:
        parsed = datetime.fromisoformat(cleaned)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None


def _dict_list(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _contact(body: Any, *, version: str, updated: str) -> Contact:
    if not isinstance(body, dict) or optional_int(body.get("id")) is None:
        raise KeapProtocolError(f"A REST {version} contact has no id.")
    get = body.get
    company = get("company")
    company_name = text(company, "company_name") if isinstance(company, dict) else ""
    if version == "v1":
        company_name = text(body, "company_name") or company_name
    given_name, family_name = get("given_name"), get("family_name")
    return Contact(
        id=int(body["id"]),
        given_name="" if given_name is None else str(given_name),
        family_name="" if family_name is None else str(family_name),
        email_addresses=_dict_list(get("email_addresses")),
        phone_numbers=_dict_list(get("phone_numbers")),
        company=company_name,
        tag_ids=int_list(get("tag_ids")),
        updated_at=parse_timestamp(get(updated)),
        raw=body,
    )


def contact_from_v1(body: Any) -> Contact:
    return _contact(body, version="v1", updated="last_updated")


def contact_from_v2(body: Any) -> Contact:
    return _contact(body, version="v2", updated="update_time")


def goal_results(items: Any, *, id_key: str) -> list[GoalResult]:
    """REST v1 answers a list; v2 `{"results": [...]}`; XML-RPC a list of structs."""
    if not isinstance(items, list):
        raise KeapProtocolError("Keap's goal answer is not a list of results.")
    results = []
    for item in items:
        if not isinstance(item, dict):
            raise KeapProtocolError("Keap's goal answer holds something that is not a result.")
        results.append(
            GoalResult(
                success=bool(item.get("success")),
                message=text(item, "message") or text(item, "msg"),
                campaign_id=optional_int(item.get(id_key) or item.get("campaignId")),
                goal_id=optional_int(item.get("goal_id") or item.get("goalId")),
            )
        )
    return results
