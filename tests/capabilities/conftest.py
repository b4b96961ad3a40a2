"""Fixtures for capability notes: every persona, and usage rows for today."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from webapp.keap.models import DeveloperApp
from webapp.usage.models import UsageDay

PERSONAS = ("owner_client", "other_client", "staff_client", "anon_client")


@pytest.fixture(params=PERSONAS)
def any_client(request):
    """Each persona in turn: the notes are public, so all of them may read."""
    return request.getfixturevalue(request.param)


@pytest.fixture
def developer_app(db) -> DeveloperApp:
    return DeveloperApp.objects.current()


def add_usage(app: str, calls: int, *, days_ago: int = 0, tenant: str = "ab123") -> None:
    """A day rollup row, as webapp.usage writes them."""
    day = datetime.now(UTC).date() - timedelta(days=days_ago)
    UsageDay.objects.create(
        app=app,
        tenant=tenant,
        connection_id=1,
        operation="contacts.list.v1",
        lane="bulk",
        day=day,
        calls=calls,
    )
