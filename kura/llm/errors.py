"""Errors of the language-model layer, under Kura's root ``KuraError``.

    KuraError
    └── LLMError               a call that did not produce a valid answer (carries ``attempts``)
        ├── ProviderError      the provider said no or could not be reached (``status``, ``retryable``,
        │                      ``retry_after``); 429, 5xx, timeouts and dropped connections are retryable
        └── InvalidOutputError the model kept answering with JSON that does not fit the schema

A missing API key or optional package is a ``ConfigError`` (one line naming the fix), raised when
the model is first used, never when it is constructed.
"""

from __future__ import annotations

from kura.errors import KuraError


class LLMError(KuraError):
    """A language-model call that failed after every retry it was allowed."""

    def __init__(self, message: str, *, attempts: int = 1):
        self.attempts = attempts
        super().__init__(message)


class ProviderError(LLMError):
    """An HTTP or transport failure. ``kind`` is ``http``, ``timeout``, ``connect`` or ``body``."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        kind: str = "http",
        attempts: int = 1,
    ):
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after
        self.kind = kind
        super().__init__(message, attempts=attempts)


class InvalidOutputError(LLMError):
    """The reply never validated against the response model, even with the error shown to the model."""


def describe(exc: BaseException) -> str:
    """One line for errors.jsonl and the end-of-run report: the type and the message, capped."""
    text = f"{type(exc).__name__}: {exc}"
    return text if len(text) <= 500 else text[:497] + "..."


def redact(text: str, secrets: list[str | None]) -> str:
    """Remove secrets (API keys) from a message before it can reach a log, a file or a terminal."""
    for secret in secrets:
        if secret and len(secret) >= 6:
            text = text.replace(secret, "***")
    return text
