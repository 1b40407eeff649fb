"""The page: one HTML template and its scripts, linked (served app) or inlined (static report).

The scripts are classic scripts loaded in the order of ``SCRIPTS``: no bundler, no build step,
and concatenating them gives the report the exact code the served app runs.
"""

from __future__ import annotations

import base64
import hashlib
import json
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

WEB = Path(__file__).resolve().parent.parent / "web"
STYLES = ["app.css"]
SCRIPTS = [
    "util.js",
    "run.js",
    "outcomes.js",
    "sources.js",
    "map.js",
    "tree.js",
    "breakdowns.js",
    "detail.js",
    "privacy.js",
    "conversation.js",
    "filters.js",
    "upload.js",
    "trends.js",
    "diff.js",
    "app.js",
]
ASSETS = {name: ("text/css" if name.endswith(".css") else "text/javascript") for name in STYLES + SCRIPTS}

SERVED_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


@cache
def asset(name: str) -> str:
    """The text of one asset listed in ``ASSETS`` (KeyError for anything else)."""
    if name not in ASSETS:
        raise KeyError(name)
    return (WEB / name).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def version() -> str:
    """A hash of every asset, appended to their URLs so a browser never runs stale code."""
    digest = hashlib.sha256()
    for name in ASSETS:
        digest.update(asset(name).encode())
    return digest.hexdigest()[:12]


def _template() -> str:
    return (WEB / "index.html").read_text(encoding="utf-8")


def served_page() -> str:
    """index.html for ``kura serve``: assets linked from /static/."""
    v = version()
    head = "\n".join(f'<link rel="stylesheet" href="static/{n}?v={v}">' for n in STYLES)
    scripts = "\n".join(f'<script src="static/{n}?v={v}" defer></script>' for n in SCRIPTS)
    return _template().replace("<!-- kura:head -->", head).replace("<!-- kura:scripts -->", scripts)


def embed_json(value: Any) -> str:
    """JSON safe inside ``<script type="application/json">``: no ``<`` can end the element."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _sha256(text: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def report_page(data: Any, *, title: str | None = None) -> str:
    """One self-contained HTML file: styles, scripts and data inline, no network at all.

    Its Content-Security-Policy allows exactly the inlined script and style (by hash) and no
    connections, so even a rendering bug could not run injected code or send data anywhere.
    """
    css = "\n".join(asset(n) for n in STYLES)
    js = "\n".join(asset(n) for n in SCRIPTS)
    if "</script" in js.lower() or "</style" in css.lower():  # would end the inline element early
        raise RuntimeError("kura/web: a script or style contains a closing tag and cannot be inlined")
    csp = (
        f"default-src 'none'; script-src '{_sha256(js)}'; style-src '{_sha256(css)}'; img-src data:; "
        "connect-src 'none'; base-uri 'none'; form-action 'none'"
    )
    head = f'<meta http-equiv="Content-Security-Policy" content="{csp}">\n<style>{css}</style>'
    body = f'<script type="application/json" id="kura-data">{embed_json(data)}</script>\n<script>{js}</script>'
    page = _template().replace("<!-- kura:head -->", head).replace("<!-- kura:scripts -->", body)
    if title:
        from html import escape

        page = page.replace("<title>Kura</title>", f"<title>{escape(title)}</title>", 1)
    return page
