"""``run.json``: the run directory's typed sidecar, and the typed failure record.

The sidecar records, for each stage, the fingerprint it ran with and the size and sha256 of
what it wrote. A stage is reused only when both still match: an edited, truncated or swapped
artifact is recomputed, never trusted. A sidecar that is missing, empty or unreadable makes a
fresh start (every stage recomputes; the item cache still spares the per-item work).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

#: Version 2: typed stages with artifact digests and computed/reused counts. Version 1 sidecars
#: (Kura 0.6.0) carry no digests, so their stages are recomputed once.
META_VERSION = 2


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Failure(BaseModel):
    """One item that failed in one stage; retried by the next run."""

    id: str
    stage: str
    error: str

    def __getitem__(self, key: str) -> str:
        """``failure["error"]``, as when failures were dicts (Kura 0.6.0)."""
        return str(getattr(self, key))


class FileDigest(BaseModel):
    size: int
    sha256: str


class StageRecord(BaseModel):
    """What a stage last did, and how to tell whether its output can be trusted again."""

    fingerprint: str
    #: Each file the stage wrote, by name, with its size and sha256 when written.
    files: dict[str, FileDigest]
    finished_at: str = Field(default_factory=now)
    #: False when some items failed: the next run computes the stage again.
    complete: bool = True
    component: str = ""
    computed: int = 0
    reused: int = 0
    seconds: float = 0.0
    #: What the stage did worth keeping (the privacy layers' counts, for example).
    details: dict[str, Any] = Field(default_factory=dict)


class RunMeta(BaseModel):
    model_config = ConfigDict(extra="allow")

    version: int = META_VERSION
    kura_version: str = ""
    created_at: str = Field(default_factory=now)
    updated_at: str = Field(default_factory=now)
    mode: str = ""
    #: What each stage's component calls itself, and the tree's sizes.
    settings: dict[str, Any] = Field(default_factory=dict)
    #: The run's kura.RunConfig as given (objects by label): enough to run the same again.
    config: dict[str, Any] = Field(default_factory=dict)
    inputs: list[dict[str, Any]] = Field(default_factory=list)
    counts: dict[str, Any] = Field(default_factory=dict)
    seconds: dict[str, float] = Field(default_factory=dict)
    reused: list[str] = Field(default_factory=list)
    usage: dict[str, Any] | None = None
    stages: dict[str, StageRecord] = Field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> tuple[RunMeta, str | None]:
        """The sidecar at ``path``, or a fresh one and the reason the old one was not used."""
        if not path.exists():
            return cls(), None
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(raw, dict):
                raise ValueError("not a JSON object")
            if raw.get("version") != META_VERSION:
                old = cls.model_validate({k: v for k, v in raw.items() if k not in ("stages", "version")})
                return old, f"{path.name} is from an older Kura: every stage is checked again"
            return cls.model_validate(raw), None
        except (OSError, UnicodeDecodeError, ValueError, ValidationError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return cls(), f"{path.name} could not be read ({reason}): starting afresh"
