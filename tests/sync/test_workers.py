"""Fault tests against real Celery worker processes (issue 6, "Done when" 2).

A worker SIGKILLed mid-sync, Redis restarted mid-run, and Keap answering 5xx and timing out: each
time the sync finishes with every contact exactly once. The Redis test restarts the Redis server
at REDIS_URL itself (flushing it: `shutdown nosave`), so it runs only when that Redis is on this
machine (CI: 127.0.0.1:6379), and is turned off with ONRAMP_NO_REDIS_RESTART=1 when others share
it. To try it beside a shared Redis, point REDIS_URL at a private one (e.g. port 6390).
"""

import os
import shutil
import subprocess
import time
from urllib.parse import urlsplit

import pytest

from tests.conftest import child_env, missing_service
from tests.sync.conftest import keap_ids
from tests.workers.celery_worker import CeleryWorker
from webapp.sync import flows
from webapp.sync.models import SyncRun

pytestmark = pytest.mark.django_db(transaction=True)
V2_CONTACTS = "/crm/rest/v2/contacts"
# The worker's tuning (whole numbers, as settings.py reads them): pages of 100, a heartbeat every
# second, page retries without a pause of their own (the client still backs off between its tries).
WORKER_SYNC_ENV = {
    "SYNC_PAGE_SIZE": "100",
    "SYNC_HEARTBEAT_SECONDS": "1",
    "SYNC_PAGE_BACKOFF_SECONDS": "0",
    "SYNC_PAGE_ATTEMPTS": "4",
    "SYNC_RETRY_BASE_SECONDS": "1",
    "SYNC_RETRY_MAX_SECONDS": "4",
}


@pytest.fixture
def sync_worker(keap, settings, transactional_db, tmp_path):
    """A real worker process with the sync tuning above; the watchdog (run here) is quick too."""
    settings.SYNC_STALE_SECONDS = 3.0
    settings.SYNC_LOST_SECONDS = 8.0
    worker = CeleryWorker({**child_env(settings), **WORKER_SYNC_ENV}, tmp_path / "worker.log")
    worker.start()
    yield worker
    worker.stop()


def _wait(condition, *, timeout: float, every: float = 0.2, also=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        if also:
            also()
        time.sleep(every)
    raise AssertionError("timed out waiting")


def _run(connection) -> SyncRun:
    return SyncRun.objects.filter(connection=connection).order_by("-pk").first()


def _finished(connection, worker, *, timeout: float = 60) -> SyncRun:
    def done():
        run = _run(connection)
        return run if run and not run.is_active else None

    # The watchdog runs as beat would, every second.
    run = _wait(done, timeout=timeout, every=1.0, also=flows.rescue_stale_runs)
    assert run.status == "succeeded", f"{run.status}: {run.error}\n{worker.log_tail()}"
    return run


def test_a_worker_killed_mid_sync_resumes_from_its_checkpoint_with_every_contact_once(
    sync_worker, owner_client, connect, make_tenant, keap
):
    tenant = make_tenant(1200)
    keap.inject("latency", probability=1.0, tenant=tenant, path_prefix=V2_CONTACTS, ms=400)
    connection = connect(owner_client, app=tenant)  # the initial sync is queued at once

    _wait(lambda: (_run(connection).pages or 0) >= 2, timeout=30)
    sync_worker.kill()  # SIGKILL, mid-page
    killed_at = _run(connection)
    assert killed_at.status == "running" and 2 <= killed_at.pages < 12

    sync_worker.start()
    keap.clear_faults()
    run = _finished(connection, sync_worker)
    assert keap_ids(connection) == list(range(1, 1201))
    assert (run.pages, run.fetched, run.created) == (12, 1200, 1200)  # no page counted twice


def test_a_burst_of_5xx_and_timeouts_is_ridden_out_with_nothing_lost(
    sync_worker, owner_client, connect, make_tenant, keap
):
    tenant = make_tenant(600)
    keap.inject("error", count=6, tenant=tenant, path_prefix=V2_CONTACTS, status=503)
    keap.inject("timeout", count=2, tenant=tenant, path_prefix=V2_CONTACTS, seconds=1, then="close")
    keap.inject("error", count=2, tenant=tenant, path_prefix="/crm/rest/v1/contacts", status=500)
    connection = connect(owner_client, app=tenant)

    run = _finished(connection, sync_worker, timeout=90)
    assert keap_ids(connection) == list(range(1, 601))
    assert (run.pages, run.fetched, run.created) == (6, 600, 600)
    assert all(fault["remaining"] == 0 for fault in keap.faults())  # every fault was met


def _local_redis_port() -> int | None:
    """The port of the Redis at REDIS_URL if it runs on this machine (and may be restarted)."""
    url = urlsplit(os.environ.get("REDIS_URL", ""))
    local = url.scheme == "redis" and url.hostname in ("127.0.0.1", "localhost")
    if not local or os.environ.get("ONRAMP_NO_REDIS_RESTART") == "1":
        return None
    return (url.port or 6379) if shutil.which("redis-server") else None


def _restart_redis(port: int, workdir) -> None:
    """`shutdown nosave`, then start it again as CI does (on 6379 with CI's own paths)."""
    ci = port == 6379
    subprocess.run(["redis-cli", "-p", str(port), "shutdown", "nosave"], check=False, timeout=10)
    time.sleep(1.0)
    subprocess.run(
        ["redis-server", "--daemonize", "yes", "--bind", "127.0.0.1", "-::1", "--port", str(port),
         "--save", "", "--appendonly", "no", "--dir", "/var/lib/redis" if ci else str(workdir),
         "--logfile", "/var/log/redis/ci.log" if ci else str(workdir / "redis.log")],
        check=True, timeout=10,
    )  # fmt: skip
    _wait(
        lambda: (
            subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True).stdout
            == b"PONG\n"
        ),
        timeout=15,
    )


@pytest.mark.redis
def test_redis_restarted_mid_sync_and_the_sync_still_finishes(
    sync_worker, owner_client, connect, make_tenant, keap, tmp_path
):
    if _local_redis_port() is None:
        missing_service("a Redis on this machine at REDIS_URL that this test may restart")
    tenant = make_tenant(1000)
    keap.inject("latency", probability=1.0, tenant=tenant, path_prefix=V2_CONTACTS, ms=300)
    connection = connect(owner_client, app=tenant)
    _wait(lambda: (_run(connection).pages or 0) >= 2, timeout=30)

    _restart_redis(_local_redis_port(), tmp_path)  # queue, limiter state and cache are gone

    run = _finished(connection, sync_worker, timeout=90)
    assert keap_ids(connection) == list(range(1, 1001))
    assert (run.fetched, run.created) == (1000, 1000)
    # The worker still takes new work: its consumer reconnected instead of dying with the old
    # connection (the running task above could finish in its pool process either way).
    again = flows.start_sync(connection=connection, kind="incremental")
    assert _finished(connection, sync_worker, timeout=60).pk == again.pk
