"""Paths for the io tests: the real samples in ../shared/data and the files of tests/fixtures.

(A module with its own name rather than a conftest.py: other test modules import the top-level
``conftest`` by name, and a second conftest.py would shadow it.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO / ".." / "shared" / "data"
FIXTURES = REPO / "tests" / "fixtures"


def shared(name: str) -> Path:
    """A real sample of ../shared/data. CI clones the repo with shared/ beside it: missing is a failure."""
    path = SHARED_DATA / name
    if not path.exists():
        pytest.fail(f"{path.resolve()} is missing: the io tests need ../shared/data beside the repository")
    return path


def fixture(name: str) -> Path:
    return FIXTURES / name
