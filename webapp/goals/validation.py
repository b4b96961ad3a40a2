"""The one check of a goal request, for the goal form and the JSON API alike.

A request is checked whole: every field that is wrong is named at once, each with what is wrong,
so a customer or an operator's system fixes them all in one go. The form turns its text inputs
into values first (a contact id typed as "12" becomes 12); the API takes JSON's own types and
refuses others (a contact id sent as "12" is not a number).
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.validators import RegexValidator

from webapp.goals.models import (
    CONTACT_ID_MAX,
    IDEMPOTENCY_KEY_MAX_LENGTH,
    NAME_MAX_LENGTH,
    idempotency_key_validator,
    name_validator,
)

FIELDS = ("contact_id", "call_name", "integration", "idempotency_key")
REQUIRED = "This field is required."


@dataclass(frozen=True)
class GoalRequest:
    """A goal Keap could be asked for: complete `integration`/`call_name` for one contact."""

    contact_id: int
    call_name: str
    integration: str
    idempotency_key: str

    @classmethod
    def from_values(cls, values: Mapping[str, Any], *, app_name: str) -> "GoalRequest":
        """The request these values make, or ValidationError naming every field that is wrong.

        An empty integration is the Keap app's name (Keap's own default for API goals).
        """
        errors: dict[str, list[str]] = {}
        unknown = sorted(set(values) - set(FIELDS))
        if unknown:
            errors[NON_FIELD_ERRORS] = [f"Unknown field(s): {', '.join(unknown)}."]
        contact_id = _contact_id(values.get("contact_id"), errors)
        call_name = _text(values, "call_name", NAME_MAX_LENGTH, name_validator, errors)
        integration = _text(
            values, "integration", NAME_MAX_LENGTH, name_validator, errors, default=app_name
        )
        key = _text(
            values,
            "idempotency_key",
            IDEMPOTENCY_KEY_MAX_LENGTH,
            idempotency_key_validator,
            errors,
            strip=False,  # a key is compared as sent
        )
        if errors:
            raise ValidationError(errors)
        return cls(
            contact_id=contact_id, call_name=call_name, integration=integration, idempotency_key=key
        )


def _contact_id(value: Any, errors: dict[str, list[str]]) -> int:
    if value is None or value == "":
        errors["contact_id"] = [REQUIRED]
    elif isinstance(value, bool) or not isinstance(value, int):
        errors["contact_id"] = ["Must be a whole number."]
    elif not 1 <= value <= CONTACT_ID_MAX:
        errors["contact_id"] = ["Must be a positive Keap contact id."]
    else:
        return value
    return 0


def _text(
    values: Mapping[str, Any],
    field: str,
    limit: int,
    validator: RegexValidator,
    errors: dict[str, list[str]],
    *,
    default: str = "",
    strip: bool = True,
) -> str:
    value = values.get(field)
    if value is not None and not isinstance(value, str):
        errors[field] = ["Must be a string."]
        return ""
    value = ((value or "").strip() if strip else value or "") or default
    if not value:
        errors[field] = [REQUIRED]
    elif len(value) > limit:
        errors[field] = [f"Use at most {limit} characters."]
    else:
        try:
            validator(value)
        except ValidationError as exc:
            errors[field] = list(exc.messages)
    return value
