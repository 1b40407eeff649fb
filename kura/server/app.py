"""``create_app(root)``: the explorer's web app (page, static assets, JSON API) over a folder of runs.

Who may use it depends on the address it is served on (``host``):

- loopback (exactly ``127.0.0.1``, ``localhost`` or ``::1``): only this machine can connect. The
  Host header must name a loopback address with the server's port, which stops DNS-rebinding
  pages (evil.example resolving to 127.0.0.1) from reading conversations through a browser.
  A token is optional; "New run" is on unless turned off.
- anything else (``0.0.0.0``, a LAN address, even ``127.0.0.2``): other machines may connect, so
  every ``/api/`` request must carry the access token, compared in constant time; the token is
  the defence, so any Host is accepted. "New run" (uploads, and runs that may spend the
  operator's API keys) is off unless asked for.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kura.errors import ConfigError
from kura.server.api import Api
from kura.server.assets import ASSETS, SERVED_CSP, asset, served_page
from kura.server.runs import RunRegistry
from kura.server.uploads import DEFAULT_MAX_UPLOAD_MB, MB

#: The ``host`` values that keep the server on this machine. Anything else counts as shared.
LOOPBACK = ("127.0.0.1", "localhost", "::1")
#: The header the page sends the access token in.
TOKEN_HEADER = "x-kura-token"


def is_shared(host: str) -> bool:
    """Whether serving on ``host`` may let other machines in (decided on the string, on purpose:
    127.0.0.2 is loopback too, but only the three usual spellings are trusted without a token)."""
    return host not in LOOPBACK


def loopback_hosts(port: int | None) -> list[str]:
    """The Host headers a loopback server accepts: its port, or any port when not known."""
    names = ["127.0.0.1", "localhost", "[::1]"]
    return names if port is None else [f"{name}:{port}" for name in names]


HEADERS = [
    (b"content-security-policy", SERVED_CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


class Guard:
    """Refuses a request before any route runs: a Host not in ``hosts`` (None: any host), or an
    ``/api/`` request without the access ``token`` (None: no token needed)."""

    def __init__(self, app: ASGIApp, *, hosts: Sequence[str] | None, token: str | None):
        self.app = app
        self.hosts = None if hosts is None else set(hosts)
        self.token = token.encode() if token else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        host = headers.get(b"host", b"").decode("latin-1")
        if self.hosts is not None and host not in self.hosts:
            return await _refuse(send, 400, f"this server answers to {' or '.join(sorted(self.hosts))}, not {host!r}")
        if self.token is not None and scope["path"].startswith("/api/"):
            if not secrets.compare_digest(headers.get(TOKEN_HEADER.encode(), b""), self.token):
                return await _refuse(
                    send, 401, "missing or wrong access token: open the link `kura serve` printed (it ends in ?token=…)"
                )
        await self.app(scope, receive, send)


async def _refuse(send: Send, status: int, message: str) -> None:
    body = json.dumps({"detail": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


class SecurityHeaders:
    """Adds ``HEADERS`` to every response (plain ASGI: large bodies pass through untouched)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(
    root: Path,
    *,
    host: str = "127.0.0.1",
    port: int | None = None,
    token: str | None = None,
    uploads: bool | None = None,
    max_upload_mb: int = DEFAULT_MAX_UPLOAD_MB,
    allow_raw_text: bool = False,
) -> FastAPI:
    """The app for the run (or folder of runs) at ``root``, to be served on ``host``:``port``.

    ``token``: the access token every API request must carry (required when ``host`` is shared,
    optional on loopback). ``uploads``: allow "New run" (default: on loopback only).
    ``allow_raw_text``: serve the conversations of runs made with ``--privacy strict`` too
    (see :mod:`kura.server.privacy`).
    """
    shared = is_shared(host)
    if shared and not token:
        raise ConfigError(f"serving on {host} needs an access token (kura serve makes one): give --token")
    registry = RunRegistry(Path(root), allow_raw_text=allow_raw_text)
    uploads = (not shared) if uploads is None else uploads
    api = Api(registry, max_upload_bytes=max_upload_mb * MB, uploads=uploads)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        api.shutdown()

    # No /docs page: FastAPI's loads its scripts from a CDN, and this server works offline.
    app = FastAPI(
        title="Kura explorer", docs_url=None, redoc_url=None, openapi_url="/api/openapi.json", lifespan=lifespan
    )
    app.state.registry = registry
    app.state.api = api
    app.include_router(api.router)
    app.add_middleware(Guard, hosts=None if shared else loopback_hosts(port), token=token)

    app.add_middleware(SecurityHeaders)

    page = served_page()

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse(page, headers={"Cache-Control": "no-cache"})

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        if name not in ASSETS:  # only the listed files: nothing else on disk is reachable
            raise HTTPException(404, "not found")
        return Response(
            asset(name), media_type=ASSETS[name], headers={"Cache-Control": "public, max-age=31536000, immutable"}
        )

    return app
