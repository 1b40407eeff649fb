"""Session fixtures shared by the top-level tests (helpers live in kura_testdata.py)."""

import pytest
from kura_testdata import oasst_conversations


@pytest.fixture(scope="session")
def oasst():
    return oasst_conversations()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that drives Chromium, so `make quick` can leave them out."""
    for item in items:
        if {"page", "browser"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.browser)
