"""Kura's exceptions. Catch ``KuraError`` for all of them.

KuraError
├── InputError          a file or record that cannot be read (names the file, the record, the fix)
├── ConfigError         a bad setting or a missing optional package (names the value and the fix)
├── StageError          a pipeline stage that could not finish (names the stage and the cause)
└── StoreError          the run directory or its cache cannot be written (names the path, the cause, the fix)
"""

from __future__ import annotations


class KuraError(Exception):
    """Root of every error Kura raises on purpose."""


class InputError(KuraError):
    """Input that cannot be read. ``location`` is like ``data.jsonl line 12`` or ``export.json [3]``."""

    def __init__(self, message: str, *, path: str | None = None, location: str | None = None):
        self.path = path
        self.location = location
        where = location or path
        super().__init__(f"{where}: {message}" if where else message)


class ConfigError(KuraError):
    """A setting that cannot work, or an optional dependency that is missing."""


class StageError(KuraError):
    """A stage of the pipeline failed as a whole."""

    def __init__(self, stage: str, message: str):
        self.stage = stage
        super().__init__(f"{stage}: {message}")


class StoreError(KuraError):
    """A file of the run directory (or its item cache) that cannot be created or written."""

    def __init__(self, message: str, *, path: str):
        self.path = path
        super().__init__(f"{path}: {message}")


def missing_package(package: str, extra: str | None = None, purpose: str = "") -> ConfigError:
    """The error for an optional dependency that is not installed, with the command that fixes it."""
    fix = f"pip install 'kura[{extra}]'" if extra else f"pip install {package}"
    what = f" for {purpose}" if purpose else ""
    return ConfigError(f"the package '{package}' is needed{what} but is not installed: run `{fix}`")
