"""JSON over HTTP with one mapping from failures to ``ProviderError`` for every REST provider.

Connections are made per event loop (a pool cannot outlive the loop it was made in, and
``kura.run`` may be called many times, each with its own ``asyncio.run``). Two measured choices
keep the client's CPU per request low, which is what limits throughput against a fast server:
requests are spread over several small pools rather than one large one (httpcore's pool scans
every connection for every queued request: at 50 connections that cost more than the requests),
and they go straight to httpx's transport, skipping the client's cookie, redirect and auth
machinery that these APIs do not use (15% less CPU). When a proxy is configured in the
environment, a full ``httpx.AsyncClient`` is used instead, so proxies keep working.
"""

from __future__ import annotations

import asyncio
import itertools
import urllib.request
import weakref
from typing import Any

from kura.errors import missing_package
from kura.llm.base import LLM
from kura.llm.config import env
from kura.llm.errors import ProviderError, redact
from kura.llm.retry import RetryPolicy, parse_retry_after

CONNECTIONS_PER_CLIENT = 8


class JSONClient:
    def __init__(self, *, timeout: float, max_connections: int, secrets: list[str | None]):
        self.timeout = timeout
        self.max_connections = max_connections
        self.secrets = secrets
        self._pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[list[Any], Any]] = (
            weakref.WeakKeyDictionary()
        )

    # Pools belong to this process's event loops: a copy sent to another process makes its own.
    def __getstate__(self) -> dict[str, Any]:
        return self.__dict__ | {"_pools": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state, _pools=weakref.WeakKeyDictionary())

    def _pool(self) -> Any:
        """The next pool of this event loop: an httpx transport, or a client when behind a proxy."""
        try:
            import httpx
        except ImportError as exc:
            raise missing_package("httpx", purpose="language models over HTTP") from exc
        loop = asyncio.get_running_loop()
        entry = self._pools.get(loop)
        if entry is None:
            shards = max(1, -(-self.max_connections // CONNECTIONS_PER_CLIENT))
            per_pool = -(-self.max_connections // shards)
            limits = httpx.Limits(max_connections=per_pool, max_keepalive_connections=per_pool)
            ssl_context = httpx.create_ssl_context()  # loading CA certificates once, not per pool
            pools: list[Any]
            if urllib.request.getproxies():
                pools = [
                    httpx.AsyncClient(timeout=self.timeout, limits=limits, verify=ssl_context) for _ in range(shards)
                ]
            else:
                pools = [httpx.AsyncHTTPTransport(limits=limits, verify=ssl_context) for _ in range(shards)]
            entry = self._pools[loop] = (pools, itertools.cycle(pools))
        return next(entry[1])

    async def _send(self, url: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
        import httpx

        pool = self._pool()
        if isinstance(pool, httpx.AsyncClient):
            return await pool.post(url, json=body, headers=headers)
        request = httpx.Request(
            "POST", url, json=body, headers=headers, extensions={"timeout": httpx.Timeout(self.timeout).as_dict()}
        )
        response = await pool.handle_async_request(request)
        try:
            await response.aread()
        finally:
            await response.aclose()
        return response

    async def post(self, url: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        import httpx

        try:
            response = await self._send(url, body, headers)
        except httpx.TimeoutException as exc:
            raise ProviderError(
                f"{_host(url)}: no answer within {self.timeout:g} s ({type(exc).__name__})",
                retryable=True,
                kind="timeout",
            ) from None
        except httpx.TransportError as exc:
            raise ProviderError(
                f"{_host(url)}: connection failed ({type(exc).__name__}: {exc})", retryable=True, kind="connect"
            ) from None
        status = response.status_code
        if status >= 400:
            detail = redact(_error_detail(response), self.secrets)
            retryable = status in (408, 409, 429) or status >= 500
            raise ProviderError(
                f"{_host(url)}: HTTP {status}: {detail}",
                status=status,
                retryable=retryable,
                retry_after=parse_retry_after(response.headers.get("retry-after")),
            )
        try:
            data = response.json()
        except ValueError:
            raise ProviderError(
                f"{_host(url)}: HTTP {status} with a body that is not JSON", retryable=True, kind="body"
            ) from None
        if not isinstance(data, dict):
            raise ProviderError(
                f"{_host(url)}: HTTP {status} with a JSON body that is not an object", retryable=True, kind="body"
            )
        return data

    async def aclose(self) -> None:
        loop = asyncio.get_running_loop()
        entry = self._pools.pop(loop, None)
        for pool in entry[0] if entry else []:
            await pool.aclose()


def _host(url: str) -> str:
    return url.split("://", 1)[-1].split("/", 1)[0]


def _error_detail(response: Any) -> str:
    try:
        data = response.json()
    except ValueError:
        return response.text[:300].strip() or "(empty body)"
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error)[:300]
    if error:
        return str(error)[:300]
    return str(data)[:300]


class KeyedRESTLLM(LLM):
    """A provider reached over HTTPS with one API key (Anthropic, Gemini): the shared settings,
    the key check and the lazily made client. Subclasses set the three class attributes."""

    default_url: str = ""
    url_env: str = ""
    key_envs: tuple[str, ...] = ()

    def __init__(
        self,
        model: str,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = 120.0,
        max_concurrency: int = 50,
        retry: RetryPolicy | None = None,
        validation_retries: int = 2,
    ):
        super().__init__(model, max_concurrency=max_concurrency, retry=retry, validation_retries=validation_retries)
        self.api_key = api_key
        self.base_url = base_url
        self.timeout = timeout
        self._http: JSONClient | None = None

    @property
    def url(self) -> str:
        return (self.base_url or env(self.url_env) or self.default_url).rstrip("/")

    @property
    def identity(self) -> str:
        return f"{self.name}@{self.url}"

    def secrets(self) -> list[str | None]:
        return [self.api_key or next((value for value in map(env, self.key_envs) if value), None)]

    def _key(self) -> str:
        key = self.secrets()[0]
        if key is None:
            from kura.errors import ConfigError

            raise ConfigError(
                f"{self.name} needs an API key: set the environment variable {self.key_envs[0]} (or put it in .env)"
            )
        return key

    def check(self) -> None:
        self._key()

    def _client(self) -> JSONClient:
        if self._http is None:
            self._http = JSONClient(
                timeout=self.timeout, max_connections=max(1, self.max_concurrency), secrets=self.secrets()
            )
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
