"""Contacts: checking request bodies, storing them, finding them, and rendering v1 and v2 JSON.

A contact is stored once in a neutral shape (`Contact` columns plus `data`) and rendered in each
API version's dialect: v1 has integer ids, `ScoreValue`, `2022-09-29T00:42:42.000+0000`
timestamps and CamelCase enums; v2 has string ids, `update_time` in ISO-8601 with `Z`, and
UPPER_SNAKE enums. Field lists follow Keap's OpenAPI documents (v1 2025-11-05, v2 2026-08).
"""

import re
import time
from datetime import UTC, date, datetime
from typing import Any

from django.db import transaction
from django.db.models import Max, Q, QuerySet

from webapp.sandbox import clock, hooks
from webapp.sandbox.api_errors import BadInput
from webapp.sandbox.locking import write_lock
from webapp.sandbox.models import Contact, Tenant

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


def _obj(fields: dict, required: tuple = ()) -> tuple:
    return ("obj", fields, required)


def _list(item: Any) -> tuple:
    return ("list", item)


def _enum(*values: str) -> tuple:
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
    "custom_fields": _list(_obj({"id": "int", "content": "any"})),
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
    "custom_fields": _list(_obj({"id": "idstr", "content": "any"})),
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


def check_body(body: Any, fields: dict) -> dict:
    """Return the body if it is an object of known, well-typed fields; raise BadInput if not."""
    if not isinstance(body, dict):
        raise BadInput("Request body must be a JSON object")
    return _check(body, ("obj", fields, ()), "")


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


def _utc_parts(ms: int) -> tuple:
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


# --- storing --------------------------------------------------------------------------------

SCALARS_V1 = [
    "contact_type", "job_title", "opt_in_reason", "preferred_locale", "preferred_name", "prefix",
    "spouse_name", "suffix", "time_zone", "website", "owner_id", "lead_source_id",
]  # fmt: skip
SCALARS_V2 = [
    "contact_type", "job_title", "preferred_locale", "preferred_name", "prefix", "spouse_name",
    "suffix", "time_zone", "website", "referral_code", "assistant_name", "assistant_phone",
    "billing_information",
]  # fmt: skip


def _emails(items: list | None, old: list, opt_in_reason: str | None) -> list:
    known = {item["email"].lower(): item.get("status") for item in old}
    result = []
    for item in items or []:
        email = (item.get("email") or "").strip()
        if not email:
            continue
        if "@" not in email or len(email) > 100:
            raise BadInput(f"Invalid email address: {email}")
        reason = item.get("opt_in_reason") or opt_in_reason
        status = known.get(email.lower()) or ("SingleOptIn" if reason else "NonMarketable")
        result.append({"email": email, "field": item.get("field") or "EMAIL1", "status": status})
    return result


def apply_v1(data: dict, body: dict, columns: dict) -> None:
    """Copy a checked v1 body into a contact's `data` and `columns` (both changed in place)."""
    for key in ("given_name", "middle_name", "family_name"):
        if key in body:
            columns[key] = body[key] or ""
    for key in SCALARS_V1:
        if key in body:
            data[key] = body[key]
    if "email_addresses" in body:
        data["emails"] = _emails(
            body["email_addresses"], data.get("emails", []), body.get("opt_in_reason")
        )
    if "phone_numbers" in body:
        data["phones"] = [_compact(p) for p in body["phone_numbers"] or []]
    if "fax_numbers" in body:
        data["fax_numbers"] = [_compact(p) for p in body["fax_numbers"] or []]
    if "addresses" in body:
        for address in body["addresses"] or []:
            if address.get("region") and not address.get("country_code"):
                raise BadInput(f"{address['field']} country_code is required when region is given")
        data["addresses"] = [_compact(a) for a in body["addresses"] or []]
    if "social_accounts" in body:
        data["social_accounts"] = [_compact(s) for s in body["social_accounts"] or []]
    if "custom_fields" in body:
        data["custom_fields"] = body["custom_fields"] or []
    if "source_type" in body:
        data["source_type"] = body["source_type"]
    if "anniversary" in body:
        data["anniversary"] = body["anniversary"]
    if "birthday" in body:
        birthday = body["birthday"]
        data["birthday"] = birthday and v2_time(parse_time(birthday, "birthday"))[:10]
    if "company" in body:
        data["company"] = _company(data, (body["company"] or {}).get("id"))
    if "origin" in body:
        origin = body["origin"]
        data["origin"] = origin and {"ip_address": origin["ip_address"], "date_ms": now_ms()}


