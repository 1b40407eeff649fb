"""``kura serve`` and ``kura report``, registered on the main ``kura`` command by :func:`register`."""

from __future__ import annotations

import errno
import secrets
import socket
import threading
import time
import webbrowser
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape

from kura.errors import ConfigError, KuraError

if TYPE_CHECKING:
    import uvicorn

err = Console(stderr=True)


def serve(
    run_dir: Path = typer.Argument(..., help="A run directory, or a folder of run directories."),
    host: str = typer.Option(
        "127.0.0.1",
        help="Address to listen on. Any value but 127.0.0.1, localhost or ::1 shares the explorer: "
        "every request then needs the access token, and New run is off unless --allow-uploads.",
    ),
    port: int = typer.Option(8000, help="Port to listen on (0: any free port)."),
    open_browser: bool = typer.Option(False, "--open", help="Open the explorer in your web browser."),
    max_upload_mb: int = typer.Option(200, help="Largest upload accepted by the page's New run, in MB."),
    uploads: bool | None = typer.Option(
        None,
        "--allow-uploads/--no-uploads",
        help="Allow New run from the browser: uploads, and runs that may use your API keys. "
        "Default: allowed on loopback, refused on any other --host.",
        show_default=False,
    ),
    token: str | None = typer.Option(
        None,
        envvar="KURA_TOKEN",
        help="Access token every API request must carry. Made up and printed (in the link to open) "
        "when --host is not loopback; optional on loopback.",
        show_default=False,
    ),
    allow_raw_text: bool = typer.Option(
        False,
        "--allow-raw-text",
        help="Serve the conversation text of runs made with --privacy strict (kept with --keep-raw). "
        "Default: their summaries and clusters only.",
    ),
) -> None:
    """Explore runs in your browser: cluster tree, map, breakdowns, conversations, search."""
    import uvicorn

    from kura.server import create_app
    from kura.server.app import is_shared

    if not run_dir.is_dir():
        raise KuraError(
            f"{run_dir}: no such folder: give a run directory (kura run INPUT --out DIR) or a folder of them"
        )
    shared = is_shared(host)
    if shared and not token:
        token = secrets.token_urlsafe(24)
    sock = bind(host, port)
    actual_port = sock.getsockname()[1]
    app = create_app(
        run_dir,
        host=host,
        port=actual_port,
        token=token,
        uploads=uploads,
        max_upload_mb=max_upload_mb,
        allow_raw_text=allow_raw_text,
    )
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    url = f"http://{'[' + shown + ']' if ':' in shown else shown}:{actual_port}/" + (f"?token={token}" if token else "")
    registry = app.state.registry
    # Unwrapped: a link with a token must stay one piece to be copied from a narrow terminal.
    err.print(f"[bold]Kura explorer[/] on [link={url}]{escape(url)}[/]  (Ctrl+C to stop)", soft_wrap=True)
    err.print(
        f"  runs from {escape(str(registry.root))}"
        + (f"; new runs go to {escape(str(registry.new_runs_dir))}" if app.state.api.uploads else "; New run is off")
    )
    if allow_raw_text:
        err.print("[yellow]--allow-raw-text: the conversation text of --privacy strict runs is served too.[/]")
    if shared:
        err.print(
            f"[yellow]Listening on {escape(host)}: anyone who can reach this machine and has the link above "
            "(its token) can read these conversations.[/]"
        )
    threading.Thread(target=registry.warm, name="kura-warm", daemon=True).start()
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    server = uvicorn.Server(config)
    if open_browser:
        threading.Thread(target=_open_when_ready, args=(server, url), daemon=True).start()
    server.run(sockets=[sock])


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, or a one-line error that says which port is taken and what to do."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: a TIME_WAIT port is free
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        if isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL:
            raise ConfigError(
                f"cannot listen on {host}: it is not an address of this machine (use --host 127.0.0.1)"
            ) from None
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(
                f"port {port} on {host} is in use: pick another with --port (or --port 0 for any free one)"
            ) from None
        if exc.errno == errno.EACCES:
            raise ConfigError(f"port {port} needs administrator rights: pick one above 1023 with --port") from None
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def _open_when_ready(server: uvicorn.Server, url: str) -> None:
    for _ in range(100):
        if getattr(server, "started", False):
            webbrowser.open(url)
            return
        time.sleep(0.1)


def report(
    run_dir: Path = typer.Argument(..., help="A run directory written by `kura run`."),
    output: Path = typer.Option(Path("kura-report.html"), "--output", "-o", help="The HTML file to write."),
    title: str | None = typer.Option(None, help="The page title (default: the run's name)."),
    allow_raw_text: bool = typer.Option(
        False,
        "--allow-raw-text",
        help="Include the conversation text of a run made with --privacy strict (kept with --keep-raw). "
        "Default: its summaries and clusters only.",
    ),
) -> None:
    """Write one self-contained HTML file of a run (no server, no network) to share."""
    from kura.report import build_report

    path = build_report(run_dir, output, title=title, allow_raw_text=allow_raw_text)
    size = path.stat().st_size
    err.print(
        f"Wrote [bold]{escape(str(path))}[/] ({size / 1024 / 1024:.1f} MB): open it in any browser, or attach it."
    )
    err.print(privacy_line(run_dir, allow_raw_text))


def privacy_line(run_dir: Path, allow_raw_text: bool) -> str:
    """What the report says about privacy, in one line for the terminal."""
    import json

    from kura.server.privacy import STRICT, privacy_report
    from kura.store import artifacts

    meta = json.loads((run_dir / artifacts.SIDECAR.file).read_text(encoding="utf-8"))
    if privacy_report(run_dir, meta)["profile"] != STRICT:
        return "Privacy filter off (kura run --privacy off, the default): summaries and cluster names are not scrubbed."
    text = "included (--allow-raw-text)" if allow_raw_text else "left out"
    return f"Privacy-filtered (kura run --privacy strict): conversation text {text}."


def register(app: typer.Typer) -> None:
    """Add ``serve`` and ``report`` to the ``kura`` command."""
    app.command()(serve)
    app.command()(report)
