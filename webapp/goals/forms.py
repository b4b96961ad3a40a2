"""Forms for the goal panel and the API key page."""

import uuid
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from webapp.goals.models import IDEMPOTENCY_KEY_MAX_LENGTH, NAME_MAX_LENGTH
from webapp.goals.validation import GoalRequest


class GoalForm(forms.Form):
    """Complete a campaign goal for one contact. The hidden key makes a double submit one goal.

    The fields only turn text into values (and give the browser its hints); the rules are
    GoalRequest.from_values's, the same as the JSON API's. A valid form's request is `goal`.
    """

    contact_id = forms.IntegerField(label="Keap contact id", required=False)
    call_name = forms.CharField(
        required=False,
        help_text="e.g. purchased",
        widget=forms.TextInput(attrs={"maxlength": NAME_MAX_LENGTH, "required": True}),
    )
    integration = forms.CharField(
        required=False,
        help_text="Leave as the Keap app name unless the goal says otherwise.",
        widget=forms.TextInput(attrs={"maxlength": NAME_MAX_LENGTH}),
    )
    idempotency_key = forms.CharField(
        required=False,
        strip=False,
        widget=forms.HiddenInput(attrs={"maxlength": IDEMPOTENCY_KEY_MAX_LENGTH}),
    )

    def __init__(self, *args: Any, app_name: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.app_name = app_name
        self.goal: GoalRequest | None = None

    @classmethod
    def fresh(cls, *, app_name: str) -> "GoalForm":
        """An empty form with a new idempotency key: one per render."""
        return cls(
            initial={"integration": app_name, "idempotency_key": uuid.uuid4().hex},
            app_name=app_name,
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        values = {name: cleaned.get(name) for name in self.fields if name not in self.errors}
        try:
            self.goal = GoalRequest.from_values(values, app_name=self.app_name)
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                if field not in self.errors:
                    self.add_error(None if field == "__all__" else field, messages)
        return cleaned


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What will use it, e.g. 'order system'.")
