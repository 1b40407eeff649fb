"""The explorer: ``kura serve`` (a web app and JSON API over run directories) and its pieces.

app.py       create_app(root): the page, static assets and API, with security headers
api.py       the JSON routes
runs.py      which runs exist, and a small cache of loaded ones
rundata.py   one run in memory and the payloads the page reads
fields.py    facets and metadata as compact typed columns
search.py    text search over summaries and messages
privacy.py   what a --privacy strict run may show: its privacy.json, raw text refused (403)
jobs.py      runs started from the browser, in a child process, with progress
uploads.py   upload limits and safe file names
assets.py    the page (kura/web), linked or inlined for the static report
commands.py  the `kura serve` and `kura report` commands
"""

from typing import Any

__all__ = ["create_app"]


def __getattr__(name: str) -> Any:
    # Imported on first use, so `kura --help` (which registers serve/report) never loads FastAPI.
    if name == "create_app":
        from kura.server.app import create_app

        return create_app
    raise AttributeError(name)
