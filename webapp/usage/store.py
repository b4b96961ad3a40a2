"""Write a batch of buffered call records to the database: raw rows, rollups, latest quota headers.

One transaction per batch. Rollups are upserted with `INSERT ... ON CONFLICT ... DO UPDATE SET
n = n + excluded.n`, which SQLite (3.24+) and PostgreSQL both speak: the database adds, so two
flushers writing the same minute never lose each other's counts, and a second flush adds to the
first instead of overwriting it. Django's `bulk_create(update_conflicts=True)` can only overwrite,
which is why this one statement is hand-written.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.db import connection, transaction
from django.db.models import Field, Model

from webapp.usage.models import (
    COUNTER_FIELDS,
    HISTOGRAM_FIELDS,
    NO_CONNECTION,
    FlushedBatch,
    LatestQuota,
    RawCall,
    UsageDay,
    UsageMinute,
    is_error,
    latency_bucket,
)

if TYPE_CHECKING:
    from webapp.usage.records import CallRecord

logger = logging.getLogger(__name__)

KEY_FIELDS = ("app", "tenant", "connection_id", "operation", "lane")
# Rows per INSERT: 22 parameters each stays far below SQLite's 32,766-variable limit.
UPSERT_CHUNK = 500
_COUNTER_INDEX = {name: i for i, name in enumerate(COUNTER_FIELDS)}


def store_records(records: Sequence[CallRecord], *, batch_id: str | None = None) -> int:
    """Write `records` (raw rows, rollups, latest quota) in one transaction; return how many.

    With `batch_id`, a batch already written under that id is skipped (returns 0), so a Redis batch
    recovered after a crash is never counted twice.
    """
    if not records:
        return 0
    with transaction.atomic():
        if batch_id is not None:
            if FlushedBatch.objects.filter(pk=batch_id).exists():
                logger.warning("usage: batch %s was already written; skipping it", batch_id)
                return 0
            FlushedBatch.objects.create(pk=batch_id)
        RawCall.objects.bulk_create((_raw(r) for r in records), batch_size=1000)
        minutes, days = _aggregate(records)
        _upsert(UsageMinute, "minute", minutes)
        _upsert(UsageDay, "day", days)
        _update_latest_quota(records)
    return len(records)


def _raw(r: CallRecord) -> RawCall:
    return RawCall(
        app=r.app,
        connection_id=r.connection_id,
        tenant=r.tenant,
        operation=r.operation,
        lane=r.lane,
        status=r.status,
        latency_ms=r.latency_ms,
        throttled=r.throttled,
        retries=r.retries,
        quota=dict(r.quota),
        at=r.at,
    )


def _aggregate(
    records: Iterable[CallRecord],
) -> tuple[dict[tuple[Any, ...], list[int]], dict[tuple[Any, ...], list[int]]]:
    """Sum the batch per rollup key in Python, so each key costs one row in one statement.

    Values are COUNTER_FIELDS in order, then latency max.
    """
    minutes: dict[tuple[Any, ...], list[int]] = {}
    days: dict[tuple[Any, ...], list[int]] = {}
    width = len(COUNTER_FIELDS) + 1
    for r in records:
        at = r.at.astimezone(UTC)
        key = (r.app, r.tenant, r.connection_id or NO_CONNECTION, r.operation, r.lane)
        for table, bucket in (
            (minutes, at.replace(second=0, microsecond=0)),
            (days, at.date()),
        ):
            row = table.get((*key, bucket))
            if row is None:
                row = table[(*key, bucket)] = [0] * width
            row[_COUNTER_INDEX["calls"]] += 1
            row[_COUNTER_INDEX["errors"]] += is_error(r.status)
            row[_COUNTER_INDEX["throttled"]] += r.throttled or r.status == 429
            row[_COUNTER_INDEX["responses_429"]] += r.status == 429
            row[_COUNTER_INDEX["retries"]] += r.retries
            row[_COUNTER_INDEX["latency_sum_ms"]] += r.latency_ms
            row[_COUNTER_INDEX[HISTOGRAM_FIELDS[latency_bucket(r.latency_ms)]]] += 1
            row[-1] = max(row[-1], r.latency_ms)
    return minutes, days


def _upsert(
    model: type[UsageMinute] | type[UsageDay], bucket: str, rows: dict[tuple[Any, ...], list[int]]
) -> None:
    """INSERT the rows; where the key exists, ADD the counters and keep the larger maximum."""
    if not rows:
        return
    qn = connection.ops.quote_name

    def column(name: str) -> str:
        return str(_field(model, name).column)

    table = qn(model._meta.db_table)
    key_fields = (*KEY_FIELDS, bucket)
    value_fields = (*COUNTER_FIELDS, "latency_max_ms")
    columns = [column(f) for f in (*key_fields, *value_fields)]
    bucket_field = _field(model, bucket)
    greatest = "MAX" if connection.vendor == "sqlite" else "GREATEST"
    updates = [f"{qn(c)} = {table}.{qn(c)} + excluded.{qn(c)}" for c in map(column, COUNTER_FIELDS)]
    max_col = qn(column("latency_max_ms"))
    updates.append(f"{max_col} = {greatest}({table}.{max_col}, excluded.{max_col})")
    conflict = ", ".join(qn(column(f)) for f in key_fields)
    row_sql = "(" + ", ".join(["%s"] * len(columns)) + ")"
    # Sorted, so two flushers lock the same keys in the same order and cannot deadlock on PostgreSQL.
    items = sorted(rows.items(), key=lambda kv: tuple(str(k) for k in kv[0]))
    with connection.cursor() as cursor:
        for start in range(0, len(items), UPSERT_CHUNK):
            chunk = items[start : start + UPSERT_CHUNK]
            params: list[Any] = []
            for key, values in chunk:
                prepared_bucket = bucket_field.get_db_prep_value(key[-1], connection)
                params.extend((*key[:-1], prepared_bucket, *values))
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(qn(c) for c in columns)}) "  # noqa: S608
                f"VALUES {', '.join([row_sql] * len(chunk))} "
                f"ON CONFLICT ({conflict}) DO UPDATE SET {', '.join(updates)}",
                params,
            )


def _field(model: type[Model], name: str) -> Field[Any, Any]:
    field = model._meta.get_field(name)
    assert isinstance(field, Field)  # a column of the model's own, not a relation's other side
    return field


def _update_latest_quota(records: Iterable[CallRecord]) -> None:
    """Keep the newest non-empty quota headers per (app, tenant); an older batch never wins."""
    newest: dict[tuple[str, str], tuple[datetime, dict[str, Any]]] = {}
    for r in records:
        if r.quota and ((r.app, r.tenant) not in newest or r.at > newest[(r.app, r.tenant)][0]):
            newest[(r.app, r.tenant)] = (r.at, dict(r.quota))
    for (app, tenant), (at, headers) in sorted(newest.items()):
        stale = LatestQuota.objects.filter(app=app, tenant=tenant, seen_at__lt=at)
        if stale.update(headers=headers, seen_at=at):
            continue
        # No row, or a newer one. Insert if none; if another flusher inserted first, try once more.
        LatestQuota.objects.bulk_create(
            [LatestQuota(app=app, tenant=tenant, headers=headers, seen_at=at)],
            ignore_conflicts=True,
        )
        stale.update(headers=headers, seen_at=at)
