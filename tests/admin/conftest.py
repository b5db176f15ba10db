"""Admin test helpers: a client per persona (the personas' clients are in tests/conftest)."""

import pytest

from tests.clients import staff_client


@pytest.fixture
def client_for():
    return staff_client
