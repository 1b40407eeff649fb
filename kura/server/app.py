"""``create_app(root)``: the explorer's web app (page, static assets, JSON API) over a folder of runs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.responses import HTMLResponse, Response
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kura.server.api import Api
from kura.server.assets import ASSETS, SERVED_CSP, asset, served_page
from kura.server.runs import RunRegistry
from kura.server.uploads import DEFAULT_MAX_UPLOAD_MB, MB

#: Host names a local server answers to. Anything else is refused, which stops DNS-rebinding
#: pages (evil.example resolving to 127.0.0.1) from reading conversations through the browser.
LOCAL_HOSTS = ["127.0.0.1", "localhost", "::1", "[::1]"]


HEADERS = [
    (b"content-security-policy", SERVED_CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]


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
    max_upload_mb: int = DEFAULT_MAX_UPLOAD_MB,
    uploads: bool = True,
    allowed_hosts: Sequence[str] | None = None,
) -> FastAPI:
    """The app for the run (or folder of runs) at ``root``.

    ``allowed_hosts`` are the Host headers accepted (default: loopback names only; pass the
    address given to ``--host`` when serving beyond this machine).
    """
    registry = RunRegistry(Path(root))
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
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts or LOCAL_HOSTS))

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
