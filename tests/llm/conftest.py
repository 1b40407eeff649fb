"""The language-model tests never see the developer's keys or .env."""

from __future__ import annotations

import pytest

KEY_VARIABLES = [
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "USE_AZURE_OPENAI",
    "AZURE_OPENAI_ENDPOINT",
    "AZURE_OPENAI_API_KEY",
    "AZURE_OPENAI_DEPLOYMENT_NAME",
    "AZURE_EMBEDDING_DEPLOYMENT_NAME",
    "OPENROUTER_API_KEY",
]


@pytest.fixture(autouse=True)
def no_keys(monkeypatch, tmp_path):
    """Tests never see the developer's keys or .env (and so never reach a real provider)."""
    for name in KEY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
