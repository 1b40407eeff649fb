"""Azure OpenAI: OpenAI's API behind a deployment URL, with Kura 0.5's environment variables.

USE_AZURE_OPENAI=true            route openai/... model strings here
AZURE_OPENAI_ENDPOINT            https://<resource>.openai.azure.com
AZURE_OPENAI_API_KEY             the key
AZURE_OPENAI_API_VERSION         defaults to 2024-10-21 (structured outputs)
AZURE_OPENAI_DEPLOYMENT_NAME     the chat deployment (else the model name is used)
AZURE_EMBEDDING_DEPLOYMENT_NAME  the embedding deployment (embeddings.py)
"""

from __future__ import annotations

from typing import Any

from kura.llm.config import env, require_env
from kura.llm.openai import OpenAICompatibleLLM

DEFAULT_API_VERSION = "2024-10-21"


class AzureOpenAILLM(OpenAICompatibleLLM):
    def __init__(
        self,
        model: str,
        *,
        deployment: str | None = None,
        endpoint: str | None = None,
        api_key: str | None = None,
        api_version: str | None = None,
        **options: Any,
    ):
        super().__init__(
            model, api_key=api_key, api_key_env="AZURE_OPENAI_API_KEY", provider="azure", key_required=True, **options
        )
        self.deployment = deployment
        self.endpoint_url = endpoint
        self.api_version = api_version

    @property
    def url(self) -> str:
        return (self.endpoint_url or require_env("AZURE_OPENAI_ENDPOINT", f"{self.name}")).rstrip("/")

    @property
    def identity(self) -> str:
        return f"{self.name}@{self.url}/{self._deployment()}"

    def _deployment(self) -> str:
        return self.deployment or env("AZURE_OPENAI_DEPLOYMENT_NAME") or self.model

    def endpoint(self) -> str:
        version = self.api_version or env("AZURE_OPENAI_API_VERSION") or DEFAULT_API_VERSION
        return f"{self.url}/openai/deployments/{self._deployment()}/chat/completions?api-version={version}"

    def headers(self) -> dict[str, str]:
        return {"api-key": self.key() or ""}

    def _max_tokens_field(self) -> str:
        return "max_completion_tokens"
