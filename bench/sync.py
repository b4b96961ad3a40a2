"""Benchmark contact sync: 100,000 contacts from the Keap sandbox into Onramp, then 1,000 changes.

Starts its own sandbox process (temp database, 100,000 seeded contacts for `ab123`, Keap's own
limits: 25 calls/s is far above the page rate, so nothing is throttled) and runs Onramp's real sync
code in this process (webapp.sync.worker.work_on_run, what the Celery task calls) on a temp SQLite
database (or, with --postgres URL, a schema of its own in that PostgreSQL database), through the
real Keap client and the shared limiter (its Redis backend when REDIS_URL is set, as in
production; else its database backend).

Measured in the same run:
- `page_latency_s`: median time for one 1000-contact v2 page from the sandbox through Onramp's
  Keap client (limiter, token, typed records), what a strictly sequential cursor walk pays per
  page, sampled over 7 pages before the sync and 7 after it; `lower_bound_s` = pages x that.
  Also `raw_page_latency_s` (plain HTTP + JSON decode, no Onramp code) and
  `ratio_vs_plain_http` against that stricter bound.
- `wall_s`: the initial sync, claim to finish; `ratio` = wall / lower bound (target <= 1.3).
- `upsert_per_s`: contacts / time spent on local processing (target >= 20,000): reading each
  page's JSON into typed contacts, making the rows and storing them (`local_s`: the wall time
  during which any of these ran, in either thread).
- `peak_worker_rss_mb`: this process's peak RSS (target <= 250).
- `incremental_calls`: list calls the sandbox saw during the second sync (target <= 3).

    .venv/bin/python bench/sync.py [--contacts 100000] [--changed 1000] [--postgres URL]

The last line printed is a JSON object.
"""

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.sandbox.server import SandboxServer  # noqa: E402

TENANT = "ab123"


def page_latency(server: SandboxServer, token: str, pages: int = 7) -> float:
    """Median seconds for one 1000-contact v2 page, keep-alive, JSON decoded."""
    session = requests.Session()
    headers = {"Authorization": f"Bearer {token}"}
    timings, page_token = [], ""
    for _ in range(pages):
        params = {"page_size": 1000, "order_by": "id asc"}
        if page_token:
            params["page_token"] = page_token
        started = time.perf_counter()
        response = session.get(f"{server.url}/crm/rest/v2/contacts", params=params, headers=headers)
        body = response.json()
        timings.append(time.perf_counter() - started)
        assert response.status_code == 200 and len(body["contacts"]) == 1000, response.text[:200]
        page_token = body.get("next_page_token", "")
    return statistics.median(timings[1:])  # the first pays for the connection


def client_page_latencies(connection, pages: int = 8) -> list[float]:
    """Seconds for each of `pages` 1000-contact pages through Onramp's Keap client (limiter,
    token, typed records), walked in order: what one sequential page costs the sync before it
    stores anything. The first page is left out (it pays for the connection)."""
    from webapp.connections.tokens import client_for
    from webapp.limiter import Lane

    client = client_for(connection.pk, lane=Lane.BULK)
    timings, token = [], ""
    for _ in range(pages):
        started = time.perf_counter()
        page = client.list_contacts_v2(page_size=1000, page_token=token, order_by="id asc")
        timings.append(time.perf_counter() - started)
        token = page.next_page_token
    return timings[1:]


def list_calls(server: SandboxServer) -> int:
    endpoints = server.counts()["tenants"].get(TENANT, {})
    return sum(
        e["calls"] for name, e in endpoints.items() if name in ("contacts_v1", "contacts_v2")
    )


PREFIX = f"onramp-bench-sync-{os.getpid()}"


SCHEMA = f"onramp_bench_sync_{os.getpid()}"


