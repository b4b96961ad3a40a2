"""The contact custom fields every sandbox tenant has, and the contact model that lists them
(`GET /v1/contacts/model`, `GET /v2/contacts/model`: Keap's ObjectModel, which clients read early
to learn a tenant's custom fields). Contacts may only carry values for these ids.

The same four fields in every tenant: Keap lets each account define its own, which the sandbox
has no way to do yet.
"""

from dataclasses import dataclass
from typing import Any

from webapp.sandbox.api_errors import BadInput


@dataclass(frozen=True)
class CustomField:
    """One contact custom field, with its type in each API version's spelling."""

    id: int
    label: str
    field_name: str
    v1_type: str
    v2_type: str
    options: tuple[str, ...] = ()


CONTACT_FIELDS = [
    CustomField(2, "Favourite product", "FavouriteProduct", "Text", "TEXT"),
    CustomField(4, "Member since", "MemberSince", "Date", "DATE"),
    CustomField(6, "Plan", "Plan", "Dropdown", "DROPDOWN", ("Basic", "Plus", "Pro")),
    CustomField(8, "Loyalty points", "LoyaltyPoints", "WholeNumber", "WHOLE_NUMBER"),
]
BY_ID = {field.id: field for field in CONTACT_FIELDS}
# Contact properties a client asks for by name: v1's `optional_properties` (the document names
# lead_source_id, custom_fields and job_title) and v2's `fields`. The sandbox sends them anyway.
OPTIONAL_V1 = ["custom_fields", "job_title", "lead_source_id", "opt_in_reason", "origin",
               "relationships", "tag_ids"]  # fmt: skip
OPTIONAL_V2 = ["custom_fields", "job_title", "leadsource_id", "origin", "tag_ids"]


def check_ids(values: list[dict[str, Any]]) -> None:
    """Refuse a value for a custom field the tenant does not have."""
    for value in values:
        if int(value["id"]) not in BY_ID:
            raise BadInput(f"Invalid custom field id: {value['id']}")


def model_v1() -> dict[str, Any]:
    """v1's ObjectModel for contacts: integer ids, CamelCase types."""
    return {
        "custom_fields": [
            {
                "id": field.id,
                "label": field.label,
                "field_name": field.field_name,
                "field_type": field.v1_type,
                "record_type": "CONTACT",
                "options": [{"id": option, "label": option} for option in field.options],
            }
            for field in CONTACT_FIELDS
        ],
        "optional_properties": OPTIONAL_V1,
    }


def model_v2() -> dict[str, Any]:
    """v2's ObjectModel for contacts: string ids, UPPER_SNAKE types."""
    return {
        "custom_fields": [
            {
                "id": str(field.id),
                "label": field.label,
                "field_name": field.field_name,
                "field_type": field.v2_type,
                "record_type": "CONTACT",
                "options": [{"id": option, "label": option} for option in field.options],
            }
            for field in CONTACT_FIELDS
        ],
        "optional_properties": OPTIONAL_V2,
    }
