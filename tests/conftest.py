"""Session fixtures shared by the top-level tests (helpers live in kura_testdata.py)."""

import pytest
from kura_testdata import oasst_conversations


@pytest.fixture(scope="session")
def oasst():
    return oasst_conversations()
