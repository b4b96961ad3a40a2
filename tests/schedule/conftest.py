"""The sync fixtures (a tenant of each test's own, runs driven in this process) for the plan's tests."""

from tests.sync.conftest import enqueued, sync_settings  # noqa: F401
