"""What a load did, file by file: conversations read, records skipped and why, duplicates."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

MAX_ISSUES = 20  # kept per file; all are counted


@dataclass
class FileReport:
    path: str
    name: str
    format: str = "auto"
    loaded: int = 0
    skipped: int = 0
    duplicates: int = 0
    renamed: int = 0
    issue_count: int = 0
    issues: list[str] = field(default_factory=list)
    # Set when the file could not be read at all (only for files found inside a folder).
    error: str | None = None

    def note(self, message: str) -> None:
        self.issue_count += 1
        if len(self.issues) < MAX_ISSUES:
            self.issues.append(message)

    def skip(self, message: str) -> None:
        self.skipped += 1
        self.note(message)

    def summary(self) -> str:
        if self.error is not None and not self.loaded:
            return f"{self.name}: not read: {self.error}"
        noun = "conversation" if self.loaded == 1 else "conversations"
        parts = [f"{self.name}: {self.loaded:,} {noun} ({self.format})"]
        if self.skipped:
            parts.append(f"{self.skipped:,} skipped")
        if self.duplicates:
            parts.append(f"{self.duplicates:,} duplicate{'s' if self.duplicates != 1 else ''} dropped")
        if self.renamed:
            parts.append(f"{self.renamed:,} repeated id{'s' if self.renamed != 1 else ''} renamed")
        if self.error is not None:
            parts.append(f"then stopped: {self.error}")
        return ", ".join(parts)


@dataclass
class LoadReport:
    """Filled by ``iter_conversations(..., report=...)`` as it reads; complete when iteration ends."""

    files: list[FileReport] = field(default_factory=list)
    # Conversation objects handed over directly (not read from a file).
    objects: int = 0

    def add_file(self, path: str, name: str) -> FileReport:
        entry = FileReport(path=path, name=name)
        self.files.append(entry)
        return entry

    def add_objects(self, count: int) -> None:
        self.objects += count

    @property
    def total_loaded(self) -> int:
        return self.objects + sum(f.loaded for f in self.files)

    @property
    def total_skipped(self) -> int:
        return sum(f.skipped for f in self.files)

    @property
    def total_duplicates(self) -> int:
        return sum(f.duplicates for f in self.files)

    @property
    def total_issues(self) -> int:
        return sum(f.issue_count for f in self.files)

    @property
    def failed_files(self) -> list[FileReport]:
        """Files that could not be read at all."""
        return [f for f in self.files if f.error is not None and not f.loaded]

    def as_dicts(self) -> list[dict[str, Any]]:
        out = [asdict(f) for f in self.files]
        if self.objects:
            out.append({"path": None, "name": "(conversation objects)", "format": "objects", "loaded": self.objects})
        return out

    def summary_lines(self, issues_per_file: int = 3) -> list[str]:
        """One line per file, then its first few issues indented; a total when there are several."""
        lines = []
        for entry in self.files:
            lines.append(entry.summary())
            lines.extend(f"  {issue}" for issue in entry.issues[:issues_per_file])
            hidden = entry.issue_count - min(issues_per_file, len(entry.issues))
            if hidden > 0:
                lines.append(f"  ... and {hidden:,} more")
        if self.objects:
            lines.append(f"{self.objects:,} conversations passed as objects")
        if len(self.files) + bool(self.objects) > 1:
            read = len(self.files) - len(self.failed_files)
            total = f"total: {self.total_loaded:,} conversations from {read} file{'s' if read != 1 else ''}"
            if self.total_skipped:
                total += f", {self.total_skipped:,} skipped"
            if self.total_duplicates:
                total += f", {self.total_duplicates:,} duplicates dropped"
            if self.failed_files:
                failed = len(self.failed_files)
                total += f", {failed} file{'s' if failed != 1 else ''} not read"
            lines.append(total)
        return lines
