"""The baseline bench/throttle.py measures Onramp against: Celery's own `rate_limit="25/s"`.

A Celery app configured exactly as Onramp's (`CELERY_*` settings: Redis broker, JSON, prefetch
multiplier 1), with one task that makes the same sandbox call as the benchmark's bulk work
(REST v1 achieve goal) straight over HTTP, so only Celery's rate limit stands between the workers
and Keap. Run by real worker processes:

    celery -A bench._celery_baseline worker --concurrency 1 -Q throttle-baseline

Each worker adds 1 to `READY_KEY` when it is ready, and each call adds 1 to its HTTP status in the
`STATUS_KEY` hash, both on the broker's Redis.
"""

import functools
import os

import redis
import requests
from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

QUEUE = "throttle-baseline"
READY_KEY = "bench:celery:ready"
STATUS_KEY = "bench:celery:status"

app = Celery("throttle_baseline")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_default_queue = QUEUE
app.conf.worker_hijack_root_logger = False

_session = requests.Session()


@functools.cache
def _redis() -> redis.Redis:
    # redis-py's pool notices a fork and reconnects in the child.
    return redis.Redis.from_url(app.conf.broker_url)


@worker_ready.connect
def _announce_ready(**kwargs: object) -> None:
    _redis().incr(READY_KEY)


@app.task(name="bench.throttle.achieve_goal", rate_limit="25/s", ignore_result=True)
def achieve_goal(*, api_url: str, token: str, tenant: str, contact_id: int) -> None:
    """Achieve tenant's `purchased` goal for one contact (REST v1), as the bulk work does."""
    response = _session.post(
        f"{api_url}/rest/v1/campaigns/goals/{tenant}/purchased",
        json={"contact_id": contact_id},
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        timeout=10,
    )
    _redis().hincrby(STATUS_KEY, str(response.status_code), 1)
