"""The beat tasks do their job when run."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.usage.conftest import make_call
from webapp.usage.models import RawCall, UsageMinute
from webapp.usage.recorder import flush, record
from webapp.usage.tasks import flush_usage, prune_usage


@pytest.mark.django_db
def test_flush_usage_task_writes_the_buffer(backend, eager_celery):
    record(make_call())
    record(make_call())
    flush_usage.delay()
    assert UsageMinute.objects.get().calls == 2


@pytest.mark.django_db
def test_prune_usage_task_deletes_old_raw_rows(eager_celery):
    record(make_call(at=timezone.now() - timedelta(days=30)))
    record(make_call(at=timezone.now()))
    flush()
    prune_usage.delay()
    assert RawCall.objects.count() == 1
