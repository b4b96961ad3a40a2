"""The latest plan of each developer app's day, kept for the operations page."""

from django.db import models

from webapp.keap.models import DeveloperApp


class PlanSnapshot(models.Model):
    """What webapp.schedule.planner made of the app's day at `made_at` (its Plan, as JSON)."""

    app = models.OneToOneField(DeveloperApp, on_delete=models.CASCADE, related_name="plan")
    made_at = models.DateTimeField()
    data = models.JSONField()

    def __str__(self) -> str:
        return f"Plan of {self.app} at {self.made_at:%Y-%m-%d %H:%M} UTC"
