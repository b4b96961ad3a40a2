"""The legacy tables XML-RPC reads and writes: `DataService.query` over Contact, ContactGroup (tags)
and ContactGroupCategory, and the Contact fields `ContactService.add` takes.

queryData follows the DataService documentation: each key a field, each value what to find;
`%` is a wildcard and matching is case-insensitive; `~null~` finds an empty field; a value
starting `~<~`, `~<=~`, `~>~`, `~>=~` or `~<>~` compares (integrators use these on dates and
numbers). limit is 1 to 1000 and page starts at 0. Legacy dates are Eastern time without an
offset, as the legacy API (and its PHP iSDK) treat them (UNCONFIRMED for today's Keap).

Id, CompanyID, DateCreated and LastUpdated narrow the query in SQL; every other condition is
checked row by row, which is fine at the sandbox's sizes.
"""

import operator
import re
import xmlrpc.client
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Q

from webapp.sandbox import contacts, custom_fields
from webapp.sandbox.api_errors import BadInput
from webapp.sandbox.contacts import ContactRow
from webapp.sandbox.models import Tag, TagCategory, Tenant

BAD_PARAMS = -32602
# Infusionsoft's fault codes: 6 as in the fault sample of its documentation (RecordNotFound,
# docs/keap/API.md §3.3); the code of an InvalidParameter fault is UNCONFIRMED.
RECORD_NOT_FOUND = 6
INVALID_PARAMETER = 1
EASTERN = ZoneInfo("America/New_York")
OPERATORS = {"~<=~": "le", "~>=~": "ge", "~<>~": "ne", "~<~": "lt", "~>~": "gt"}
COMPARISONS: dict[str, Callable[[Any, Any], Any]] = {
    "eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le,
    "gt": operator.gt, "ge": operator.ge,
}  # fmt: skip


def fault(code: int, message: str) -> xmlrpc.client.Fault:
    return xmlrpc.client.Fault(code, message)


def _invalid(message: str) -> xmlrpc.client.Fault:
    return fault(INVALID_PARAMETER, f"[InvalidParameter]{message}")


# --- legacy values ---------------------------------------------------------------------------


def _to_datetime(ms: int | None) -> xmlrpc.client.DateTime | None:
    if ms is None:
        return None
    local = datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone(EASTERN).replace(tzinfo=None)
    return xmlrpc.client.DateTime(local.replace(microsecond=0))


def _parse_date(text: str) -> int:
    """A legacy date (`2024-03-01 09:30:00`, `2024-03-01` or `20240301T09:30:00`, Eastern) as
    epoch milliseconds."""
    for pattern in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d", "%Y%m%dT%H:%M:%S"):
        try:
            parsed = datetime.strptime(text.strip(), pattern)
        except ValueError:
            continue
        return int(parsed.replace(tzinfo=EASTERN).timestamp() * 1000)
    raise _invalid(f"Unable to parse date: {text}")


def _nth(items: list[Any], index: int, key: str) -> Any:
    return items[index].get(key) if len(items) > index else None


def _address(row: ContactRow, key: str) -> Any:
    addresses = row.data.get("addresses", [])
    billing = next((a for a in addresses if a.get("field") == "BILLING"), None)
    return (billing or (addresses[0] if addresses else {})).get(key)


def _custom(field_id: int) -> Callable[[ContactRow], Any]:
    def read(row: ContactRow) -> Any:
        values = row.data.get("custom_fields", [])
        return next((v.get("content") for v in values if int(v["id"]) == field_id), None)

    return read


@dataclass(frozen=True)
class Field:
    """One legacy field: how to read it, and its kind for comparisons ("str", "int", "date")."""

    read: Callable[[Any], Any]
    kind: str = "str"
    # The Contact column that narrows queries in SQL (exact kinds only: int and date).
    column: str = ""


