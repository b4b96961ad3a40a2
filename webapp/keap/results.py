"""Typed results of Keap calls, read defensively from what Keap sends.

Keap's two REST versions name the same things differently (v1 `id` is a number and `last_updated`
looks like `2022-09-29T00:42:42.000+0000`; v2 `id` is a string and `update_time` is ISO-8601), so
both are read into one shape here. Anything that is not what the protocol promises raises
KeapProtocolError, never a KeyError or TypeError from deep inside a job.
"""

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
import orjson

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
    # The record's JSON text, which every field above was read from (the sync relies on it: text
    # free of NULs and lone surrogates gives fields free of them). On a page, Keap's own bytes for
    # the record; else as Onramp wrote it.
    raw_json: bytes = field(repr=False)

    @property
    def raw(self) -> Any:
        """The record, decoded."""
        return loads(self.raw_json)

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


@dataclass(frozen=True)
class Hook:
    """One REST hook subscription (v1 `RestHook`): Keap posts `event_key` events to `hook_url`."""

    key: str
    event_key: str
    hook_url: str = field(repr=False)  # its secret is the subscriber's credential
    status: str  # Unverified, Verified or Inactive


def hook_from_v1(body: Any) -> Hook:
    if not isinstance(body, dict):
        raise KeapProtocolError("Keap's hook subscription is not a JSON object.")
    key = body.get("key")
    if not isinstance(key, str | int) or isinstance(key, bool) or not str(key):
        raise KeapProtocolError("Keap's hook subscription has no key.")
    return Hook(
        key=str(key),
        event_key=text(body, "eventKey"),
        hook_url=text(body, "hookUrl"),
        status=text(body, "status"),
    )


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


def filter_time(moment: datetime) -> str:
    """A time as v2's filter wants it: ISO-8601 with milliseconds and Z."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _dict_list(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def loads(text: bytes) -> Any:
    """JSON as Keap sends it: orjson for speed, the json module for what orjson refuses (a lone
    surrogate escape, an integer past 64 bits)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def dumps(value: Any) -> bytes:
    """The JSON text of a decoded record, always valid JSON: orjson's, or for what it refuses
    (an integer past 64 bits, a lone surrogate) the json module's, in ASCII escapes. Either way
    a NaN or infinity (which the json module reads) is written as null, as orjson writes it."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        return json.dumps(finite(value), separators=(",", ":"), allow_nan=False).encode()


def finite(value: Any) -> Any:
    """A decoded JSON value with every NaN and infinity made null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [finite(item) for item in value]
    return value


def _contact(body: Any, *, version: str, updated: str, raw_json: bytes | None = None) -> Contact:
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
        raw_json=dumps(body) if raw_json is None else raw_json,
    )


# A v2 page of contacts, read fast. A sync reads 1,000 contacts a page, and decoding each into
# dicts (orjson) then typing them cost more than storing them. msgspec reads the page once,
# keeping each contact as the span of Keap's bytes it came in (msgspec.Raw: the raw record, not
# re-encoded), and then reads only the fields Onramp types into a struct, skipping the rest.
# Its types are strict: a record that is not what they say (a number for a name, null for a
# list) is read by _contact() instead, exactly as any contact is, so both give the same Contact.
# gc=False: these hold no cycles, so the garbage collector need not track 1,000 of them a page.
class _V2Company(msgspec.Struct, gc=False):
    company_name: str | None = None


class _V2Contact(msgspec.Struct, gc=False):
    id: str | int
    given_name: str | None = None
    family_name: str | None = None
    email_addresses: list[dict[str, Any]] = []
    phone_numbers: list[dict[str, Any]] = []
    company: _V2Company | None = None
    tag_ids: list[str | int] = []
    update_time: str | None = None


class _V2Page(msgspec.Struct, gc=False):
    contacts: list[msgspec.Raw]
    next_page_token: str | None = None


_read_v2_page = msgspec.json.Decoder(_V2Page).decode
_read_v2_contact = msgspec.json.Decoder(_V2Contact).decode


def contacts_from_v2_page(content: bytes) -> tuple[str, list[Contact]] | None:
    """A REST v2 contact list answer as (next page token, contacts); None when it is not of the
    plain shape (not UTF-8, not JSON, no `contacts` array, a token that is not text), for the
    caller to read and judge the general way. Raises KeapProtocolError as contact_from_v2 does
    for a contact without an id."""
    try:
        content.decode()  # msgspec does not check the UTF-8 of what it skips
        page = _read_v2_page(content)
        return page.next_page_token or "", [_v2_contact(bytes(span)) for span in page.contacts]
    except (UnicodeDecodeError, msgspec.MsgspecError, RecursionError):  # nested too deep
        return None


def _v2_contact(raw_json: bytes) -> Contact:
    try:
        wire = _read_v2_contact(raw_json)
        return Contact(
            id=int(wire.id),
            given_name="" if wire.given_name is None else wire.given_name,
            family_name="" if wire.family_name is None else wire.family_name,
            email_addresses=wire.email_addresses,
            phone_numbers=wire.phone_numbers,
            company=(wire.company and wire.company.company_name) or "",
            tag_ids=int_list(wire.tag_ids),
            updated_at=parse_timestamp(wire.update_time),
            raw_json=raw_json,
        )
    except (msgspec.ValidationError, ValueError):
        return _contact(loads(raw_json), version="v2", updated="update_time", raw_json=raw_json)


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
