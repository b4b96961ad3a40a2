"""Fixtures shared by the whole suite: personas, the Keap sandbox, and services.

Services that run on this machine are used for real. When one is missing the test is skipped with a
reason that starts with "missing service"; with REQUIRE_SERVICES=1 (as in CI) it fails instead.
"""

import itertools
import os
import tempfile
from pathlib import Path

import pytest
from django.test import Client

from tests.factories import PASSWORD, ConnectionFactory, UserFactory

TEST_BROKER_DIR = Path(tempfile.mkdtemp(prefix="onramp-test-broker-"))


def pytest_configure(config):
    from django.conf import settings

    # No background thread flushes usage records in tests: a test that counts them flushes itself
    # (webapp.usage.recorder.flush), and no thread touches the database behind pytest's back.
    settings.USAGE_FLUSH_INTERVAL_SECONDS = 0
    if settings.CELERY_BROKER_URL == "filesystem://":
        # The embedded broker gets a folder of the session's own, so a `make run` worker on this
        # machine never picks up a test's tasks (and test workers never pick up its).
        for sub in ("queue", "processed", "control"):
            (TEST_BROKER_DIR / sub).mkdir(exist_ok=True)
        settings.CELERY_BROKER_TRANSPORT_OPTIONS = {
            "data_folder_in": str(TEST_BROKER_DIR / "queue"),
            "data_folder_out": str(TEST_BROKER_DIR / "queue"),
            "processed_folder": str(TEST_BROKER_DIR / "processed"),
            "control_folder": str(TEST_BROKER_DIR / "control"),
            "store_processed": False,
        }


def missing_service(name: str) -> None:
    """Skip (or, in CI, fail) a test that needs a service this machine does not have."""
    message = f"missing service: {name}"
    if os.environ.get("REQUIRE_SERVICES") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def owner(db):
    return UserFactory(email="owner@example.com")


@pytest.fixture
def other_customer(db):
    return UserFactory(email="other@example.com")


# The staff persona's authenticator app secret (base32), for tests that sign in with a TOTP code.
STAFF_TOTP_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


@pytest.fixture
def staff(db):
    """A member of staff with an authenticator app and recovery codes, as staff must have."""
    from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
    from allauth.mfa.totp.internal.auth import TOTP

    user = UserFactory(email="staff@example.com", is_staff=True, is_superuser=True)
    TOTP.activate(user, STAFF_TOTP_SECRET)
    RecoveryCodes.activate(user)
    return user


def _client_for(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


@pytest.fixture
def owner_client(owner) -> Client:
    return _client_for(owner)


@pytest.fixture
def other_client(other_customer) -> Client:
    return _client_for(other_customer)


@pytest.fixture
def staff_client(staff) -> Client:
    return _client_for(staff)


@pytest.fixture
def anon_client() -> Client:
    return Client()


@pytest.fixture
def connection(owner):
    return ConnectionFactory(owner=owner, app_name="ab123", business_name="Acme Bakery")


@pytest.fixture
def password() -> str:
    return PASSWORD


@pytest.fixture(autouse=True)
def _no_usage_from_earlier_tests():
    """Usage records buffered in this process by an earlier test never reach this test's database."""
    from webapp.usage import recorder

    recorder.LOCAL.items.clear()
    yield
    recorder.LOCAL.items.clear()


@pytest.fixture(autouse=True)
def _no_hook_secrets_from_earlier_tests():
    """A hook URL's secret remembered by this process in an earlier test is not this test's."""
    from webapp.hooks import views

    views.forget_secrets()


@pytest.fixture(autouse=True)
def _isolated_cache(settings):
    """Each test starts with an empty cache (allauth's rate limits live there)."""
    from django.core.cache import cache

    if not os.environ.get("REDIS_URL"):
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory):
    """One Keap sandbox process for the whole session, over real HTTP."""
    from tests.sandbox.server import run_sandbox

    with run_sandbox(tmp_path_factory.mktemp("keap-sandbox")) as server:
        yield server


@pytest.fixture
def issue_tokens(sandbox):
    """Return a function that runs the whole consent + code exchange and returns Keap's JSON."""
    return sandbox.issue_tokens


