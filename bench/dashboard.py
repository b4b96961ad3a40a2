"""Benchmark the usage pages with years of history: the connection page and the operations page.

Loads 10,000,000 recorded calls spread over 90 days for 200 connections of one developer app into
PostgreSQL, as raw records (usage_rawcall) AND as the minute and day rollups the flush would have
made of them, all with INSERT ... SELECT over generate_series inside the database (no Python loop
per row). Traffic comes in bursts: a run of calls belongs to one connection for a few minutes, as
syncs do, with ~1% answered 429 and ~1% failing with 503.

Then, in this process through Django's test client (middleware, sessions, templates, every query):
- `connection_page_p95_ms`: GET /connections/<pk>/ as its owner, the whole page with its usage
  panel, for connections taken in turn (target <= 100).
- `ops_page_p95_ms`: GET /operations/ as staff (target <= 100).
- `naive_count_ms`: the same numbers both pages show (calls today for the connection, its tenant and
  the app; its 24-hour minute series and 30-day day series; today by operation; the app's top
  tenants, last hour and event series) computed by counting raw records instead, for comparison.
  The bench checks that both ways give the same numbers (`numbers_match`).
Also printed: p50s, `usage_panel_p95_ms` (the panel alone, as htmx refreshes it), the row counts,
the load timings, and `load_average` (1-minute load before and after the requests: on a shared
2-core machine other work shows in every figure).

PostgreSQL only: the database comes from DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/test_onramp_dashboard, created if missing. Its usage tables are
emptied and reloaded unless they already hold this exact load (use --reload to force).

    .venv/bin/python bench/dashboard.py [--calls 10000000] [--days 90] [--connections 200]
                                        [--requests 300] [--reload]

The last line printed is a JSON object.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/test_onramp_dashboard"
OPERATIONS = ("contacts.list.v2", "contacts.list.v1", "contacts.get.v2", "goals.achieve.v1",
              "userinfo")  # fmt: skip
BURST = 400  # consecutive calls (a few minutes of traffic) that belong to one connection
LOAD_MARK_TENANT = "__bench_dashboard__"  # a LatestQuota row recording which load is in place


def _ensure_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def _setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    if settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise SystemExit("bench/dashboard.py needs PostgreSQL (DATABASE_URL=postgres://...)")
    settings.USAGE_FLUSH_INTERVAL_SECONDS = 0  # nothing records here; no flusher thread
    call_command("migrate", verbosity=0, interactive=False)


def _people(n_connections: int):
    """The developer app, a member of staff (with the authenticator staff must have), 200 owners
    with a connection each (a few needing reconnect), and some failed jobs."""
    from allauth.mfa.totp.internal.auth import TOTP

    from webapp.accounts.models import User
    from webapp.connections.models import KeapConnection
    from webapp.goals.models import GoalCompletion
    from webapp.keap.models import DeveloperApp
    from webapp.sync.models import SyncRun

    app = DeveloperApp.objects.current()
    staff, created = User.objects.get_or_create(
        email="bench-staff@onramp.test", defaults={"is_staff": True, "is_superuser": True}
    )
    if created:
        TOTP.activate(staff, "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP")
    connections = list(
        KeapConnection.objects.filter(owner__email__startswith="bench-owner-").order_by("pk")
    )
    if len(connections) < n_connections:
        expires = datetime.now(UTC) + timedelta(hours=24)
        for i in range(len(connections), n_connections):
            owner, _ = User.objects.get_or_create(email=f"bench-owner-{i:03d}@onramp.test")
            c = KeapConnection(owner=owner, developer_app=app, app_name=f"bt{i:03d}",
                               business_name=f"Bench business {i}")  # fmt: skip
            c.store_tokens(access_token=f"a-{i}", refresh_token=f"r-{i}", expires_at=expires)
            if i % 40 == 7:
                c.status = KeapConnection.Status.NEEDS_RECONNECT
            c.save()
            if i % 25 == 3:
                SyncRun.objects.create(connection=c, kind="incremental", status="failed",
                                       error="bench: Keap kept answering 503",
                                       finished_at=datetime.now(UTC))  # fmt: skip
                GoalCompletion.objects.create(
                    connection=c, contact_id=i + 1, integration=c.app_name, call_name="purchased",
                    idempotency_key=f"bench-{i}", status="failed", error="bench: unknown contact",
                    finished_at=datetime.now(UTC),
                )  # fmt: skip
        connections = list(
            KeapConnection.objects.filter(owner__email__startswith="bench-owner-").order_by("pk")
        )
    return app, staff, connections[:n_connections]


def _load(app, connections, *, calls: int, days: int, now: datetime) -> dict[str, float]:
    """Empty the usage tables and load raw records, minute and day rollups. Returns timings (s)."""
    from django.db import connection as db

    from webapp.usage.models import LATENCY_EDGES_MS

    ids = [c.pk for c in connections]
    tenants = [c.app_name for c in connections]
    start = now - timedelta(days=days)
    span_s = (now - start).total_seconds() - 30  # the newest call lands half a minute ago
    timings: dict[str, float] = {}
    with db.cursor() as cur:
        cur.execute("SET TIME ZONE 'UTC'")
        cur.execute("TRUNCATE usage_rawcall, usage_usageminute, usage_usageday, usage_latestquota")

        t0 = time.perf_counter()
        chunk = 1_000_000
        for first in range(1, calls + 1, chunk):
            last = min(first + chunk - 1, calls)
            # Row i is at start + i/N of the span; h is a per-row hash that picks the operation,
            # lane, status and latency; the connection changes every BURST rows, scrambled.
            cur.execute(
                """
                INSERT INTO usage_rawcall
                    (app, connection_id, tenant, operation, lane, status, latency_ms, throttled,
                     retries, quota, at)
                SELECT %(app)s, (%(ids)s::bigint[])[k], (%(tenants)s::text[])[k],
                       (%(ops)s::text[])[1 + h %% 5],
                       CASE WHEN h %% 10 < 3 THEN 'interactive' ELSE 'bulk' END,
                       CASE WHEN h %% 100 = 0 THEN 429 WHEN h %% 100 = 1 THEN 503 ELSE 200 END,
                       20 + (h / 7) %% 900 + CASE WHEN h %% 50 = 2 THEN 4000 ELSE 0 END,
                       h %% 100 = 0 OR h %% 200 = 3,
                       CASE WHEN h %% 100 = 1 THEN 1 ELSE 0 END,
                       '{}'::jsonb,
                       %(start)s::timestamptz + make_interval(secs => i * %(step)s)
                FROM (
                    SELECT i, abs(hashint8(i)) AS h,
                           1 + ((i / %(burst)s) * 7919) %% %(n)s AS k
                    FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS i
                ) AS s
                """,
                {"app": app.client_id, "ids": ids, "tenants": tenants, "ops": list(OPERATIONS),
                 "start": start, "step": span_s / calls, "burst": BURST, "n": len(ids),
                 "first": first, "last": last},
            )  # fmt: skip
            print(f"  raw records: {last:,} of {calls:,}", file=sys.stderr, flush=True)
        timings["raw_load_s"] = time.perf_counter() - t0

        # The rollups the flush (webapp.usage.store._aggregate) would have made of the same calls.
        edges = LATENCY_EDGES_MS
        buckets = [f"count(*) FILTER (WHERE latency_ms <= {edges[0]})"]
        buckets += [
            f"count(*) FILTER (WHERE latency_ms > {lo} AND latency_ms <= {hi})"
            for lo, hi in itertools.pairwise(edges)
        ]
        buckets.append(f"count(*) FILTER (WHERE latency_ms > {edges[-1]})")
        counters = f"""
            count(*),
            count(*) FILTER (WHERE status = 0 OR status >= 500 OR (status >= 400 AND status <> 429)),
            count(*) FILTER (WHERE throttled OR status = 429),
            count(*) FILTER (WHERE status = 429),
            sum(retries), sum(latency_ms), {", ".join(buckets)}, max(latency_ms)
        """
        columns = """calls, errors, throttled, responses_429, retries, latency_sum_ms,
            lat_le_50, lat_le_100, lat_le_200, lat_le_400, lat_le_800, lat_le_1600, lat_le_3200,
            lat_over, latency_max_ms"""
        t0 = time.perf_counter()
        cur.execute(
            f"""
            INSERT INTO usage_usageminute (app, tenant, connection_id, operation, lane, minute,
                                           {columns})
            SELECT app, tenant, coalesce(connection_id, 0), operation, lane,
                   date_trunc('minute', at), {counters}
            FROM usage_rawcall GROUP BY 1, 2, 3, 4, 5, 6
            """
        )
        timings["minute_rollup_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        sums = ", ".join(f"sum({c.strip()})" for c in columns.split(",")[:-1])
        cur.execute(
            f"""
            INSERT INTO usage_usageday (app, tenant, connection_id, operation, lane, day, {columns})
            SELECT app, tenant, connection_id, operation, lane, (minute AT TIME ZONE 'UTC')::date,
                   {sums}, max(latency_max_ms)
            FROM usage_usageminute GROUP BY 1, 2, 3, 4, 5, 6
            """
        )
        timings["day_rollup_s"] = time.perf_counter() - t0
        cur.execute(
            """
            INSERT INTO usage_latestquota (app, tenant, headers, seen_at)
            SELECT %s, t, jsonb_build_object('app_day', jsonb_build_object(
                       'limit', 150000, 'used', 1000 + ord, 'available', 149000 - ord)), %s
            FROM unnest(%s::text[]) WITH ORDINALITY AS u(t, ord)
            """,
            [app.client_id, now - timedelta(seconds=30), tenants],
        )
        cur.execute(
            "INSERT INTO usage_latestquota (app, tenant, headers, seen_at) VALUES (%s, %s, %s, %s)",
            [app.client_id, LOAD_MARK_TENANT, json.dumps(_mark(calls, days, len(ids), now)),
             start],
        )  # fmt: skip
    t0 = time.perf_counter()
    with db.cursor() as cur:  # outside a transaction (Django autocommits)
        for table in ("usage_rawcall", "usage_usageminute", "usage_usageday"):
            cur.execute(f"VACUUM ANALYZE {table}")
    timings["vacuum_s"] = time.perf_counter() - t0
    return timings


def _mark(calls: int, days: int, n: int, now: datetime) -> dict:
    return {"calls": calls, "days": days, "connections": n, "day": now.date().isoformat()}


def _loaded(app, *, calls: int, days: int, n: int, now: datetime) -> bool:
    from webapp.usage.models import LatestQuota

    mark = LatestQuota.objects.filter(app=app.client_id, tenant=LOAD_MARK_TENANT).first()
    return mark is not None and mark.headers == _mark(calls, days, n, now)


def _timed(fn, repeat: int) -> tuple[list[float], object]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return times, result


def _p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100, method="inclusive")[94]


def _naive_numbers(app, connection, now: datetime) -> dict:
    """Both pages' numbers by counting raw records (what the rollups exist to avoid)."""
    from django.db.models import Count, Q
    from django.db.models.functions import Trunc, TruncDate

    from webapp.usage.models import RawCall

    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    raw = RawCall.objects.filter(app=app.client_id)
    minute_start = now.replace(second=0, microsecond=0) + timedelta(minutes=1) - timedelta(days=1)
    day_start = today - timedelta(days=29)
    throttled = Q(throttled=True) | Q(status=429)
    errors = Q(status=0) | (Q(status__gte=400) & ~Q(status=429))

    def event_sum(qs) -> int:  # throttled calls plus errors, as the rollups count them
        return sum(r["t"] + r["e"] for r in qs.values("b").annotate(
            t=Count("id", filter=throttled), e=Count("id", filter=errors)))  # fmt: skip

    hour_start = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
    return {
        "connection_today": raw.filter(connection_id=connection.pk, at__gte=today).count(),
        "tenant_today": raw.filter(tenant=connection.app_name, at__gte=today).count(),
        "app_today": raw.filter(at__gte=today).count(),
        "connection_minutes": sum(
            r["n"]
            for r in raw.filter(connection_id=connection.pk, at__gte=minute_start)
            .annotate(m=Trunc("at", "minute", tzinfo=UTC))
            .values("m")
            .annotate(n=Count("id"))
        ),
        "connection_days": sorted(
            (r["d"].isoformat(), r["n"])
            for r in raw.filter(connection_id=connection.pk, at__gte=day_start)
            .annotate(d=TruncDate("at", tzinfo=UTC))
            .values("d")
            .annotate(n=Count("id"))
        ),
        "connection_ops_today": sorted(
            raw.filter(connection_id=connection.pk, at__gte=today)
            .values("operation")
            .annotate(n=Count("id"))
            .values_list("operation", "n")
        ),
        "top_tenants": sorted(
            raw.filter(at__gte=today)
            .values("tenant")
            .annotate(n=Count("id"))
            .values_list("tenant", "n"),
            key=lambda r: (-r[1], r[0]),
        )[:10],
        "last_hour": raw.filter(
            at__gte=now.replace(second=0, microsecond=0) - timedelta(minutes=59)
        ).count(),
        "events_by_hour": event_sum(
            raw.filter(throttled | errors, at__gte=hour_start).annotate(
                b=Trunc("at", "hour", tzinfo=UTC)
            )
        ),
        "events_by_day": event_sum(
            raw.filter(throttled | errors, at__gte=day_start).annotate(
                b=TruncDate("at", tzinfo=UTC)
            )
        ),
    }


