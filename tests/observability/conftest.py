import pytest

from tests.sandbox.server import free_port


@pytest.fixture
def closed_port() -> int:
    """A loopback port nothing listens on: connections to it are refused at once."""
    return free_port()
