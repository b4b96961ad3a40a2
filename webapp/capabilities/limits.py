"""The live figures the throttling note shows: this developer app's limits and today's calls."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from django.utils import timezone

from webapp.keap.models import DeveloperApp
from webapp.usage import reports


@dataclass(frozen=True)
class AppLimits:
    """Limits as the admin set them (None: no such limit) and calls counted today (UTC)."""

    per_second: int | None
    per_minute: int | None
    per_day: int | None
    tenant_per_minute: int | None
    tenant_per_day: int | None
    calls_today: int
    resets_at: datetime

    @property
    def left_today(self) -> int | None:
        return None if self.per_day is None else max(self.per_day - self.calls_today, 0)

    @property
    def percent_today(self) -> int | None:
        if not self.per_day:
            return None
        return min(round(100 * self.calls_today / self.per_day), 100)

    def as_json(self) -> dict[str, object]:
        data = asdict(self)
        data["resets_at"] = self.resets_at.isoformat()
        data["left_today"] = self.left_today
        return data


def current(*, now: datetime | None = None) -> AppLimits:
    """The current developer app's limits and its calls so far today, from the usage rollups."""
    app = DeveloperApp.objects.current()
    utc_now = (now or timezone.now()).astimezone(UTC)
    midnight = utc_now.replace(hour=0, minute=0, second=0, microsecond=0)
    return AppLimits(
        per_second=app.limit_per_second,
        per_minute=app.limit_per_minute,
        per_day=app.limit_per_day,
        tenant_per_minute=app.tenant_limit_per_minute,
        tenant_per_day=app.tenant_limit_per_day,
        calls_today=reports.calls_today(app=app.client_id, now=utc_now).calls,
        resets_at=midnight + timedelta(days=1),
    )
