"""What a contact may hold in each API version: the fields and enums of Keap's two dialects, the
check of a request body against them, and Keap's timestamps. Field lists follow Keap's OpenAPI
documents (v1 2025-11-05, v2 2026-08); storing and rendering contacts is webapp.sandbox.contacts.
"""

import re
import time
from datetime import UTC, date, datetime
from typing import Any

from webapp.sandbox import clock
from webapp.sandbox.api_errors import BadInput

# --- the two dialects' enums ---------------------------------------------------------------

EMAIL_STATUSES_V1 = [
    "UnengagedMarketable", "SingleOptIn", "DoubleOptin", "Confirmed", "UnengagedNonMarketable",
    "NonMarketable", "Lockdown", "Bounce", "HardBounce", "Manual", "Admin", "System",
    "ListUnsubscribe", "Feedback", "Spam", "Invalid", "Deactivated",
]  # fmt: skip
EMAIL_STATUS_V2 = {
    "UnengagedMarketable": "UNENGAGED_MARKETABLE", "SingleOptIn": "SINGLE_OPT_IN",
    "DoubleOptin": "DOUBLE_OPT_IN", "Confirmed": "CONFIRMED",
    "UnengagedNonMarketable": "UNENGAGED_NON_MARKETABLE", "NonMarketable": "NON_MARKETABLE",
    "Lockdown": "LOCKDOWN", "Bounce": "BOUNCE", "HardBounce": "HARD_BOUNCE", "Manual": "MANUAL",
    "Admin": "ADMIN", "System": "SYSTEM", "ListUnsubscribe": "LIST_UNSUBSCRIBE",
    "Feedback": "FEEDBACK", "Spam": "SPAM", "Invalid": "INVALID", "Deactivated": "DEACTIVATED",
}  # fmt: skip
OPTED_IN = {"SingleOptIn", "DoubleOptin", "Confirmed", "UnengagedMarketable"}
SOURCE_TYPE_V2 = {
    "APPOINTMENT": "APPOINTMENT", "FORMAPIHOSTED": "FORM_API_HOSTED",
    "FORMAPIINTERNAL": "FORM_API_INTERNAL", "WEBFORM": "WEBFORM", "INTERNALFORM": "INTERNAL_FORM",
    "LANDINGPAGE": "LANDING_PAGE", "IMPORT": "IMPORT", "MANUAL": "MANUAL", "API": "API",
    "OTHER": "OTHER", "UNKNOWN": "UNKNOWN",
}  # fmt: skip
SOURCE_TYPE_V1 = {v2: v1 for v1, v2 in SOURCE_TYPE_V2.items()}
SOCIAL_V2 = {
    "Facebook": "FACEBOOK", "Twitter": "TWITTER", "LinkedIn": "LINKED_IN",
    "Instagram": "INSTAGRAM", "Snapchat": "SNAPCHAT", "YouTube": "YOUTUBE",
    "Pinterest": "PINTEREST",
}  # fmt: skip
SOCIAL_V1 = {v2: v1 for v1, v2 in SOCIAL_V2.items()}
ADDRESS_FIELDS = ["BILLING", "SHIPPING", "OTHER"]
EMAIL_FIELDS = ["EMAIL1", "EMAIL2", "EMAIL3"]
PHONE_FIELDS = ["PHONE1", "PHONE2", "PHONE3", "PHONE4", "PHONE5"]
FAX_FIELDS = ["FAX1", "FAX2"]

# --- request body checking -----------------------------------------------------------------
# Specs: "str", "int", "bool", "date", "datetime", "idstr" (a numeric string), "any",
# ("str", max_length), ("enum", values), ("list", item), ("obj", fields, required).


def _obj(fields: dict[str, Any], required: tuple[Any, ...] = ()) -> tuple[Any, ...]:
    return ("obj", fields, required)


def _list(item: Any) -> tuple[Any, ...]:
    return ("list", item)


def _enum(*values: str) -> tuple[Any, ...]:
    return ("enum", values)


