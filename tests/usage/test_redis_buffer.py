"""The Redis buffer drains exactly once: concurrent flushers, failed writes, and dead flushers."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import Sum

from tests.usage.conftest import NOON, make_call
from webapp.usage.models import FlushedBatch, RawCall, UsageDay, UsageMinute
from webapp.usage.recorder import flush, record
from webapp.usage.store import store_records


def _push(n: int) -> None:
    for i in range(n):
        record(
            make_call(
                tenant=f"t{i % 5}",
                operation=("contacts.list.v1", "goals.achieve.v1")[i % 2],
                latency_ms=i % 700,
                at=NOON + timedelta(seconds=i % 180),
            )
        )


@pytest.mark.django_db(transaction=True)
def test_concurrent_flushers_neither_lose_nor_double_count(redis_buffer, settings):
    settings.USAGE_FLUSH_BATCH = 37  # many small claims, so the flushers interleave
    total = 2000
    _push(total)
    assert redis_buffer.backlog() == total
    counts: list[int] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def flusher() -> None:
        try:
            start.wait()
            counts.append(flush())
        except BaseException as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=flusher) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert not errors
    assert sum(counts) == total
    assert len([c for c in counts if c]) > 1  # more than one flusher really took work
    assert RawCall.objects.count() == total
    assert UsageMinute.objects.aggregate(n=Sum("calls"))["n"] == total
    assert UsageDay.objects.aggregate(n=Sum("calls"))["n"] == total
    per_tenant = dict(UsageDay.objects.values_list("tenant").annotate(n=Sum("calls")))
    assert per_tenant == {f"t{i}": total // 5 for i in range(5)}
    assert redis_buffer.backlog() == 0
    assert redis_buffer.client.hlen(redis_buffer.claims) == 0


@pytest.mark.django_db
def test_a_failed_write_puts_the_batch_back(redis_buffer, monkeypatch):
    _push(10)

    def broken(records, **kwargs):
        raise RuntimeError("database down")

    monkeypatch.setattr("webapp.usage.store.store_records", broken)
    with pytest.raises(RuntimeError):
        flush()
    assert redis_buffer.backlog() == 10
    assert redis_buffer.client.hlen(redis_buffer.claims) == 0
    monkeypatch.undo()
    assert flush() == 10
    assert UsageMinute.objects.aggregate(n=Sum("calls"))["n"] == 10


def _claim_and_die(buffer, claim_id: str, n: int) -> list:
    """What a flusher killed mid-way leaves behind: a claim, registered long ago."""
    lines = buffer._claim(
        keys=[buffer.pending, buffer.claims, buffer.claim_key(claim_id)], args=[n, claim_id]
    )
    buffer.client.hset(buffer.claims, claim_id, 0)
    return lines


@pytest.mark.django_db
def test_a_dead_flushers_unwritten_claim_is_requeued(redis_buffer):
    _push(6)
    _claim_and_die(redis_buffer, "dead-before-commit", 4)
    assert redis_buffer.backlog() == 2
    assert flush() == 6
    assert UsageMinute.objects.aggregate(n=Sum("calls"))["n"] == 6
    assert not redis_buffer.client.exists(redis_buffer.claim_key("dead-before-commit"))


@pytest.mark.django_db
def test_a_dead_flushers_written_claim_is_not_counted_twice(redis_buffer):
    from webapp.usage.recorder import _parse

    _push(6)
    lines = _claim_and_die(redis_buffer, "dead-after-commit", 4)
    store_records(_parse(lines), batch_id="dead-after-commit")  # it committed, then died
    assert flush() == 2
    assert UsageMinute.objects.aggregate(n=Sum("calls"))["n"] == 6
    assert RawCall.objects.count() == 6
    assert redis_buffer.client.hlen(redis_buffer.claims) == 0
    assert FlushedBatch.objects.filter(pk="dead-after-commit").exists()


@pytest.mark.django_db
def test_a_recent_claim_is_left_to_its_flusher(redis_buffer):
    _push(3)
    lines = redis_buffer._claim(
        keys=[redis_buffer.pending, redis_buffer.claims, redis_buffer.claim_key("alive")],
        args=[3, "alive"],
    )
    assert len(lines) == 3
    assert flush() == 0  # still in flight elsewhere: not re-queued under its feet
    assert redis_buffer.client.hexists(redis_buffer.claims, "alive")


@pytest.mark.django_db
def test_max_items_bounds_one_flush(redis_buffer, settings):
    settings.USAGE_FLUSH_BATCH = 4
    _push(10)
    assert flush(max_items=6) == 6
    assert redis_buffer.backlog() == 4
    assert flush() == 4


@pytest.mark.django_db
def test_an_unreadable_line_is_dropped_not_retried_forever(redis_buffer):
    redis_buffer.push("{not json")
    record(make_call())
    assert flush() == 1
    assert redis_buffer.backlog() == 0
