"""Forms for the goal panel and the API key page."""

import uuid

from django import forms

from webapp.goals.models import IDEMPOTENCY_KEY_MAX_LENGTH, NAME_MAX_LENGTH


class GoalForm(forms.Form):
    """Complete a campaign goal for one contact. The hidden key makes a double submit one goal."""

    contact_id = forms.IntegerField(label="Keap contact id", min_value=1, max_value=2**63 - 1)
    call_name = forms.CharField(max_length=NAME_MAX_LENGTH, help_text="e.g. purchased")
    integration = forms.CharField(
        max_length=NAME_MAX_LENGTH,
        required=False,
        help_text="Leave as the Keap app name unless the goal says otherwise.",
    )
    idempotency_key = forms.CharField(
        max_length=IDEMPOTENCY_KEY_MAX_LENGTH, widget=forms.HiddenInput
    )

    @classmethod
    def fresh(cls, *, app_name: str) -> "GoalForm":
        """An empty form with a new idempotency key: one per render."""
        return cls(initial={"integration": app_name, "idempotency_key": uuid.uuid4().hex})


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What will use it, e.g. 'order system'.")