NAME = ("str", 40)
V1_ADDRESS = _obj(
    {
        "country_code": "str", "field": _enum(*ADDRESS_FIELDS), "line1": "str", "line2": "str",
        "locality": "str", "postal_code": "str", "region": "str", "zip_code": "str",
        "zip_four": "str",
    },
    ("field",),
)  # fmt: skip
V1_CONTACT = {
    "addresses": _list(V1_ADDRESS),
    "anniversary": "date",
    "birthday": "datetime",
    "company": _obj({"id": "int"}),
    "contact_type": "str",
    "custom_fields": _list(_obj({"id": "int", "content": "any"}, ("id",))),
    "email_addresses": _list(_obj({"email": "str", "field": _enum(*EMAIL_FIELDS)}, ("field",))),
    "family_name": NAME,
    "fax_numbers": _list(
        _obj({"field": _enum(*FAX_FIELDS), "number": "str", "type": "str"}, ("field",))
    ),
    "given_name": NAME,
    "job_title": "str",
    "lead_source_id": "int",
    "middle_name": "str",
    "opt_in_reason": "str",
    "origin": _obj({"ip_address": "str"}, ("ip_address",)),
    "owner_id": "int",
    "phone_numbers": _list(
        _obj(
            {"extension": "str", "field": _enum(*PHONE_FIELDS), "number": "str", "type": "str"},
            ("field",),
        )
    ),
    "preferred_locale": "str",
    "preferred_name": "str",
    "prefix": "str",
    "social_accounts": _list(_obj({"name": "str", "type": _enum(*SOCIAL_V2)})),
    "source_type": _enum(*SOURCE_TYPE_V2),
    "spouse_name": "str",
    "suffix": "str",
    "time_zone": "str",
    "website": "str",
}
V1_UPSERT = {**V1_CONTACT, "duplicate_option": _enum("Email", "EmailAndName")}
V2_ADDRESS = _obj(
    {
        "country": "str", "country_code": "str", "field": _enum(*ADDRESS_FIELDS), "line1": "str",
        "line2": "str", "locality": "str", "postal_code": "str", "region": "str",
        "region_code": "str", "zip_code": "str", "zip_four": "str",
    }
)  # fmt: skip
V2_CONTACT = {
    "addresses": _list(V2_ADDRESS),
    "company": _obj({"id": "idstr", "company_name": "str"}),
    "origin": _obj({"ip_address": "str"}),
    "prefix": "str",
    "suffix": "str",
    "website": ("str", 100),
    "anniversary_date": "date",
    "birth_date": "date",
    "contact_type": "str",
    "custom_fields": _list(_obj({"id": "idstr", "content": "any"}, ("id",))),
    "email_addresses": _list(
        _obj({"email": "str", "field": _enum(*EMAIL_FIELDS), "opt_in_reason": "str"})
    ),
    "family_name": NAME,
    "fax_numbers": _list(_obj({"number": "str", "type": "str", "field": _enum(*FAX_FIELDS)})),
    "given_name": NAME,
    "job_title": ("str", 255),
    "leadsource_id": "idstr",
    "middle_name": ("str", 100),
    "owner_id": "idstr",
    "phone_numbers": _list(
        _obj(
            {
                "extension": "str",
                "number": "str",
                "type": "str",
                "field": _enum(*PHONE_FIELDS),
                "number_e164": "str",
            }
        )
    ),
    "preferred_locale": "str",
    "preferred_name": ("str", 100),
    "referral_code": "str",
    "social_accounts": _list(_obj({"name": "str", "type": _enum(*SOCIAL_V1)}, ("type",))),
    "source_type": _enum(*SOURCE_TYPE_V1),
    "spouse_name": ("str", 100),
    "time_zone": "str",
    "utm_parameters": "any",
    "assistant_name": ("str", 20),
    "assistant_phone": ("str", 15),
    "billing_information": ("str", 100),
}


def check_body(body: Any, fields: dict[str, Any]) -> dict[str, Any]:
    """Return the body if it is an object of known, well-typed fields; raise BadInput if not."""
    if not isinstance(body, dict):
        raise BadInput("Request body must be a JSON object")
    checked: dict[str, Any] = _check(body, ("obj", fields, ()), "")
    return checked