def apply_v2(data: dict, body: dict, columns: dict) -> None:
    """Copy a checked v2 body into a contact's `data` and `columns` (both changed in place)."""
    for key in ("given_name", "middle_name", "family_name"):
        if key in body:
            columns[key] = body[key] or ""
    for key in SCALARS_V2:
        if key in body:
            data[key] = body[key]
    for key, target in (("owner_id", "owner_id"), ("leadsource_id", "lead_source_id")):
        if key in body:
            data[target] = int(body[key]) if body[key] else None
    if "email_addresses" in body:
        data["emails"] = _emails(body["email_addresses"], data.get("emails", []), None)
    if "phone_numbers" in body:
        data["phones"] = [_compact(p) for p in body["phone_numbers"] or []]
    if "fax_numbers" in body:
        data["fax_numbers"] = [_compact(p) for p in body["fax_numbers"] or []]
    if "addresses" in body:
        data["addresses"] = [_compact(a) for a in body["addresses"] or []]
    if "social_accounts" in body:
        data["social_accounts"] = [
            _compact({"name": s.get("name"), "type": SOCIAL_V1[s["type"]]})
            for s in body["social_accounts"] or []
            if s["type"] in SOCIAL_V1
        ]
    if "custom_fields" in body:
        data["custom_fields"] = [
            {"id": int(f["id"]), "content": f.get("content")} for f in body["custom_fields"] or []
        ]
    if "source_type" in body:
        data["source_type"] = body["source_type"] and SOURCE_TYPE_V1.get(body["source_type"])
    if "anniversary_date" in body:
        data["anniversary"] = body["anniversary_date"]
    if "birth_date" in body:
        data["birthday"] = body["birth_date"]
    if "company" in body:
        company = body["company"] or {}
        data["company"] = _company(data, company.get("id") and int(company["id"]))
        if data["company"] and company.get("company_name"):
            data["company"]["name"] = company["company_name"]
    if "origin" in body:
        origin = body["origin"]
        data["origin"] = origin and {"ip_address": origin.get("ip_address"), "date_ms": now_ms()}


def _company(data: dict, company_id: int | None) -> dict | None:
    if not company_id:
        return None
    old = data.get("company") or {}
    return {"id": company_id, "name": old.get("name") if old.get("id") == company_id else None}


def _compact(item: dict) -> dict:
    return {key: value for key, value in item.items() if value not in (None, "")}


def derive_columns(data: dict, columns: dict) -> None:
    """Fill the searchable columns from `data`."""
    emails = [item["email"].lower() for item in data.get("emails", [])]
    columns["email_key"] = f"|{'|'.join(emails)}|" if emails else ""
    columns["email1"] = emails[0] if emails else ""
    columns["company_id"] = (data.get("company") or {}).get("id")


def require_reachable(data: dict, *, v2: bool) -> None:
    """Keap refuses a contact nobody can reach (v1: email or phone; v2: or an address)."""
    if data.get("emails") or data.get("phones") or (v2 and data.get("addresses")):
        return
    if v2:
        raise BadInput("Contact must have at least one email address, phone number or address")
    raise BadInput("Contact must have at least one email address or phone number")


def save(tenant: Tenant, contact: Contact | None, data: dict, columns: dict) -> Contact:
    """Create or update a contact, stamping last-updated on the sandbox clock, and queue its
    contact.add or contact.edit event for the tenant's REST hooks."""
    derive_columns(data, columns)
    with write_lock(), transaction.atomic():
        stamp = now_ms()
        created = contact is None
        if contact is None:
            # Per-tenant ids, allocated under the write lock so two creates never collide.
            top = Contact.objects.filter(tenant=tenant).aggregate(top=Max("keap_id"))["top"]
            contact = Contact(tenant=tenant, keap_id=(top or 0) + 1, created_ms=stamp)
        for key, value in columns.items():
            setattr(contact, key, value)
        contact.data = data
        contact.updated_ms = max(stamp, contact.created_ms)
        contact.save()
        event_key = hooks.CONTACT_ADD if created else hooks.CONTACT_EDIT
        hooks.queue_changes(tenant.pk, event_key, [contact.keap_id], contact.updated_ms)
    return contact


