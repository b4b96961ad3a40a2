"""Seeding helpers for the operations tests: calls go through the real usage store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from webapp.keap.models import DeveloperApp
from webapp.usage.records import CallRecord
from webapp.usage.store import store_records


def calls(n: int, *, app: str, tenant: str, at: datetime, **overrides: object) -> list[CallRecord]:
    values: dict[str, object] = {
        "app": app,
        "tenant": tenant,
        "connection_id": None,
        "operation": "contacts.list.v2",
        "lane": "bulk",
        "status": 200,
        "latency_ms": 90,
        "at": at,
    }
    values.update(overrides)
    return [CallRecord(**values) for _ in range(n)]  # type: ignore[arg-type]


def record(*batches: list[CallRecord]) -> None:
    store_records([c for batch in batches for c in batch])


@pytest.fixture
def dev_app(db) -> DeveloperApp:
    return DeveloperApp.objects.current()


@pytest.fixture
def now() -> datetime:
    return timezone.now().astimezone(UTC)


@pytest.fixture
def earlier_today(now) -> datetime:
    """A moment today (UTC) within the last hour (five minutes ago, or midnight if later)."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return max(now - timedelta(minutes=5), midnight)