def point_onramp_at(sandbox, settings):
    """Configure Onramp for a sandbox as a fresh developer app would be, and start it clean."""
    settings.KEAP_CLIENT_ID = sandbox.client_id
    settings.KEAP_CLIENT_SECRET = sandbox.client_secret
    settings.KEAP_AUTHORIZE_URL = f"{sandbox.url}/app/oauth/authorize"
    settings.KEAP_TOKEN_URL = f"{sandbox.url}/token"
    settings.KEAP_API_URL = f"{sandbox.url}/crm"
    settings.KEAP_REDIRECT_URI = "http://testserver/connections/keap/callback"
    settings.KEAP_SIGNIN_REDIRECT_URI = "http://testserver/accounts/keap/login/callback/"
    # Keap could not reach a test client's hook URL ("testserver"); the hook tests turn hooks
    # on with a real web server for Keap to post to (tests/hooks/).
    settings.HOOKS_ENABLED = False
    sandbox.set_redirect_uris([settings.KEAP_REDIRECT_URI, settings.KEAP_SIGNIN_REDIRECT_URI])
    from webapp.keap.models import DeveloperApp

    DeveloperApp.objects.filter(client_id=sandbox.client_id).delete()  # made again from settings
    sandbox.reset_settings()
    # Keap ignores PKCE; the sandbox enforces it here, so every connect in the suite proves that
    # Onramp's challenge and verifier are right.
    sandbox.set_settings(enforce_pkce=True)
    sandbox.clear_code_exchanges()
    sandbox.clear_faults()
    sandbox.clear_hook_faults()
    sandbox.delete_all_hooks()
    sandbox.reset_quota()
    sandbox.reset_stats()
    return sandbox


@pytest.fixture
def keap(sandbox, settings):
    """The session's Keap sandbox, with Onramp pointed at it and its switches at their defaults,
    but for PKCE, which it enforces."""
    return point_onramp_at(sandbox, settings)


@pytest.fixture
def connect(keap):
    """Return a function that connects a Keap app for a signed-in test client, through the sandbox."""
    from django.urls import reverse

    from webapp.connections.models import KeapConnection

    def _connect(client: Client, app: str = "ab123", email: str = "alex@sandbox.keap.test"):
        start = client.post(reverse("connections:start"))
        params = keap.consent(start["Location"], app=app, email=email)
        response = client.get(reverse("connections:callback"), params)
        assert response.status_code == 302, response.content.decode()
        return KeapConnection.objects.get(owner=response.wsgi_request.user, app_name=app)

    return _connect


def database_url_for_children() -> str:
    """A DATABASE_URL that lets a child process use this test session's database."""
    from django.db import connection

    config = connection.settings_dict
    if config["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{config['NAME']}"
    user = config.get("USER") or ""
    password = f":{config['PASSWORD']}" if config.get("PASSWORD") else ""
    host = config.get("HOST") or "127.0.0.1"
    port = config.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{config['NAME']}"


def child_env(settings) -> dict[str, str]:
    """Environment for a child process that acts as another Onramp worker in this test."""
    return {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DATABASE_URL": database_url_for_children(),
        "KEAP_CLIENT_ID": settings.KEAP_CLIENT_ID,
        "KEAP_CLIENT_SECRET": settings.KEAP_CLIENT_SECRET,
        "KEAP_AUTHORIZE_URL": settings.KEAP_AUTHORIZE_URL,
        "KEAP_TOKEN_URL": settings.KEAP_TOKEN_URL,
        "KEAP_API_URL": settings.KEAP_API_URL,
        "KEAP_REDIRECT_URI": settings.KEAP_REDIRECT_URI,
        "TOKEN_ENCRYPTION_KEYS": ",".join(settings.TOKEN_ENCRYPTION_KEYS),
        "CELERY_FILESYSTEM_BROKER_DIR": str(TEST_BROKER_DIR),
    }


@pytest.fixture
def eager_celery():
    """Run tasks inline, raising their errors (for tests of what a task does, not of delivery)."""
    from webapp.celery import app

    saved = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = app.conf.task_eager_propagates = True
    yield app
    app.conf.task_always_eager, app.conf.task_eager_propagates = saved


@pytest.fixture
def empty_lanes():
    """Start and end with the lanes empty (this session's own broker: test folder or Redis db)."""
    import contextlib

    from webapp.celery import app
    from webapp.operations.queues import LANES

    def purge() -> None:
        with app.connection_for_write() as conn:
            channel = conn.default_channel
            for lane in LANES:
                with contextlib.suppress(Exception):
                    channel.queue_purge(lane)

    purge()
    yield
    purge()


@pytest.fixture
def celery_worker(settings, transactional_db, tmp_path):
    """A real Celery worker process on this test's database and broker; stopped afterwards."""
    from tests.workers.celery_worker import CeleryWorker

    worker = CeleryWorker(child_env(settings), tmp_path / "worker.log")
    worker.start()
    yield worker
    worker.stop()


_tenants = itertools.count(1)


@pytest.fixture
def make_tenant(keap):
    """Create a sandbox tenant of this test's own (seated for alex) with n seeded contacts."""

    def make(contacts: int = 250) -> str:
        app = f"sy{os.getpid() % 1000:03d}{next(_tenants):03d}"
        keap.create_tenant(app, name=f"Sync test {app}", users=["alex@sandbox.keap.test"])
        keap.seed_contacts(app, contacts)
        return app

    return make