def delete(tenant: Tenant, ids: list[int]) -> list[int]:
    """Delete these contacts of the tenant and queue their contact.delete events; returns the
    ids that existed."""
    with write_lock(), transaction.atomic():
        stamp = now_ms()
        found: list[int] = []
        for start in range(0, len(ids), 500):
            rows = Contact.objects.filter(tenant=tenant, keap_id__in=ids[start : start + 500])
            found.extend(rows.values_list("keap_id", flat=True))
            rows.delete()
        found.sort()
        hooks.queue_changes(tenant.pk, hooks.CONTACT_DELETE, found, stamp)
    return found


def find_duplicate(tenant: Tenant, data: dict, columns: dict, option: str) -> Contact | None:
    """The existing contact a create-or-update matches under `duplicate_option`, if any."""
    emails = [item["email"].lower() for item in data.get("emails", [])]
    if not emails:
        return None
    candidates = Contact.objects.filter(tenant=tenant, email_key__contains=f"|{emails[0]}|")
    if option in ("EmailAndName", "EmailAndNameAndCompany"):
        candidates = candidates.filter(
            given_name__iexact=columns.get("given_name", ""),
            family_name__iexact=columns.get("family_name", ""),
        )
    if option == "EmailAndNameAndCompany":
        company_id = (data.get("company") or {}).get("id")
        candidates = candidates.filter(company_id=company_id)
    return candidates.order_by("keap_id").first()


def is_id(text: str) -> bool:
    """Whether `text` is a Keap id: ASCII digits within int64 (`"²".isdigit()` is true too)."""
    return text.isascii() and text.isdigit() and int(text) < 2**63


def get(tenant: Tenant, keap_id: Any) -> Contact | None:
    if not is_id(str(keap_id)):
        return None
    return Contact.objects.filter(tenant=tenant, keap_id=int(keap_id)).first()


def columns_of(contact: Contact) -> dict:
    return {
        "given_name": contact.given_name,
        "middle_name": contact.middle_name,
        "family_name": contact.family_name,
    }


# --- listing --------------------------------------------------------------------------------


def for_tenant(tenant: Tenant) -> QuerySet:
    return Contact.objects.filter(tenant=tenant)


PAGE_COLUMNS = ["keap_id", "given_name", "middle_name", "family_name", "created_ms",
                "updated_ms", "data", "email1"]  # fmt: skip


def page(rows: QuerySet) -> list:
    """Rows as light named tuples with the attributes the renderers read: building a thousand
    model instances per page cost as much as rendering them."""
    return list(rows.values_list(*PAGE_COLUMNS, named=True))


def email_filter(value: str) -> Q:
    """Exact (any of the contact's addresses), or a prefix with a trailing `*`."""
    text = value.strip().lower()
    if text.endswith("*"):
        return Q(email_key__contains=f"|{text[:-1]}")
    return Q(email_key__contains=f"|{text}|")


def name_filter(column: str, value: str) -> Q:
    text = value.strip()
    if text.endswith("*"):
        return Q(**{f"{column}__istartswith": text[:-1]})
    return Q(**{f"{column}__iexact": text})


# --- rendering ------------------------------------------------------------------------------


def to_v1(contact, *, full: bool, nulls: bool = False) -> dict:
    """A contact as v1's FullContact (`full`) or RestPartialContact (list items)."""
    data = contact.data
    emails = data.get("emails", [])
    status = emails[0]["status"] if emails else None
    company = data.get("company")
    body = {
        "id": contact.keap_id,
        "given_name": contact.given_name or None,
        "middle_name": contact.middle_name or None,
        "family_name": contact.family_name or None,
        "email_addresses": [{"email": e["email"], "field": e["field"]} for e in emails],
        "email_status": status,
        "email_opted_in": status in OPTED_IN,
        "phone_numbers": [_v1_phone(p) for p in data.get("phones", [])],
        "addresses": [_v1_address(a) for a in data.get("addresses", [])],
        "fax_numbers": data.get("fax_numbers", []),
        "social_accounts": data.get("social_accounts", []),
        "custom_fields": data.get("custom_fields", []),
        "tag_ids": data.get("tag_ids", []),
        "company": company and _compact({"id": company["id"], "company_name": company.get("name")}),
        "company_name": company and company.get("name"),
        "ScoreValue": data.get("score"),
        "source_type": data.get("source_type"),
        "birthday": data.get("birthday") and f"{data['birthday']}T00:00:00.000+0000",
        "anniversary": data.get("anniversary"),
        "date_created": v1_time(contact.created_ms),
        "last_updated": v1_time(contact.updated_ms),
        # On the wire though not in the spec (docs/keap/API.md §2.2).
        "last_updated_utc_millis": contact.updated_ms,
    }
    for key in SCALARS_V1:
        if key != "opt_in_reason":
            body[key] = data.get(key)
    if full:
        origin = data.get("origin")
        body["opt_in_reason"] = data.get("opt_in_reason")
        body["origin"] = origin and {
            "date": v1_time(origin["date_ms"]),
            "ip_address": origin.get("ip_address") or "",
        }
        body["relationships"] = []
    if nulls:
        return body
    return {key: value for key, value in body.items() if value is not None}


