"""Raw records go after USAGE_RAW_RETENTION_DAYS; rollups stay."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from tests.usage.conftest import make_call
from webapp.usage import retention
from webapp.usage.models import FlushedBatch, RawCall, UsageDay, UsageMinute
from webapp.usage.recorder import flush, record


@pytest.mark.django_db
def test_prune_deletes_only_old_raw_rows_and_keeps_rollups(settings):
    settings.USAGE_RAW_RETENTION_DAYS = 14
    now = timezone.now()
    for _ in range(7):
        record(make_call(at=now - timedelta(days=20)))
    record(make_call(at=now - timedelta(days=13, hours=23)))
    record(make_call(at=now - timedelta(minutes=1)))
    flush()
    FlushedBatch.objects.create(pk="old", flushed_at=now - timedelta(days=2))

    assert retention.prune(now=now, batch_size=3) == 7

    assert RawCall.objects.count() == 2
    assert not RawCall.objects.filter(at__lt=now - timedelta(days=14)).exists()
    assert UsageMinute.objects.filter(minute__lt=now - timedelta(days=14)).get().calls == 7
    assert sum(d.calls for d in UsageDay.objects.all()) == 9
    assert not FlushedBatch.objects.filter(pk="old").exists()
    assert retention.prune(now=now) == 0


@pytest.mark.django_db
def test_retention_days_is_a_setting(settings):
    settings.USAGE_RAW_RETENTION_DAYS = 1
    now = timezone.now()
    record(make_call(at=now - timedelta(days=2)))
    flush()
    assert retention.prune(now=now) == 1
