"""Typed results of Keap calls, read defensively from what Keap sends.

Keap's two REST versions name the same things differently (v1 `id` is a number and `last_updated`
looks like `2022-09-29T00:42:42.000+0000`; v2 `id` is a string and `update_time` is ISO-8601), so
both are read into one shape here. Anything that is not what the protocol promises raises
KeapProtocolError, never a KeyError or TypeError from deep inside a job.
"""

import json
import re
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
    # The record exactly as Keap's JSON had it, when the list was read with split_json_list():
    # stored as is, so a sync never encodes the record again.
    raw_json: str = field(default="", repr=False, compare=False)

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


def _contact(body: Any, *, version: str, updated: str, raw_json: str) -> Contact:
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
        raw_json=raw_json,
    )


def contact_from_v1(body: Any, *, raw_json: str = "") -> Contact:
    return _contact(body, version="v1", updated="last_updated", raw_json=raw_json)


def contact_from_v2(body: Any, *, raw_json: str = "") -> Contact:
    return _contact(body, version="v2", updated="update_time", raw_json=raw_json)


_DECODER = json.JSONDecoder()
_SPACE = re.compile(r"[ \t\n\r]*")


def split_json_list(text: str, key: str) -> tuple[dict[str, Any], list[tuple[Any, str]]] | None:
    """Decode a JSON object, keeping the JSON text of each item of its `key` list.

    Returns the object and [(item, item's text)] (empty when `key` is not a list), or None when
    `text` is not a JSON object at all; the caller then decodes it the ordinary way and reports
    what is wrong. Our own walk over the top level only, because the json module gives no
    positions: each key and value is still decoded by its C scanner (raw_decode). Keeping each
    record's text spares a sync encoding every record again to store and digest it, which cost as
    much as decoding the page.
    """
    skip, decode = _SPACE.match, _DECODER.raw_decode
    body: dict[str, Any] = {}
    items: list[tuple[Any, str]] = []
    try:
        pos = skip(text, 0).end()
        if text[pos : pos + 1] != "{":
            return None
        pos = skip(text, pos + 1).end()
        closing = "}" if text[pos : pos + 1] == "}" else ""
        pos += len(closing)
        while not closing:
            name, pos = decode(text, pos)
            pos = skip(text, pos).end()
            if not isinstance(name, str) or text[pos : pos + 1] != ":":
                return None
            pos = skip(text, pos + 1).end()
            if name == key and text[pos : pos + 1] == "[":
                items, pos = _split_array(text, pos + 1)
                value: Any = [item for item, _ in items]
            else:
                value, pos = decode(text, pos)
                if name == key:
                    items = []
            body[name] = value
            pos = skip(text, pos).end()
            closing = "}" if text[pos : pos + 1] == "}" else ""
            if not closing and text[pos : pos + 1] != ",":
                return None
            pos = skip(text, pos + 1).end()
        if skip(text, pos).end() != len(text):
            return None
    except (ValueError, IndexError, RecursionError):  # JSONDecodeError is a ValueError
        return None
    return body, items


def _split_array(text: str, pos: int) -> tuple[list[tuple[Any, str]], int]:
    """The items of the array whose `[` is just before `pos`, each with its text; and the
    position after its `]`. Raises ValueError when it is not a well-formed array."""
    skip, decode = _SPACE.match, _DECODER.raw_decode
    items: list[tuple[Any, str]] = []
    append = items.append
    pos = skip(text, pos).end()
    if text[pos : pos + 1] == "]":
        return items, pos + 1
    while True:
        start = pos
        item, pos = decode(text, pos)
        append((item, text[start:pos]))
        pos = skip(text, pos).end()
        mark = text[pos : pos + 1]
        if mark == "]":
            return items, pos + 1
        if mark != ",":
            raise ValueError("not an array")
        pos = skip(text, pos + 1).end()


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