def _v1_phone(phone: dict) -> dict:
    result = {key: phone[key] for key in ("number", "field", "type", "extension") if key in phone}
    digits = re.sub(r"\D", "", phone.get("number", ""))
    if len(digits) == 10:
        result["number_e164"] = f"+1{digits}"
    return result


def _v1_address(address: dict) -> dict:
    keys = ("field", "line1", "line2", "locality", "region", "country_code", "postal_code",
            "zip_code", "zip_four")  # fmt: skip
    return {key: address[key] for key in keys if address.get(key)}


V2_FIELDS = [
    "id", "given_name", "middle_name", "family_name", "email_addresses", "phone_numbers",
    "addresses", "fax_numbers", "social_accounts", "custom_fields", "tag_ids", "company",
    "score_value", "source_type", "birth_date", "anniversary_date", "create_time",
    "update_time", "origin", "owner_id", "leadsource_id", "links", "contact_type", "job_title",
    "preferred_locale", "preferred_name", "prefix", "suffix", "spouse_name", "time_zone",
    "website", "referral_code", "utm_parameters", "account_id", "assistant_name",
    "assistant_phone", "billing_information", "created_by", "last_updated_by", "groups",
]  # fmt: skip


def to_v2(contact, fields: set[str] | None = None) -> dict:
    """A contact as v2's `Contact`; `fields` limits it to those properties (plus `id`)."""
    data = contact.data
    company = data.get("company")
    origin = data.get("origin")
    body = {
        "id": str(contact.keap_id),
        "given_name": contact.given_name or None,
        "middle_name": contact.middle_name or None,
        "family_name": contact.family_name or None,
        "email_addresses": [
            {
                "email": e["email"],
                "field": e["field"],
                "email_opt_status": EMAIL_STATUS_V2.get(e["status"], "NON_MARKETABLE"),
                "is_opt_in": e["status"] in OPTED_IN,
            }
            for e in data.get("emails", [])
        ],
        "phone_numbers": [_v1_phone(p) for p in data.get("phones", [])],
        "addresses": [_v2_address(a) for a in data.get("addresses", [])],
        "fax_numbers": data.get("fax_numbers", []),
        "social_accounts": [
            {**s, "type": SOCIAL_V2[s["type"]]}
            for s in data.get("social_accounts", [])
            if s.get("type") in SOCIAL_V2
        ],
        "custom_fields": [
            {"id": str(f["id"]), "content": f.get("content")} for f in data.get("custom_fields", [])
        ],
        "tag_ids": [str(tag) for tag in data.get("tag_ids", [])],
        "company": company
        and _compact({"id": str(company["id"]), "company_name": company.get("name")}),
        "score_value": data.get("score"),
        "source_type": data.get("source_type") and SOURCE_TYPE_V2.get(data["source_type"]),
        "birth_date": data.get("birthday"),
        "anniversary_date": data.get("anniversary"),
        "create_time": v2_time(contact.created_ms),
        "update_time": v2_time(contact.updated_ms),
        "origin": origin
        and {"date": v2_time(origin["date_ms"]), "ip_address": origin.get("ip_address") or ""},
        "owner_id": data.get("owner_id") and str(data["owner_id"]),
        "leadsource_id": data.get("lead_source_id") and str(data["lead_source_id"]),
        "links": [],
    }
    for key in SCALARS_V2:
        body[key] = data.get(key)
    return {
        key: value
        for key, value in body.items()
        if value is not None and (fields is None or key in fields or key == "id")
    }


def _v2_address(address: dict) -> dict:
    keys = ("field", "line1", "line2", "locality", "region", "region_code", "country_code",
            "postal_code", "zip_code", "zip_four")  # fmt: skip
    return {key: address[key] for key in keys if address.get(key)}
