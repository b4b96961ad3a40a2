"""A load test that is a test: 50 signed-in customers for 30 s against the production web server
(bench/load.py: gunicorn as deployed, DEBUG off, PostgreSQL and Redis), and not one error."""

import json
import os
import subprocess
import sys

import psycopg
import redis

from tests.conftest import missing_service
from tests.workers.processes import ROOT

SERVER = "postgres://postgres@127.0.0.1:5432"
REDIS = "redis://127.0.0.1:6379/12"  # bench/load.py flushes it


def _services() -> None:
    try:
        psycopg.connect(f"{SERVER}/postgres", connect_timeout=3).close()
    except psycopg.Error:
        missing_service("postgresql at 127.0.0.1:5432")
    try:
        redis.Redis.from_url(REDIS, socket_connect_timeout=3).ping()
    except redis.RedisError:
        missing_service("redis at 127.0.0.1:6379")


def test_fifty_signed_in_customers_for_thirty_seconds_see_no_error(tmp_path):
    _services()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_"))},
        "DATABASE_URL": f"{SERVER}/test_onramp_load",  # created and dropped by the run
        "REDIS_URL": REDIS,
        "TMPDIR": str(tmp_path),
    }
    run = subprocess.run(
        [
            sys.executable, "bench/load.py", "--users", "50", "--seconds", "30",
            "--customers", "50", "--contacts", "200", "--signed-in",
        ],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result["errors"] == 0, run.stdout[-3000:]
    pages = result["pages"]
    browsed = {"dashboard", "connection", "sync_progress", "contacts", "contacts_search",
               "usage_panel", "goals_panel"}  # fmt: skip
    # Every page was asked for many times over the 30 s (sign-ins are paced, so not those).
    assert {name: pages[name]["requests"] >= 20 for name in browsed} == dict.fromkeys(browsed, True)