def database_url(workdir: Path, postgres: str) -> str:
    """A temp SQLite file; or, given a PostgreSQL URL, a schema of this run's own in that
    database (created here, dropped by forget_schema), as the first on the search path."""
    if not postgres:
        return f"sqlite:///{workdir / 'onramp.sqlite3'}"
    import psycopg

    with psycopg.connect(postgres, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {SCHEMA}")
    separator = "&" if "?" in postgres else "?"
    return f"{postgres}{separator}options={quote(f'-c search_path={SCHEMA}')}"


def forget_schema(postgres: str) -> None:
    if postgres:
        import psycopg
        from django.db import connections

        connections.close_all()
        with psycopg.connect(postgres, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")


def configure(workdir: Path, server: SandboxServer, postgres: str) -> str:
    """Point Onramp at the sandbox and its database; return the limiter's backend.

    With REDIS_URL set, the shared limiter (and usage buffer) use that Redis, as production
    does, under keys of this run's own; without it, the database limiter.
    """
    from cryptography.fernet import Fernet

    os.environ.update(
        # As production runs it: DEBUG off (so no query log), real keys.
        DEBUG="false",
        SECRET_KEY=Fernet.generate_key().decode() * 2,
        TOKEN_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        ALLOWED_HOSTS="localhost",
        DJANGO_SETTINGS_MODULE="webapp.settings",
        DATABASE_URL=database_url(workdir, postgres),
        CELERY_BROKER_URL="filesystem://",
        EMBEDDED_STORES="true",  # the database limiter when REDIS_URL is not set
        CELERY_FILESYSTEM_BROKER_DIR=str(workdir / "broker"),
        KEAP_CLIENT_ID=server.client_id,
        KEAP_CLIENT_SECRET=server.client_secret,
        KEAP_AUTHORIZE_URL=f"{server.url}/app/oauth/authorize",
        KEAP_TOKEN_URL=f"{server.url}/token",
        KEAP_API_URL=f"{server.url}/crm",
        KEAP_ALLOW_HTTP="true",
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.conf import settings

    settings.LIMITER_KEY_PREFIX = f"{PREFIX}:limiter"
    settings.USAGE_REDIS_PREFIX = f"{PREFIX}:usage"
    from webapp.celery import freeze_startup_objects

    freeze_startup_objects()  # what each worker process does once started
    return "redis" if os.environ.get("REDIS_URL") else "database"


def forget_redis_keys() -> None:
    url = os.environ.get("REDIS_URL")
    if url:
        import redis

        client = redis.Redis.from_url(url)
        for key in client.scan_iter(f"{PREFIX}:*"):
            client.delete(key)


def connection_for(tokens: dict):
    from webapp.accounts.models import User
    from webapp.connections.models import KeapConnection
    from webapp.keap.models import DeveloperApp

    user = User.objects.create(email="bench@example.com")
    connection = KeapConnection(
        owner=user, developer_app=DeveloperApp.objects.current(), app_name=TENANT
    )
    connection.store_tokens(
        access_token=tokens["access_token"],
        refresh_token=tokens["refresh_token"],
        expires_at=datetime.now(UTC) + timedelta(seconds=int(tokens["expires_in"])),
    )
    connection.save()
    return connection


def _timed(module, name: str, spans: list[tuple[float, float]]):
    """Swap module.name for a copy that adds the (start, end) of each call to `spans`; return
    an undo."""
    real = getattr(module, name)

    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            spans.append((started, time.perf_counter()))

    setattr(module, name, timed)
    return lambda: setattr(module, name, real)


def busy_seconds(spans: list[tuple[float, float]]) -> float:
    """Wall time covered by at least one span. The fetching thread reads page k+1 while the
    sync stores page k: each is slowed by the other, and adding both up would count the
    shared time twice."""
    total, end = 0.0, float("-inf")
    for start, stop in sorted(spans):
        if stop > end:
            total += stop - max(start, end)
            end = stop
    return total


def sync(connection, kind: str, local_spans: list[tuple[float, float]]):
    """Work one run to the end in this process, as the Celery task would; return it.

    `local_spans` collects when local processing ran: reading each page's JSON into typed
    contacts (webapp.keap.answers.read_contacts_v2), making the rows (prepare_page) and storing them
    with the checkpoint's select and upsert (store_page)."""
    from webapp.keap import answers
    from webapp.sync import store, worker
    from webapp.sync.models import SyncRun

    undo = [
        _timed(answers, "read_contacts_v2", local_spans),
        _timed(store, "prepare_page", local_spans),
        _timed(store, "store_page", local_spans),
    ]
    try:
        run = SyncRun.objects.create(connection=connection, kind=kind)
        started = time.perf_counter()
        while worker.work_on_run(run_id=run.pk) is worker.Outcome.CONTINUE:
            pass
        wall = time.perf_counter() - started
    finally:
        for step in undo:
            step()
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    return run, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--changed", type=int, default=1_000)
    parser.add_argument(
        "--postgres",
        default="",
        metavar="URL",
        help="sync into this PostgreSQL database (in a schema of the run's own, dropped "
        "afterwards) instead of a temp SQLite file",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="onramp-sync-bench-") as tmp:
        workdir = Path(tmp)
        server = SandboxServer(workdir / "sandbox", env={"SANDBOX_SEED_CONTACTS": "0"})
        print(f"seeding {args.contacts} contacts…", flush=True)
        server.seed_offline(args.contacts, [TENANT])
        server.start()
        try:
            limiter_backend = configure(workdir, server, args.postgres)
            tokens = server.issue_tokens(app=TENANT)
            raw_latency = page_latency(server, tokens["access_token"])
            connection = connection_for(server.issue_tokens(app=TENANT))
            latencies = client_page_latencies(connection)
            print(
                f"one 1000-contact page: {raw_latency * 1000:.0f} ms plain HTTP, "
                f"{statistics.median(latencies) * 1000:.0f} ms through Onramp's client; "
                "syncing…",
                flush=True,
            )

            local_spans: list[tuple[float, float]] = []
            load_before = os.getloadavg()[0]
            first, wall = sync(connection, "initial", local_spans)
            load_after = os.getloadavg()[0]
            # Sampled again right after the sync as well, so that a machine that got busier or
            # quieter during the sync moves the bound with it.
            latencies += client_page_latencies(connection)
            latency = statistics.median(latencies)
            stored = first.created + first.updated + first.unchanged
            print(
                f"initial: {first.fetched} contacts, {first.pages} pages in {wall:.1f}s", flush=True
            )

            touched = server.touch_contacts(TENANT, count=args.changed, seed=1)["ids"]
            before = list_calls(server)
            second, second_wall = sync(connection, "incremental", [])
            incremental_calls = list_calls(server) - before
            print(
                f"incremental: {second.updated} updated of {len(touched)} touched, "
                f"{incremental_calls} list calls, {second_wall:.2f}s",
                flush=True,
            )

            from webapp.sync.models import Contact

            local = Contact.objects.filter(connection=connection).count()
        finally:
            server.stop()
            forget_redis_keys()
            forget_schema(args.postgres)

    lower_bound = first.pages * latency
    raw_lower_bound = first.pages * raw_latency
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "contacts": local,
                "pages": first.pages,
                "wall_s": round(wall, 2),
                "page_latency_s": round(latency, 4),
                "lower_bound_s": round(lower_bound, 2),
                "ratio": round(wall / lower_bound, 3),
                "raw_page_latency_s": round(raw_latency, 4),
                "ratio_vs_plain_http": round(wall / raw_lower_bound, 3),
                "upsert_per_s": round(stored / busy_seconds(local_spans)),
                "local_s": round(busy_seconds(local_spans), 2),
                "peak_worker_rss_mb": round(peak_rss_mb, 1),
                "incremental_calls": incremental_calls,
                "incremental_updated": second.updated,
                "incremental_wall_s": round(second_wall, 2),
                "limits": "Keap's own (25/s, 1,500/min): not reached",
                "limiter": limiter_backend,
                "database": "postgresql" if args.postgres else "sqlite",
                "load_average": [round(load_before, 2), round(load_after, 2)],
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