def _rollup_numbers(app, connection, now: datetime) -> dict:
    """The same numbers as the pages read them (webapp.usage.reports, webapp.operations.reports)."""
    from webapp.operations import reports as ops
    from webapp.usage import reports

    overview = ops.app_overview(app, now=now)
    minutes = reports.minute_series(app=app.client_id, connection_id=connection.pk, now=now)
    days = reports.day_series(app=app.client_id, connection_id=connection.pk, now=now)
    today = reports.today(app=app.client_id, connection_id=connection.pk, now=now)
    return {
        "connection_today": reports.calls_today(
            app=app.client_id, connection_id=connection.pk, now=now
        ).calls,
        "tenant_today": reports.calls_today(
            app=app.client_id, tenant=connection.app_name, now=now
        ).calls,
        "app_today": overview.projection.calls_so_far,
        "connection_minutes": sum(t.calls for _, t in minutes),
        "connection_days": sorted((d.isoformat(), t.calls) for d, t in days if t.calls),
        "connection_ops_today": sorted((op, t.calls) for op, t in today.by_operation()),
        "top_tenants": [(r.tenant, r.calls) for r in overview.top_tenants],
        "last_hour": overview.projection.last_hour_calls,
        "events_by_hour": sum(b.throttled + b.errors for b in overview.events_by_hour),
        "events_by_day": sum(b.throttled + b.errors for b in overview.events_by_day),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--requests", type=int, default=300, help="timed requests per page")
    parser.add_argument("--reload", action="store_true", help="reload even if already loaded")
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    if not url.startswith(("postgres://", "postgresql://")):
        raise SystemExit("bench/dashboard.py needs PostgreSQL (DATABASE_URL=postgres://...)")
    _ensure_database(url)
    _setup_django(url)

    from django.test import Client
    from django.urls import reverse

    now = datetime.now(UTC)
    app, staff, connections = _people(args.connections)
    timings: dict[str, float] = {}
    if args.reload or not _loaded(app, calls=args.calls, days=args.days, n=len(connections),
                                  now=now):  # fmt: skip
        print(f"loading {args.calls:,} calls over {args.days} days ...", file=sys.stderr)
        timings = _load(app, connections, calls=args.calls, days=args.days, now=now)
        print(f"  loaded: {timings}", file=sys.stderr)

    from webapp.usage.models import RawCall, UsageDay, UsageMinute

    rows = {
        "raw_calls": RawCall.objects.count(),
        "minute_rows": UsageMinute.objects.count(),
        "day_rows": UsageDay.objects.count(),
    }
    print(f"rows: {rows}", file=sys.stderr)

    staff_client = Client(HTTP_HOST="localhost")
    staff_client.force_login(staff, backend="django.contrib.auth.backends.ModelBackend")
    owners = {}
    for c in connections:
        owners[c.pk] = Client(HTTP_HOST="localhost")
        owners[c.pk].force_login(c.owner, backend="django.contrib.auth.backends.ModelBackend")

    def get(client: Client, path: str) -> str:
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        return response.content.decode()

    ops_url = reverse("operations:index")
    # Warm up (templates compiled, connections open), and check the page against a raw count.
    page = get(staff_client, ops_url)
    shown = int(re.search(r'data-ops="today-calls">([\d,]+)', page).group(1).replace(",", ""))
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    assert shown == RawCall.objects.filter(at__gte=today).count(), "ops page disagrees with raw"
    for c in connections[:20]:
        get(owners[c.pk], reverse("connections:detail", args=[c.pk]))

    load_before = os.getloadavg()[0]
    conn_ms = []
    for i in range(args.requests):
        c = connections[i % len(connections)]
        path = reverse("connections:detail", args=[c.pk])
        t0 = time.perf_counter()
        get(owners[c.pk], path)
        conn_ms.append((time.perf_counter() - t0) * 1000)
    ops_ms, _ = _timed(lambda: get(staff_client, ops_url), args.requests)
    # The usage panel alone (what htmx refreshes), to tell it apart from the page's other panels.
    panel_ms = []
    for i in range(args.requests):
        c = connections[i % len(connections)]
        t0 = time.perf_counter()
        get(owners[c.pk], reverse("usage:panel", args=[c.pk]))
        panel_ms.append((time.perf_counter() - t0) * 1000)

    # The busiest connection today: its numbers, both ways.
    busiest = max(
        connections,
        key=lambda c: RawCall.objects.filter(connection_id=c.pk, at__gte=today).count(),
    )
    now = datetime.now(UTC)
    naive_ms, naive = _timed(lambda: _naive_numbers(app, busiest, now), 3)
    rollup_ms, rolled = _timed(lambda: _rollup_numbers(app, busiest, now), 3)
    mismatched = sorted(k for k in naive if naive[k] != rolled[k])  # type: ignore[index]
    if mismatched:
        print(f"MISMATCH {mismatched}: naive {naive} rollups {rolled}", file=sys.stderr)

    result = {
        "connection_page_p95_ms": round(_p95(conn_ms), 1),
        "connection_page_p50_ms": round(statistics.median(conn_ms), 1),
        "usage_panel_p95_ms": round(_p95(panel_ms), 1),
        "ops_page_p95_ms": round(_p95(ops_ms), 1),
        "ops_page_p50_ms": round(statistics.median(ops_ms), 1),
        "naive_count_ms": round(statistics.median(naive_ms), 1),
        "rollup_count_ms": round(statistics.median(rollup_ms), 1),
        "numbers_match": not mismatched,
        # Other work on this machine shows in the timings: the 1-minute load around the requests.
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "requests_per_page": args.requests,
        **rows,
        **{k: round(v, 1) for k, v in timings.items()},
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
