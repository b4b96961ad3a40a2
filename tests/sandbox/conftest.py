"""Fixtures for testing the sandbox itself (the session `sandbox` comes from tests/conftest.py)."""

import itertools
from types import SimpleNamespace

import pytest
import requests

from tests.loopback import serving
from tests.sandbox.receiver import Receiver
from tests.sandbox.server import bearer, run_sandbox

ROOMY = {
    "app_limit_per_second": 100_000,
    "app_limit_per_minute": 1_000_000,
    "app_limit_per_day": 100_000_000,
    "tenant_limit_per_minute": 1_000_000,
    "tenant_limit_per_day": 100_000_000,
}


class Api:
    """A requests session against one sandbox with one credential."""

    def __init__(self, base: str, headers: dict[str, str]) -> None:
        self.base = base
        self.session = requests.Session()
        self.session.headers.update(headers)

    def __call__(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        return self.session.request(method, f"{self.base}{path}", **kwargs)


@pytest.fixture
def roomy(sandbox):
    """Limits far above what a test sends, so only quota tests ever see a 429. What it sent is
    forgotten after it, so the next test's default limits start from empty windows."""
    sandbox.set_limits(**ROOMY)
    yield sandbox
    sandbox.reset_settings()
    sandbox.clear_faults()
    sandbox.reset_quota()


@pytest.fixture(scope="module")
def ab123_token(sandbox) -> str:
    """One access token for tenant ab123 per module (the consent flow is the slow part)."""
    return sandbox.issue_tokens()["access_token"]


@pytest.fixture
def api(roomy, ab123_token):
    """Call the API as the developer app connected to tenant ab123."""
    return Api(roomy.url, bearer(ab123_token))


@pytest.fixture(scope="session")
def private_sandbox(tmp_path_factory):
    """A second sandbox for tests that jump its clock by hours or days (which would expire the
    tokens other tests hold on the shared one)."""
    with run_sandbox(tmp_path_factory.mktemp("private-sandbox")) as server:
        yield server


# Keap's delivery policy shrunk from seconds-and-minutes to fractions of a second, so retry and
# Inactive behaviour can be watched within a test. Tests that need other values set them through
# the settings control, and `hooked` puts them back.
HOOK_ENV = {
    "SANDBOX_HOOK_FIRST_DELAY_MIN_SECONDS": "0.2",
    "SANDBOX_HOOK_FIRST_DELAY_MAX_SECONDS": "0.4",
    "SANDBOX_HOOK_RETRY1_MIN_SECONDS": "0.3",
    "SANDBOX_HOOK_RETRY1_MAX_SECONDS": "0.4",
    "SANDBOX_HOOK_RETRY2_SECONDS": "0.6",
    "SANDBOX_HOOK_RETRY3_SECONDS": "0.9",
    "SANDBOX_HOOK_TIMEOUT_SECONDS": "5",
    "SANDBOX_HOOK_POLL_SECONDS": "0.05",
    **{f"SANDBOX_{name.upper()}": str(value) for name, value in ROOMY.items()},
}
_tenant_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def hook_sandbox(tmp_path_factory):
    """A sandbox of its own for REST hook tests, with Keap's delays shortened by its environment."""
    with run_sandbox(tmp_path_factory.mktemp("hook-sandbox"), env=HOOK_ENV) as server:
        yield server


@pytest.fixture
def hooked(hook_sandbox):
    """The hook sandbox; settings and delivery faults are put back after the test."""
    yield hook_sandbox
    hook_sandbox.reset_settings()
    hook_sandbox.clear_hook_faults()


@pytest.fixture
def receiver():
    """A REST hook receiver on loopback that confirms and accepts everything until told not to."""
    with serving(Receiver()) as server:
        yield server


@pytest.fixture
def fresh_tenant(hooked):
    """A new tenant with 20 contacts on the hook sandbox, and the developer app's API for it."""
    return new_tenant(hooked)


def new_tenant(server, contacts: int = 20) -> SimpleNamespace:
    app = f"hk{next(_tenant_numbers):04d}"
    server.create_tenant(app, users=["alex@sandbox.keap.test"], contacts=contacts)
    token = server.issue_tokens(app=app)["access_token"]
    return SimpleNamespace(app=app, api=Api(server.url, bearer(token)), token=token)
