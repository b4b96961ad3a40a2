"""Benchmark contact sync: 100,000 contacts from the Keap sandbox into Onramp, then 1,000 changes.

Starts its own sandbox process (temp database, 100,000 seeded contacts for `ab123`, Keap's own
limits: 25 calls/s is far above the page rate, so nothing is throttled) and runs Onramp's real sync
code in this process (webapp.sync.flows.work_on_run, what the Celery task calls) on a temp SQLite
database, through the real Keap client and the shared limiter (its database backend).

Measured in the same run:
- `page_latency_s`: median time for one 1000-contact v2 page from the sandbox through Onramp's
  Keap client (limiter, token, typed records), what a strictly sequential cursor walk pays per
  page; `lower_bound_s` = pages x that. Also `raw_page_latency_s` (plain HTTP + JSON decode, no
  Onramp code) and `ratio_vs_plain_http` against that stricter bound.
- `wall_s`: the initial sync, claim to finish; `ratio` = wall / lower bound (target <= 1.3).
- `upsert_per_s`: contacts / time spent storing pages (local processing only; target >= 20,000).
- `peak_worker_rss_mb`: this process's peak RSS (target <= 250).
- `incremental_calls`: list calls the sandbox saw during the second sync (target <= 3).

    .venv/bin/python bench/sync.py [--contacts 100000] [--changed 1000]

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


def client_page_latency(connection, pages: int = 7) -> float:
    """Median seconds for one 1000-contact page through Onramp's Keap client (limiter, token,
    typed records): what one sequential page costs the sync before it stores anything."""
    from webapp.connections.tokens import client_for
    from webapp.keap.client import Lane

    client = client_for(connection.pk, lane=Lane.BULK)
    timings, token = [], ""
    for _ in range(pages):
        started = time.perf_counter()
        page = client.list_contacts_v2(page_size=1000, page_token=token, order_by="id asc")
        timings.append(time.perf_counter() - started)
        token = page.next_page_token
    return statistics.median(timings[1:])


def list_calls(server: SandboxServer) -> int:
    endpoints = server.counts()["tenants"].get(TENANT, {})
    return sum(
        e["calls"] for name, e in endpoints.items() if name in ("contacts_v1", "contacts_v2")
    )


PREFIX = f"onramp-bench-sync-{os.getpid()}"


def configure(workdir: Path, server: SandboxServer) -> str:
    """Point Onramp at the sandbox and a temp SQLite database; return the limiter's backend.

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
        DATABASE_URL=f"sqlite:///{workdir / 'onramp.sqlite3'}",
        CELERY_BROKER_URL="filesystem://",
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


def sync(connection, kind: str, store_seconds: list[float]):
    """Work one run to the end in this process, as the Celery task would; return it."""
    from webapp.sync import flows, store
    from webapp.sync.models import SyncRun

    real = store.store_page

    def timed(**kwargs):
        started = time.perf_counter()
        try:
            return real(**kwargs)
        finally:
            store_seconds.append(time.perf_counter() - started)

    store.store_page = timed
    try:
        run = SyncRun.objects.create(connection=connection, kind=kind)
        started = time.perf_counter()
        while flows.work_on_run(run_id=run.pk) is flows.Outcome.CONTINUE:
            pass
        wall = time.perf_counter() - started
    finally:
        store.store_page = real
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    return run, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--changed", type=int, default=1_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="onramp-sync-bench-") as tmp:
        workdir = Path(tmp)
        server = SandboxServer(workdir / "sandbox", env={"SANDBOX_SEED_CONTACTS": "0"})
        print(f"seeding {args.contacts} contacts…", flush=True)
        server.seed_offline(args.contacts, [TENANT])
        server.start()
        try:
            limiter_backend = configure(workdir, server)
            tokens = server.issue_tokens(app=TENANT)
            raw_latency = page_latency(server, tokens["access_token"])
            connection = connection_for(server.issue_tokens(app=TENANT))
            latency = client_page_latency(connection)
            print(
                f"one 1000-contact page: {raw_latency * 1000:.0f} ms plain HTTP, "
                f"{latency * 1000:.0f} ms through Onramp's client; syncing…",
                flush=True,
            )

            store_seconds: list[float] = []
            first, wall = sync(connection, "initial", store_seconds)
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
                "upsert_per_s": round(stored / sum(store_seconds)),
                "peak_worker_rss_mb": round(peak_rss_mb, 1),
                "incremental_calls": incremental_calls,
                "incremental_updated": second.updated,
                "incremental_wall_s": round(second_wall, 2),
                "limits": "Keap's own (25/s, 1,500/min): not reached",
                "limiter": limiter_backend,
                "load_average": round(os.getloadavg()[0], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
