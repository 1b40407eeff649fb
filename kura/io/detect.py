"""Which format a file is in: the content decides (the fields of the first records, by majority);
the extension only separates tables (``.csv``, ``.tsv``, ``.parquet``) from JSON."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from kura.errors import InputError
from kura.io import hf, tabular
from kura.io.base import Problem, Source, check_path, explain_unreadable, iter_records, read_head
from kura.io.records import RECORD_FORMATS, TRACE_FORMATS, match_record

FORMATS: dict[str, str] = {
    "claude": RECORD_FORMATS["claude"].DESCRIPTION,
    "chatgpt": RECORD_FORMATS["chatgpt"].DESCRIPTION,
    "sharegpt": RECORD_FORMATS["sharegpt"].DESCRIPTION,
    "openai": RECORD_FORMATS["openai"].DESCRIPTION,
    "kura": RECORD_FORMATS["kura"].DESCRIPTION,
    "hh-rlhf": RECORD_FORMATS["hh-rlhf"].DESCRIPTION,
    **{name: module.DESCRIPTION for name, module in TRACE_FORMATS.items()},
    "openai-log": RECORD_FORMATS["openai-log"].DESCRIPTION,
    "anthropic-log": RECORD_FORMATS["anthropic-log"].DESCRIPTION,
    "csv": tabular.CSV_DESCRIPTION,
    "parquet": tabular.PARQUET_DESCRIPTION,
    "hf": hf.DESCRIPTION,
}

# Records looked at to decide a format: a few bad ones at the start must not decide for the file.
DETECT_RECORDS = 10
# Agreeing records that settle it early (the usual file: every record the same shape).
AGREEING_RECORDS = 3

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
    check_path(path, source.name)
    if path.is_dir():
        if hf.is_hf_dataset_dir(path):
            return hf.NAME
        raise InputError(
            "is a folder, not a Hugging Face dataset folder (no dataset_dict.json or state.json)",
            path=str(path),
            location=source.name,
        )
    kind = file_kind(path)
    if read_head(path, source.name, 4) == b"PAR1" or kind == "parquet":
        return "parquet"
    if kind == "csv":
        return "csv"
    return _vote(source)


def _vote(source: Source) -> str:
    """The format most of the first records match; records that fail to decode are passed over."""
    votes: Counter[str] = Counter()
    records: list[Any] = []
    problems: list[Problem] = []
    for item in iter_records(source):
        if isinstance(item, Problem):
            problems.append(item)
            if len(problems) == DETECT_RECORDS:
                break
            continue
        records.append(item.value)
        name = match_record(item.value)
        if name is not None:
            votes[name] += 1
        settled = name is not None and len(votes) == 1 and votes[name] == AGREEING_RECORDS
        if len(records) == DETECT_RECORDS or settled:
            break
    if votes:
        return votes.most_common(1)[0][0]  # a tie goes to the format seen first
    if records:
        raise InputError(_unknown(records[0]), path=str(source.path), location=source.name)
    if problems:
        raise explain_unreadable(source.path, source.name, problems[0])
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
