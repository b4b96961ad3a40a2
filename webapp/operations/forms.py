"""The CSV export's filter: an inclusive UTC date range, and optionally one developer app."""

from datetime import timedelta
from typing import Any

from django import forms
from django.utils import timezone

MAX_EXPORT_DAYS = 366
# The browser's date picker submits YYYY-MM-DD, the one format accepted.
DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class UsageExportForm(forms.Form):
    start = forms.DateField(required=False, input_formats=["%Y-%m-%d"], widget=DATE)
    end = forms.DateField(required=False, input_formats=["%Y-%m-%d"], widget=DATE)
    app = forms.CharField(required=False, max_length=255, label="Developer app (client id)")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        today = timezone.now().date()
        end = cleaned.get("end") or today
        start = cleaned.get("start") or end - timedelta(days=29)
        if start > end:
            raise forms.ValidationError("The start date must not be after the end date.")
        if (end - start).days + 1 > MAX_EXPORT_DAYS:
            raise forms.ValidationError(f"Export at most {MAX_EXPORT_DAYS} days at a time.")
        cleaned["start"], cleaned["end"] = start, end
        return cleaned