CONTACT: dict[str, Field] = {
    "Id": Field(lambda r: r.keap_id, "int", "keap_id"),
    "FirstName": Field(lambda r: r.given_name),
    "LastName": Field(lambda r: r.family_name),
    "MiddleName": Field(lambda r: r.middle_name),
    "Email": Field(lambda r: _nth(r.data.get("emails", []), 0, "email")),
    "EmailAddress2": Field(lambda r: _nth(r.data.get("emails", []), 1, "email")),
    "EmailAddress3": Field(lambda r: _nth(r.data.get("emails", []), 2, "email")),
    "Phone1": Field(lambda r: _nth(r.data.get("phones", []), 0, "number")),
    "Phone1Type": Field(lambda r: _nth(r.data.get("phones", []), 0, "type")),
    "Phone2": Field(lambda r: _nth(r.data.get("phones", []), 1, "number")),
    "Phone2Type": Field(lambda r: _nth(r.data.get("phones", []), 1, "type")),
    "Phone3": Field(lambda r: _nth(r.data.get("phones", []), 2, "number")),
    "Phone3Type": Field(lambda r: _nth(r.data.get("phones", []), 2, "type")),
    "Company": Field(lambda r: (r.data.get("company") or {}).get("name")),
    "CompanyID": Field(lambda r: (r.data.get("company") or {}).get("id"), "int", "company_id"),
    "JobTitle": Field(lambda r: r.data.get("job_title")),
    "Website": Field(lambda r: r.data.get("website")),
    "ContactType": Field(lambda r: r.data.get("contact_type")),
    "StreetAddress1": Field(lambda r: _address(r, "line1")),
    "StreetAddress2": Field(lambda r: _address(r, "line2")),
    "City": Field(lambda r: _address(r, "locality")),
    "State": Field(lambda r: _address(r, "region")),
    "PostalCode": Field(lambda r: _address(r, "zip_code") or _address(r, "postal_code")),
    "Country": Field(lambda r: _address(r, "country_code")),
    "Groups": Field(lambda r: ",".join(str(t) for t in r.data.get("tag_ids", []))),
    "DateCreated": Field(lambda r: r.created_ms, "date", "created_ms"),
    "LastUpdated": Field(lambda r: r.updated_ms, "date", "updated_ms"),
    **{f"_{f.field_name}": Field(_custom(f.id)) for f in custom_fields.CONTACT_FIELDS},
}
CONTACT_GROUP: dict[str, Field] = {
    "Id": Field(lambda t: t.keap_id, "int"),
    "GroupName": Field(lambda t: t.name),
    "GroupCategoryId": Field(lambda t: t.category.keap_id if t.category else 0, "int"),
    "GroupDescription": Field(lambda t: t.description),
}
CONTACT_GROUP_CATEGORY: dict[str, Field] = {
    "Id": Field(lambda c: c.keap_id, "int"),
    "CategoryName": Field(lambda c: c.name),
    "CategoryDescription": Field(lambda c: c.description),
}
TABLES = {
    "Contact": CONTACT,
    "ContactGroup": CONTACT_GROUP,
    "ContactGroupCategory": CONTACT_GROUP_CATEGORY,
}


# --- queryData ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    field: Field
    op: str  # eq, like, null, lt, le, gt, ge, ne
    operand: Any

    def matches(self, row: Any) -> bool:
        value = self.field.read(row)
        if self.op == "null":
            return value in (None, "")
        if value in (None, ""):
            return self.op == "ne"
        if self.op == "like":
            return bool(self.operand.fullmatch(str(value)))
        compare = COMPARISONS[self.op]
        return bool(compare(_comparable(self.field.kind, value), self.operand))


def _comparable(kind: str, value: Any) -> Any:
    return value if kind in ("int", "date") else str(value).casefold()


def _condition(name: str, field: Field, raw: Any) -> Condition:
    if isinstance(raw, xmlrpc.client.DateTime):
        raw = raw.value
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise _invalid(f"Unsupported value for {name}: {raw!r}")
    if raw == "~null~":
        return Condition(field, "null", None)
    op, text = "eq", str(raw)
    for token, name_of in OPERATORS.items():
        if text.startswith(token):
            op, text = name_of, text[len(token) :].strip()
            break
    if op == "eq" and "%" in text and field.kind == "str":
        pattern = ".*".join(re.escape(part) for part in text.split("%"))
        return Condition(field, "like", re.compile(pattern, re.IGNORECASE | re.DOTALL))
    if field.kind == "int":
        if not re.fullmatch(r"-?[0-9]{1,19}", text):
            raise _invalid(f"Invalid number for {name}: {raw!r}")
        return Condition(field, op, int(text))
    if field.kind == "date":
        return Condition(field, op, _parse_date(text))
    return Condition(field, op, text.casefold())


