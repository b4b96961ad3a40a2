"""A connect through the whole stack, logged as production logs it (JSON lines, gunicorn's access
line as the Dockerfile sets it) and at DEBUG, leaves no credential in any process's log."""

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.factories import UserFactory
from tests.hooks.conftest import QUICK_HOOKS, wait_for
from tests.workers.stack import (
    browser_connects,
    browser_signs_in,
    running_stack,
    verified_subscriptions,
)
from webapp.connections.models import KeapConnection
from webapp.sync.models import SyncRun

pytestmark = pytest.mark.django_db(transaction=True)


def test_no_state_code_token_or_secret_reaches_a_log_line(keap, settings, tmp_path, make_tenant):
    tenant = make_tenant(20)
    user = UserFactory(email="logged@example.com")
    keap.set_settings(**QUICK_HOOKS)
    env = {"LOG_FORMAT": "json", "LOG_LEVEL": "DEBUG", "HOOKS_ENABLED": "true"}
    with running_stack(keap, settings, tmp_path, **env) as web:
        browser = browser_signs_in(web, user.email)
        authorize, params, callback = browser_connects(web, browser, keap, tenant)
        assert callback.status_code == 200 and tenant in callback.text
        connection = KeapConnection.objects.get(owner=user)
        wait_for(
            lambda: SyncRun.objects.filter(connection=connection, status="succeeded").exists(),
            what="the first sync", timeout=120,
        )  # fmt: skip
        hooks = verified_subscriptions(keap, tenant)
        keap.play(tenant, edits=2)  # a delivery reaches the hook URL
        wait_for(
            lambda: SyncRun.objects.filter(connection=connection, kind="changes").exists(),
            what="a delivery applied", timeout=120,
        )  # fmt: skip
        connection.refresh_from_db()
        query = parse_qs(urlsplit(authorize).query)
        secrets = {
            "state": query["state"][0],
            "code_challenge": query["code_challenge"][0],
            "code": params["code"],
            "access token": connection.access_token(),
            "refresh token": connection.refresh_token(),
            "client secret": settings.KEAP_CLIENT_SECRET,
            "hook URL secret": hooks[0]["hookUrl"].rsplit("/", 1)[1],
            "session cookie": browser.cookies["sessionid"],
        }

    logs = {name: (tmp_path / f"{name}.log").read_text() for name in ("web", "worker", "beat")}
    for name, text in logs.items():
        for what, value in secrets.items():
            assert value not in text, f"the {what} is in the {name} log"
    # The logs are there, and in the production format: the callback's line is a JSON object
    # with its path, and gunicorn's access line carries the request id but no path.
    lines = logs["web"].splitlines()
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert any(r.get("path") == "/connections/keap/callback" for r in records)
    assert any(r.get("path", "").startswith("/hooks/keap/") for r in records)
    access = [line for line in lines if line.startswith("127.0.0.1 ")]
    assert access and all("/connections/" not in line for line in access)
    assert any('"logger": "webapp.sync' in line for line in logs["worker"].splitlines())
