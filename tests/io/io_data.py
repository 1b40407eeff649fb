"""Paths for the io tests: the real samples in tests/data (see kura_testdata) and tests/fixtures."""

from __future__ import annotations

from kura_testdata import REPO, shared  # noqa: F401  (re-exported for the io tests)

FIXTURES = REPO / "tests" / "fixtures"


def fixture(name: str):
    return FIXTURES / name
