"""``kura doctor``: what a run here would use, and why - the local model and where it comes from
(every source tried, in order), llama.cpp, the embedder, Chromium for the explorer's tests.

It exits non-zero only for a real problem: something that is there but broken (a damaged weight
package, a model file that is not a GGUF, an embedder that does not load). A missing optional
part (no local model, no Chromium) is reported, with the command that adds it, and is fine.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 400)

CHROMIUM = "/usr/bin/chromium"


@dataclass
class Check:
    part: str
    status: str  # "ok", "missing" (optional, fine) or "problem"
    detail: str


def local_model_checks(spec: str) -> tuple[list[Check], dict]:
    """The sources tried for the local model, and the one a run would use."""
    from kura.llm.sources import SOURCES, resolve

    found = resolve(spec, assemble=False, every=True)
    checks = [
        Check(
            f"{SOURCES.index(a.source) + 1}. {a.source}",
            "problem" if a.problem else "ok" if a.found else "missing",
            a.detail,
        )
        for a in found.attempts
    ]
    chosen = found.chosen
    if chosen is None:
        verdict = "no local model: runs name every cluster offline (pip install 'kura[local]' adds one)"
    else:
        first = next(a for a in found.attempts if a.found)
        verdict = f"{chosen.name} from {chosen.source}: the first source in the order that has it ({first.detail})"
    chosen_json = asdict(chosen) | {"path": str(chosen.path) if chosen.path else None} if chosen else None
    return checks, {"wanted": found.wanted, "chosen": chosen_json, "why": verdict}


def llama_cpp_check() -> Check:
    try:
        import llama_cpp
    except ImportError:
        return Check(
            "llama.cpp", "missing", "llama-cpp-python is not installed: pip install 'kura[local]' (builds in 5-7 min)"
        )
    except Exception as exc:  # noqa: BLE001  (a broken build: say what it said)
        return Check("llama.cpp", "problem", f"llama-cpp-python does not load: {exc}")
    features = llama_cpp.llama_print_system_info().decode(errors="replace")
    flags = [f.split("=")[0].split(":")[-1].strip() for f in features.split("|") if f.strip().endswith("= 1")]
    return Check("llama.cpp", "ok", f"llama-cpp-python {llama_cpp.__version__}; CPU build with {' '.join(flags)}")


def embedder_check() -> Check:
    from kura.embedders.minilm import MiniLMEmbedder
    from kura.errors import KuraError

    embedder = MiniLMEmbedder()
    try:
        vectors = embedder.encode(["does the embedder load?"])
    except KuraError as exc:
        return Check("embedder", "problem", str(exc))
    return Check("embedder", "ok", f"{embedder.name} (offline, the default), {vectors.shape[1]} dimensions")


def chromium_check() -> Check:
    path = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    if path is None:
        return Check(
            "chromium",
            "missing",
            "no Chromium: the explorer's browser tests need it (bash scripts/install-chromium.sh)",
        )
    try:
        version = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        version = "version unknown"
    return Check("chromium", "ok", f"{path} ({version or 'version unknown'}), for the explorer's browser tests")


def doctor_command(
    llm: str = typer.Option(
        "local", "--llm", help="The local model to look for: local, local/1.5b, local:/path.gguf, local:NAME."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print everything as JSON."),
) -> None:
    """What a run would use here: the local model and its source (each source tried, and why), llama.cpp, the embedder, Chromium."""
    spec = llm.removeprefix("local:").removeprefix("local/") if llm not in ("local", "") else ""
    checks, summary = local_model_checks(spec)
    checks += [llama_cpp_check(), embedder_check(), chromium_check()]
    problems = [c for c in checks if c.status == "problem"]
    if as_json:
        sys.stdout.write(json.dumps({"local_model": summary, "checks": [asdict(c) for c in checks]}) + "\n")
    else:
        table = Table("part", "status", "what was found, or why not", title="kura doctor", title_justify="left")
        colour = {"ok": "green", "missing": "yellow", "problem": "bold red"}
        for c in checks:
            table.add_row(escape(c.part), f"[{colour[c.status]}]{c.status}[/]", escape(c.detail))
        out.print(table)
        out.print(f"[bold]Local model a run would use:[/] {escape(summary['why'])}")
        out.print(
            "Sources are tried in this order: path, pip, hf-cache, ollama, llamacpp-server (docs/llm.md, "
            '"Where local weights come from").'
        )
    if problems:
        from kura.errors import KuraError

        raise KuraError(f"{len(problems)} problem(s): " + "; ".join(f"{p.part}: {p.detail}" for p in problems))


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor_command)