def _narrow(conditions: list[Condition]) -> Q:
    """The exact (int and date column) conditions as SQL; the rest are checked per row."""
    lookups = {"eq": "exact", "lt": "lt", "le": "lte", "gt": "gt", "ge": "gte"}
    where = Q()
    for condition in conditions:
        column = condition.field.column
        if not column or condition.op not in lookups or condition.operand is None:
            continue
        if abs(condition.operand) >= 2**63:
            return Q(pk__in=[])
        where &= Q(**{f"{column}__{lookups[condition.op]}": condition.operand})
    return where


def query(
    tenant: Tenant,
    *,
    table: str,
    limit: int,
    page: int,
    query: dict[str, Any],
    fields: list[Any],
    order_by: str,
    ascending: bool,
) -> list[dict[str, Any]]:
    """DataService.query: the selected fields of the rows matching, one page of them."""
    columns = TABLES.get(table)
    if columns is None:
        raise _invalid(f"Unknown table: {table}")
    if not 1 <= limit <= 1000:
        raise _invalid("limit must be from 1 to 1000")
    if page < 0:
        raise _invalid("page must be 0 or more")
    for name in [*fields, *query, order_by]:
        if not isinstance(name, str) or name not in columns:
            raise _invalid(f"Invalid field for {table}: {name}")
    if not fields:
        raise _invalid("selectedFields must name at least one field")
    conditions = [_condition(name, columns[name], raw) for name, raw in query.items()]
    rows: list[Any]
    if table == "Contact":
        rows = contacts.page(contacts.for_tenant(tenant).filter(_narrow(conditions)))
    elif table == "ContactGroup":
        rows = list(Tag.objects.filter(tenant=tenant).select_related("category"))
    else:
        rows = list(TagCategory.objects.filter(tenant=tenant))
    found = [row for row in rows if all(c.matches(row) for c in conditions)]
    order = columns[order_by]
    found.sort(key=lambda row: _sort_key(order, row), reverse=not ascending)
    result = []
    for row in found[page * limit : (page + 1) * limit]:
        values = {name: _wire(columns[name], row) for name in fields}
        # Empty fields are left out of the struct, as in the documentation's samples.
        result.append({name: value for name, value in values.items() if value not in (None, "")})
    return result


def _sort_key(field: Field, row: Any) -> tuple[int, Any]:
    value = field.read(row)
    if value in (None, ""):
        return (1, "" if field.kind == "str" else 0)
    return (0, _comparable(field.kind, value))


def _wire(field: Field, row: Any) -> Any:
    value = field.read(row)
    if field.kind == "date":
        return _to_datetime(value)
    return value


# --- ContactService.add ------------------------------------------------------------------------

LEGACY_TO_V1 = {"FirstName": "given_name", "LastName": "family_name", "MiddleName": "middle_name",
                "JobTitle": "job_title", "Website": "website", "ContactType": "contact_type"}  # fmt: skip


def contact_body(values: dict[str, Any]) -> dict[str, Any]:
    """A REST v1 contact body from legacy Contact fields, for the same checks REST applies."""
    body: dict[str, Any] = {}
    emails, phones, customs = [], [], []
    for name, value in values.items():
        if name == "CompanyID":
            if isinstance(value, bool) or not isinstance(value, int):
                raise BadInput("CompanyID must be an int")
            body["company"] = {"id": value}
            continue
        if not isinstance(value, str):
            raise BadInput(f"{name} must be a string")
        if name in LEGACY_TO_V1:
            body[LEGACY_TO_V1[name]] = value
        elif name in ("Email", "EmailAddress2", "EmailAddress3"):
            slot = {"Email": 1, "EmailAddress2": 2, "EmailAddress3": 3}[name]
            emails.append({"email": value, "field": f"EMAIL{slot}"})
        elif re.fullmatch(r"Phone[1-3]", name):
            phones.append({"number": value, "field": f"PHONE{name[-1]}"})
        elif re.fullmatch(r"Phone[1-3]Type", name):
            continue  # applied below, once the numbers are known
        elif name.startswith("_") and name in CONTACT:
            field = next(f for f in custom_fields.CONTACT_FIELDS if f"_{f.field_name}" == name)
            customs.append({"id": field.id, "content": value})
        else:
            raise BadInput(f"Unknown or read-only Contact field: {name}")
    for phone in phones:
        kind = values.get(f"Phone{phone['field'][-1]}Type")
        if isinstance(kind, str) and kind:
            phone["type"] = kind
    for key, items in (("email_addresses", emails), ("phone_numbers", phones)):
        if items:
            body[key] = items
    if customs:
        body["custom_fields"] = customs
    return body
