"""/readyz: the database, the cache and the broker each answer, or the probe says which did not."""

import json
import subprocess
import sys

import pytest
from django.test import override_settings

from tests.test_settings import ROOT, production_env

pytestmark = pytest.mark.django_db


def test_ready_when_every_store_answers(anon_client):
    response = anon_client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "cache", "broker"}
    for check in body["checks"].values():
        assert check["ok"] is True
        assert check["latency_ms"] >= 0
    assert response["Cache-Control"].startswith("max-age=0")


def test_a_broker_that_refuses_connections_makes_it_not_ready(anon_client, settings, closed_port):
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{closed_port}/0"
    response = anon_client.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["broker"]["ok"] is False
    assert checks["database"]["ok"] is True and checks["cache"]["ok"] is True
    # The probe is public: it names the failure, never the URL (which may hold a password).
    assert str(closed_port) not in response.content.decode()


def test_a_cache_that_refuses_connections_makes_it_not_ready(anon_client, closed_port):
    broken = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{closed_port}/0",
        }
    }
    with override_settings(CACHES=broken):
        response = anon_client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["cache"] == {
        "ok": False,
        "error": "ConnectionError",
        "latency_ms": body["checks"]["cache"]["latency_ms"],
    }
    assert body["checks"]["database"]["ok"] is True


def test_readiness_needs_no_sign_in_and_answers_only_get(anon_client, owner_client):
    assert owner_client.get("/readyz").status_code == 200
    assert anon_client.post("/readyz").status_code == 405


def test_probes_are_not_redirected_to_https_in_production(tmp_path):
    """With DEBUG off and SECURE_SSL_REDIRECT on, the probes answer over plain HTTP; pages redirect."""
    script = (
        "import django, json; django.setup(); from django.test import Client; c = Client();"
        "print(json.dumps({p: c.get(p, HTTP_HOST='onramp.example.com').status_code"
        " for p in ('/', '/healthz', '/readyz', '/metrics')}))"
    )
    env = production_env(tmp_path)
    env.update(DJANGO_SETTINGS_MODULE="webapp.settings", METRICS_TOKEN="")
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    statuses = json.loads(result.stdout.strip().splitlines()[-1])
    assert statuses["/"] == 301
    assert statuses["/healthz"] == 200
    assert statuses["/readyz"] == 200  # its own database, cache and broker all answer
    assert statuses["/metrics"] == 404  # no METRICS_TOKEN with DEBUG off: not served at all
