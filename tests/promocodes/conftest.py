import pytest

from tests import factories


@pytest.fixture
def ten_percent_code():
    """A single-use 10% code of a batch valid now."""
    return factories.PromoCodeFactory()
