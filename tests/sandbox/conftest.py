"""Fixtures for testing the sandbox itself (the session `sandbox` comes from tests/conftest.py)."""

import pytest
import requests

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
    """Limits far above what a test sends, so only quota tests ever see a 429."""
    sandbox.set_limits(**ROOMY)
    yield sandbox
    sandbox.reset_settings()
    sandbox.clear_faults()


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
