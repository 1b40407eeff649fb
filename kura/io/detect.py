"""Which format a file is in: the content decides (the first record's fields); the extension only
separates tables (``.csv``, ``.tsv``, ``.parquet``) from JSON."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kura.errors import InputError
from kura.io import hf, tabular
from kura.io.base import Problem, Record, Source, iter_records, read_head
from kura.io.records import RECORD_FORMATS, match_record

FORMATS: dict[str, str] = {
    "claude": RECORD_FORMATS["claude"].DESCRIPTION,
    "chatgpt": RECORD_FORMATS["chatgpt"].DESCRIPTION,
    "sharegpt": RECORD_FORMATS["sharegpt"].DESCRIPTION,
    "openai": RECORD_FORMATS["openai"].DESCRIPTION,
    "kura": RECORD_FORMATS["kura"].DESCRIPTION,
    "hh-rlhf": RECORD_FORMATS["hh-rlhf"].DESCRIPTION,
    "csv": tabular.CSV_DESCRIPTION,
    "parquet": tabular.PARQUET_DESCRIPTION,
    "hf": hf.DESCRIPTION,
}

# Extension (after an optional .gz) -> kind of file; a folder is found by is_hf_dataset_dir.
SUFFIXES = {".json": "json", ".jsonl": "json", ".ndjson": "json", ".csv": "csv", ".tsv": "csv", ".parquet": "parquet"}


def file_kind(path: Path) -> str | None:
    """``json``, ``csv`` or ``parquet`` from the name (``.gz`` looked through), else None."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
        if suffixes and suffixes[-1] == ".parquet":
            return None  # Parquet compresses itself; a gzipped Parquet file cannot be streamed
    return SUFFIXES.get(suffixes[-1]) if suffixes else None


def format_names() -> str:
    return ", ".join(FORMATS)


def detect_format(path: str | Path) -> str:
    """The format name of a file or folder, judged from its content (see the module docstring)."""
    return detect_source(Source(path=Path(path), name=Path(path).name))


def detect_source(source: Source) -> str:
    """As :func:`detect_format`, for a source (whose name appears in the messages)."""
    path = source.path
    if path.is_dir():
        if hf.is_hf_dataset_dir(path):
            return hf.NAME
        raise InputError(
            "is a folder, not a Hugging Face dataset folder (no dataset_dict.json or state.json)",
            path=str(path),
            location=source.name,
        )
    if not path.exists():
        raise InputError("no such file or folder", path=str(path), location=source.name)
    kind = file_kind(path)
    if read_head(path, source.name, 4) == b"PAR1" or kind == "parquet":
        return "parquet"
    if kind == "csv":
        return "csv"
    record = _first_record(source)
    name = match_record(record)
    if name is None:
        raise InputError(_unknown(record), path=str(path), location=source.name)
    return name


def _first_record(source: Source) -> Any:
    """The first record that decodes (a few broken ones at the start are passed over)."""
    problems: list[Problem] = []
    for item in iter_records(source):
        if isinstance(item, Record):
            return item.value
        problems.append(item)
        if len(problems) == 5:
            break
    if problems:
        raise InputError(
            f"no readable record at the start ({problems[0]})", path=str(source.path), location=source.name
        )
    raise InputError("holds no records (an empty JSON array)", path=str(source.path), location=source.name)


def _unknown(record: Any) -> str:
    if isinstance(record, dict) and not record:
        what = "the first record is an empty object"
    elif isinstance(record, dict):
        keys = ", ".join(repr(k) for k in list(record)[:12])
        what = f"the first record has the keys {keys}"
        if "chat_id" in record and "summary" in record:
            what += " (a Kura summaries checkpoint: it holds summaries, not conversations)"
    else:
        what = f"the first record is not an object but {type(record).__name__}"
    return f"cannot tell the format: {what}. Pass the format: one of {format_names()} (command line: --format NAME)"
