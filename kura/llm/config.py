"""Settings from the environment (and a ``.env`` file, as Kura 0.5 users keep their keys there).

A missing key is one line naming the variable to set; the value itself is never printed.
"""

from __future__ import annotations

import os
from pathlib import Path

from kura.errors import ConfigError

_loaded = False


def load_dotenv(path: str | Path = ".env") -> None:
    """Set variables from ``KEY=value`` lines of ``path`` that the environment does not set yet."""
    global _loaded
    if _loaded:
        return
    _loaded = True
    file = Path(path)
    if not file.is_file():
        return
    for line in file.read_text(encoding="utf-8", errors="replace").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.removeprefix("export ").split("=", 1)
        key, value = key.strip(), value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        os.environ.setdefault(key, value)


def env(name: str) -> str | None:
    load_dotenv()
    value = os.environ.get(name)
    return value if value else None


def require_env(name: str, purpose: str) -> str:
    value = env(name)
    if value is None:
        raise ConfigError(f"{purpose} needs the environment variable {name}: set it (or put {name}=... in .env)")
    return value


def flag(name: str) -> bool:
    return (env(name) or "").lower() in {"1", "true", "yes", "on"}