def _check(value: Any, spec: Any, where: str) -> Any:
    if value is None:
        return None  # JSON null clears a field, as Keap's (Jackson) binding allows
    kind = spec[0] if isinstance(spec, tuple) else spec
    name = where or "body"
    if kind == "obj":
        if not isinstance(value, dict):
            raise BadInput(f"Field '{name}' must be an object")
        fields, required = spec[1], spec[2]
        for key in value:
            if key not in fields:
                raise BadInput(f"Unrecognized field '{_join(where, key)}'")
        for key in required:
            if value.get(key) is None:
                raise BadInput(f"Field '{_join(where, key)}' is required")
        return {key: _check(item, fields[key], _join(where, key)) for key, item in value.items()}
    if kind == "list":
        if not isinstance(value, list):
            raise BadInput(f"Field '{name}' must be an array")
        # A null inside a list clears nothing (unlike a null field): it is not an item.
        for i, item in enumerate(value):
            if item is None:
                raise BadInput(f"Field '{name}[{i}]' must not be null")
        return [_check(item, spec[1], f"{name}[{i}]") for i, item in enumerate(value)]
    if kind == "enum":
        if value not in spec[1]:
            raise BadInput(f"Field '{name}' must be one of {', '.join(spec[1])}")
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int) or abs(value) >= 2**63:
            raise BadInput(f"Field '{name}' must be an integer")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise BadInput(f"Field '{name}' must be true or false")
        return value
    if kind == "any":
        return value
    if not isinstance(value, str):
        raise BadInput(f"Field '{name}' must be a string")
    if kind == "str" and isinstance(spec, tuple) and len(value) > spec[1]:
        raise BadInput(f"Field '{name}' must be at most {spec[1]} characters")
    if kind == "idstr" and not is_id(value):
        raise BadInput(f"Field '{name}' must be a numeric id")
    if kind == "date":
        try:
            date.fromisoformat(value)
        except ValueError:
            raise BadInput(f"Field '{name}' must be a date like 2015-06-20") from None
    if kind == "datetime":
        parse_time(value, name)
    return value


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


# --- time -----------------------------------------------------------------------------------

V2_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:?\d{2})$")


def parse_time(value: str, name: str, *, strict: bool = False) -> int:
    """Parse an ISO-8601 timestamp to epoch milliseconds; raise BadInput when it isn't one.

    v1's `since`/`until` are lenient (a missing offset means UTC); v2 filters are `strict`:
    docs/keap/API.md §2.3 says they must carry an offset, e.g. `2026-01-01T00:00:00.000Z`.
    """
    text = value.strip()
    if strict and not V2_TIME.match(text):
        raise BadInput(f"Invalid {name}: {value!r}; use ISO-8601 like 2026-01-01T00:00:00.000Z")
    try:
        parsed = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise BadInput(
            f"Invalid {name}: {value!r}; use ISO-8601 like 2017-01-01T22:17:59.039Z"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def _utc_parts(ms: int) -> tuple[int, ...]:
    # time.gmtime and %-formatting: several times faster than datetime.strftime, which matters
    # at two timestamps per contact and a thousand contacts per page.
    return (*time.gmtime(ms // 1000)[:6], ms % 1000)


def v1_time(ms: int) -> str:
    """Keap v1's wire format: `2022-09-29T00:42:42.000+0000`."""
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03d+0000" % _utc_parts(ms)  # noqa: UP031


def v2_time(ms: int) -> str:
    """Keap v2's ISO-8601 in UTC with milliseconds: `2024-03-15T10:30:00.000Z`."""
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % _utc_parts(ms)  # noqa: UP031


def now_ms() -> int:
    return int(clock.epoch() * 1000)


def is_id(text: str) -> bool:
    """Whether `text` is a Keap id: ASCII digits within int64 (`"²".isdigit()` is true too)."""
    return text.isascii() and text.isdigit() and int(text) < 2**63
