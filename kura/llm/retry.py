"""One retry policy for every provider: exponential backoff with full jitter, ``Retry-After`` honoured.

Retryable: 429, 408, 5xx, timeouts, dropped or refused connections, a body that is not JSON.
Not retryable: other 4xx (a bad key, a bad request) - retrying those only burns quota.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from kura.llm.errors import ProviderError

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """``max_attempts`` counts the first try. Delays: ``base_delay * 2**n`` with full jitter, at most
    ``max_delay``; a server's ``Retry-After`` wins when it is longer, up to ``max_retry_after``."""

    max_attempts: int = 6
    base_delay: float = 1.0
    max_delay: float = 30.0
    max_retry_after: float = 120.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait before try number ``attempt + 1`` (``attempt`` starts at 1)."""
        backoff = rng.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))
        if retry_after is not None:
            return max(min(retry_after, self.max_retry_after), backoff)
        return backoff


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: either a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


async def with_retries(
    call: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    on_retry: Callable[[ProviderError], None] | None = None,
    give_up: Callable[[], str | None] | None = None,
    rng: random.Random | None = None,
) -> T:
    """Run ``call`` until it succeeds, fails for good, or the attempts run out.

    ``give_up`` is asked before each retry; a reason it returns (say, "the server is unreachable")
    ends the loop at once, so a dead server does not hold thousands of items in backoff.
    """
    rng = rng or random.Random()
    attempt = 1
    while True:
        try:
            return await call()
        except ProviderError as exc:
            exc.attempts = attempt
            if not exc.retryable or attempt >= policy.max_attempts:
                raise
            reason = give_up() if give_up else None
            if reason:
                raise ProviderError(f"{exc} ({reason})", status=exc.status, kind=exc.kind, attempts=attempt) from exc
            if on_retry:
                on_retry(exc)
            await asyncio.sleep(policy.delay(attempt, exc.retry_after, rng))
            attempt += 1
