"""Contacts: checking request bodies, storing them, finding them, and rendering v1 and v2 JSON.

A contact is stored once in a neutral shape (`Contact` columns plus `data`) and rendered in each
API version's dialect: v1 has integer ids, `ScoreValue`, `2022-09-29T00:42:42.000+0000`
timestamps and CamelCase enums; v2 has string ids, `update_time` in ISO-8601 with `Z`, and
UPPER_SNAKE enums. Field lists follow Keap's OpenAPI documents (v1 2025-11-05, v2 2026-08).
"""

import re
from typing import Any, Protocol

from django.db import transaction
from django.db.models import Q, QuerySet

from webapp.sandbox import custom_fields, hooks
from webapp.sandbox.api_errors import BadInput
from webapp.sandbox.contact_fields import (
    EMAIL_STATUS_V2,
    OPTED_IN,
    SOCIAL_V1,
    SOCIAL_V2,
    SOURCE_TYPE_V1,
    SOURCE_TYPE_V2,
    is_id,
    now_ms,
    parse_time,
    v1_time,
    v2_time,
)
from webapp.sandbox.locking import write_lock
from webapp.sandbox.models import Company, Contact, Tenant

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


def _emails(items: list[Any] | None, old: list[Any], opt_in_reason: str | None) -> list[Any]:
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


def apply_v1(
    tenant: Tenant, data: dict[str, Any], body: dict[str, Any], columns: dict[str, Any]
) -> None:
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
        custom_fields.check_ids(body["custom_fields"] or [])
        data["custom_fields"] = body["custom_fields"] or []
    if "source_type" in body:
        data["source_type"] = body["source_type"]
    if "anniversary" in body:
        data["anniversary"] = body["anniversary"]
    if "birthday" in body:
        birthday = body["birthday"]
        data["birthday"] = birthday and v2_time(parse_time(birthday, "birthday"))[:10]
    if "company" in body:
        data["company"] = _company(tenant, (body["company"] or {}).get("id"))
    if "origin" in body:
        origin = body["origin"]
        data["origin"] = origin and {"ip_address": origin["ip_address"], "date_ms": now_ms()}


def apply_v2(
    tenant: Tenant, data: dict[str, Any], body: dict[str, Any], columns: dict[str, Any]
) -> None:
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
        custom_fields.check_ids(body["custom_fields"] or [])
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
        data["company"] = _company(tenant, company.get("id") and int(company["id"]))
    if "origin" in body:
        origin = body["origin"]
        data["origin"] = origin and {"ip_address": origin.get("ip_address"), "date_ms": now_ms()}


def _company(tenant: Tenant, company_id: int | None) -> dict[str, Any] | None:
    """The company a contact names, by id: it must be one of the tenant's, whose name it shows
    (a name sent along is not the company's to change)."""
    if not company_id:
        return None
    company = Company.objects.filter(tenant=tenant, keap_id=company_id).first()
    if company is None:
        raise BadInput(f"Company with id {company_id} was not found")
    return {"id": company_id, "name": company.name}


def _compact(item: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in item.items() if value not in (None, "")}


def derive_columns(data: dict[str, Any], columns: dict[str, Any]) -> None:
    """Fill the searchable columns from `data`."""
    emails = [item["email"].lower() for item in data.get("emails", [])]
    columns["email_key"] = f"|{'|'.join(emails)}|" if emails else ""
    columns["email1"] = emails[0] if emails else ""
    columns["company_id"] = (data.get("company") or {}).get("id")


def require_reachable(data: dict[str, Any], *, v2: bool) -> None:
    """Keap refuses a contact nobody can reach (v1: email or phone; v2: or an address)."""
    if data.get("emails") or data.get("phones") or (v2 and data.get("addresses")):
        return
    if v2:
        raise BadInput("Contact must have at least one email address, phone number or address")
    raise BadInput("Contact must have at least one email address or phone number")


def save(
    tenant: Tenant, contact: Contact | None, data: dict[str, Any], columns: dict[str, Any]
) -> Contact:
    """Create or update a contact, stamping last-updated on the sandbox clock, and queue its
    contact.add or contact.edit event for the tenant's REST hooks."""
    derive_columns(data, columns)
    with write_lock(), transaction.atomic():
        stamp = now_ms()
        created = contact is None
        if contact is None:
            # Per-tenant ids, issued under the write lock so two creates never collide.
            [keap_id] = tenant.issue_contact_ids(1)
            contact = Contact(tenant=tenant, keap_id=keap_id, created_ms=stamp)
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


def find_duplicate(
    tenant: Tenant, data: dict[str, Any], columns: dict[str, Any], option: str
) -> Contact | None:
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


def get(tenant: Tenant, keap_id: Any) -> Contact | None:
    if not is_id(str(keap_id)):
        return None
    return Contact.objects.filter(tenant=tenant, keap_id=int(keap_id)).first()


def columns_of(contact: Contact) -> dict[str, Any]:
    return {
        "given_name": contact.given_name,
        "middle_name": contact.middle_name,
        "family_name": contact.family_name,
    }


# --- listing --------------------------------------------------------------------------------


class ContactRow(Protocol):
    """What the renderers read: a `Contact`, or one of `page()`'s lighter rows."""

    @property
    def keap_id(self) -> int: ...
    @property
    def given_name(self) -> str: ...
    @property
    def middle_name(self) -> str: ...
    @property
    def family_name(self) -> str: ...
    @property
    def created_ms(self) -> int: ...
    @property
    def updated_ms(self) -> int: ...
    @property
    def data(self) -> Any: ...


def for_tenant(tenant: Tenant) -> QuerySet[Contact]:
    return Contact.objects.filter(tenant=tenant)


PAGE_COLUMNS = ["keap_id", "given_name", "middle_name", "family_name", "created_ms",
                "updated_ms", "data", "email1"]  # fmt: skip


def page(rows: QuerySet[Contact]) -> list[ContactRow]:
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


def to_v1(contact: ContactRow, *, full: bool, nulls: bool = False) -> dict[str, Any]:
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


def _v1_phone(phone: dict[str, Any]) -> dict[str, Any]:
    keys = ("number", "field", "type", "extension")
    result: dict[str, Any] = {key: phone[key] for key in keys if key in phone}
    digits = re.sub(r"\D", "", phone.get("number", ""))
    if len(digits) == 10:
        result["number_e164"] = f"+1{digits}"
    return result


def _v1_address(address: dict[str, Any]) -> dict[str, Any]:
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


def to_v2(contact: ContactRow, fields: set[str] | None = None) -> dict[str, Any]:
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
        # v2's ids are strings, 0 included (v1 takes owner_id 0 as a number).
        "owner_id": _id_text(data.get("owner_id")),
        "leadsource_id": _id_text(data.get("lead_source_id")),
        "links": [],
    }
    for key in SCALARS_V2:
        body[key] = data.get(key)
    return {
        key: value
        for key, value in body.items()
        if value is not None and (fields is None or key in fields or key == "id")
    }


def _id_text(value: int | None) -> str | None:
    return None if value is None else str(value)


def _v2_address(address: dict[str, Any]) -> dict[str, Any]:
    keys = ("field", "line1", "line2", "locality", "region", "region_code", "country_code",
            "postal_code", "zip_code", "zip_four")  # fmt: skip
    return {key: address[key] for key in keys if address.get(key)}
