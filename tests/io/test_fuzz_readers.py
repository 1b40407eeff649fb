"""Every reader of kura.io fed random and damaged files (property-based, with hypothesis).

Two properties, for every format the loader dispatches to:

- only Kura's own errors come out, each one short line (never another exception, never a hang);
- a damaged record costs only itself: files are built from real records (tests/fixtures, tests/data,
  data/), some of them spoilt (cut off, retyped, bytes flipped, nested too deep, NUL, bytes that are
  not UTF-8, a BOM, a lone surrogate, a very long value); every conversation no spoilt record took
  part in still loads exactly as from the clean file, and every skipped record is a spoilt one.

The examples are derandomised (the same on every run and machine): a failure is reproducible, and
hypothesis prints the smallest input that shows it. Inputs are bounded (a few MB at most), so a
hang is caught by the deadline and a watchdog alarm, and memory stays small.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import re
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from io_data import fixture, shared
from kura_testdata import DEMO_DATA

from kura.errors import KuraError
from kura.io import LoadReport, load_conversations
from kura.io.detect import FORMATS
from kura.types import Conversation

# Derandomised: the examples depend only on the test, so CI sees the same ones every time.
FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=timedelta(seconds=10),  # an example takes well under 1 s; 10 s leaves room for a busy machine
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)


def fuzz(examples: int, **overrides: Any) -> settings:
    return settings(FUZZ, max_examples=examples, **overrides)


WATCHDOG_SECONDS = 60  # a reader stuck in a loop never reaches the deadline check: the alarm ends it
MAX_MESSAGE = 600  # an error or issue is one short line, however long the bad value


@contextmanager
def watchdog(seconds: int = WATCHDOG_SECONDS) -> Iterator[None]:
    def stop(signum: int, frame: Any) -> None:
        raise TimeoutError(f"the reader ran for more than {seconds} s: a hang")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _check_line(text: str) -> None:
    assert "\n" not in text and "\r" not in text, f"not one line: {text!r}"
    assert len(text) <= MAX_MESSAGE, f"a {len(text)}-character message: {text[:200]!r}..."


def load(path: Path, format: str = "auto") -> tuple[list[Conversation] | None, LoadReport, KuraError | None]:
    """Load with a report; a Kura error is returned (checked to be one line), any other escapes."""
    report = LoadReport()
    with watchdog():
        try:
            conversations = load_conversations(path, format=format, report=report)
        except KuraError as exc:
            _check_line(str(exc))
            return None, report, exc
    for entry in report.files:
        for issue in entry.issues:
            _check_line(issue)
    return conversations, report, None


def signature(conversation: Conversation) -> tuple[str, tuple[tuple[str, str], ...]]:
    """What a reader must get right: the chat id (before any renaming) and the messages."""
    chat_id = conversation.metadata.get("original_chat_id", conversation.chat_id)
    return chat_id, tuple((m.role, m.content) for m in conversation.messages)


# ---------------------------------------------------------------------------------------------
# Clean files from real records


@dataclass(frozen=True)
class Corpus:
    """Real records of one format, each of which loads on its own."""

    format: str
    records: tuple[str, ...]  # JSON text (one line each), or CSV rows (``header`` first)
    # Each record is one conversation (else a conversation may be spread over several records,
    # as in trace exports and message-per-row tables).
    one_per_record: bool = True
    header: str | None = None

    def __repr__(self) -> str:
        return f"Corpus({self.format!r}, {len(self.records)} records)"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))

    @property
    def table(self) -> bool:
        return self.header is not None


_ID_KEY = re.compile(r"(^|_)id$|Id$|^uuid$")


def _renamed(value: Any, suffix: str) -> Any:
    """A copy of a record whose ids (``id``, ``trace_id``, ``sessionId``, ``uuid``...) end in ``suffix``:
    the same real record again, as another conversation (references between records stay consistent)."""
    if isinstance(value, dict):
        return {
            k: f"{v}{suffix}" if isinstance(v, str) and v and _ID_KEY.search(k) else _renamed(v, suffix)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_renamed(v, suffix) for v in value]
    return value


def _json_corpus(format: str, values: list[Any], size: int, one_per_record: bool = True) -> Corpus:
    usable = [v for v in values if _loads_alone(format, json.dumps(v))]
    rounds = -(-size // len(usable))
    records = [json.dumps(_renamed(v, f"~{r}") if r else v, ensure_ascii=False) for r in range(rounds) for v in usable]
    return Corpus(format, tuple(records[:size] if one_per_record else records), one_per_record)


def _loads_alone(format: str, text: str) -> bool:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "one.jsonl"
        path.write_text(text + "\n", encoding="utf-8")
        conversations, report, error = load(path, format)
        return error is None and report.files[0].skipped == 0


def _lines(path: Path) -> list[Any]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


@cache
def corpus(name: str) -> Corpus:
    if name == "openai":
        return _json_corpus("openai", _lines(DEMO_DATA)[:10], 10)
    if name == "kura":
        dumps = [json.loads(c.model_dump_json()) for c in _oasst()[10:20]]
        return _json_corpus("kura", dumps, 10)
    if name == "hh-rlhf":
        return _json_corpus("hh-rlhf", _lines(shared("hh_rlhf_harmless_test.jsonl.gz"))[:10], 10)
    if name == "sharegpt":
        return _json_corpus("sharegpt", _lines(fixture("sharegpt_oasst.jsonl")), 8)
    if name == "claude":
        export = json.loads(fixture("claude_export.json").read_text()) + json.loads(
            fixture("claude_export_old.json").read_text()
        )
        return _json_corpus("claude", export, 8)
    if name == "chatgpt":
        export = json.loads(shared("chatgpt_export_real.json").read_text()) + json.loads(
            shared("chatgpt_export_branched.json").read_text()
        )
        return _json_corpus("chatgpt", export, 6)
    if name in ("openai-log", "anthropic-log"):
        source = "openai_chat_log.jsonl" if name == "openai-log" else "anthropic_messages_log.jsonl"
        return _json_corpus(name, _lines(fixture(source)), 8)
    if name in ("langfuse", "langsmith", "otel"):
        source = {"langfuse": "langfuse_traces.jsonl", "langsmith": "langsmith_runs.jsonl"}.get(
            name, "otel_genai_spans.jsonl"
        )
        values = _lines(fixture(source))
        return _json_corpus(name, values, 2 * len(values), one_per_record=False)
    if name in ("csv-messages", "csv-rows"):
        source = "oasst_messages.csv" if name == "csv-messages" else "clinc150_slice.csv"
        header, *rows = _csv_rows(fixture(source).read_text(encoding="utf-8"))
        return Corpus("csv", tuple(rows[:16]), one_per_record=name == "csv-rows", header=header)
    raise KeyError(name)


def _oasst() -> list[Conversation]:
    from kura_testdata import oasst_conversations

    return oasst_conversations()


def _csv_rows(text: str) -> list[str]:
    """Each row of a CSV text written back as its own line(s) of CSV."""
    out = []
    for row in csv.reader(io.StringIO(text)):
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="").writerow(row)
        out.append(buffer.getvalue())
    return out


JSON_CORPORA = [
    "openai",
    "kura",
    "sharegpt",
    "claude",
    "chatgpt",
    "hh-rlhf",
    "openai-log",
    "anthropic-log",
    "langfuse",
    "langsmith",
    "otel",
]
TABLE_CORPORA = ["csv-messages", "csv-rows"]


def test_every_json_format_of_the_loader_is_fuzzed():
    fuzzed = {corpus(name).format for name in JSON_CORPORA + TABLE_CORPORA} | {"parquet", "hf"}
    assert fuzzed == set(FORMATS)


@pytest.mark.parametrize("name", JSON_CORPORA + TABLE_CORPORA)
def test_the_clean_files_load_whole(name, tmp_path):
    spec = corpus(name)
    assert len(spec.records) >= 6
    path = tmp_path / ("data.csv" if spec.table else "data.jsonl")
    path.write_bytes(_join(spec, [r.encode() for r in spec.records], "lines", b"\n"))
    conversations, report, error = load(path)
    assert error is None and report.files[0].format == spec.format and report.files[0].skipped == 0
    if spec.one_per_record:
        assert len(conversations) == len(spec.records)


# ---------------------------------------------------------------------------------------------
# Damage


# Bytes that change where a JSON value ends: flipping or inserting them inside an element of an
# array may merge it with its neighbours (no reader can tell where it should have ended), so the
# array layout is damaged without them. A JSON Lines record ends at its line break, whatever it holds.
STRUCTURAL = frozenset(b'"\\[]{}')
LINE_BREAKS = frozenset(b"\r\n")
RAW_INSERTS = [
    b"\x00",  # NUL
    b"\xff",  # never UTF-8
    b"\xc3",  # a multi-byte character cut short
    b"\xed\xa0\x80",  # a surrogate encoded as UTF-8 (CESU-8)
    b"\xef\xbb\xbf",  # a byte-order mark in the middle
    b"\x1b[2J",  # a terminal escape
]
SPECIAL_STRINGS = [
    "",
    " ",
    "\ud800",  # a lone surrogate (written as the escape \\ud800)
    "\x00",
    "1e400",
    "-1e20",
    "NaN",
    "2024-13-45T99:99:99Z",
    "9999-12-31T23:59:59+14:00",
    "0001-01-01T00:00:00",
    "user",
    "assistant",
    "GENERATION",
    "llm",
    "human",
    "text",
]
SPECIAL_NUMBERS = [0, -1, 1, 2**63, -(2**63), 10**30, 1e308, -1e308, 1e20, 1e11, 1.5]


def json_values() -> st.SearchStrategy[Any]:
    """Small JSON values, heavy on the awkward ones (huge numbers, inf, NaN, odd strings)."""
    scalars = st.one_of(
        st.none(),
        st.booleans(),
        st.sampled_from(SPECIAL_NUMBERS),
        st.integers(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from(SPECIAL_STRINGS),
        st.text(max_size=20),
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
        max_leaves=8,
    )


def _paths(value: Any, prefix: tuple = ()) -> Iterator[tuple]:
    """Every place in a JSON value (keys and indexes from the top)."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


def _replaced(value: Any, path: tuple, new: Any) -> Any:
    if not path:
        return new
    head, *rest = path
    copy = dict(value) if isinstance(value, dict) else list(value)
    copy[head] = _replaced(value[head], tuple(rest), new)
    return copy


# A placeholder that json.dumps writes as a string, replaced afterwards by raw JSON text.
RAW = "\x00raw\x00"


@st.composite
def spoilt_json(draw: st.DrawFn, record: str, layout: str) -> bytes:
    """``record`` (JSON text) damaged in one of many ways; ``layout``: ``lines`` or ``array``."""
    kind = draw(st.sampled_from(["retype", "deep", "long", "flip", "insert", "truncate"]))
    if kind == "truncate" and layout == "array":
        kind = "flip"  # a cut element cannot be told from its neighbours; cut files are fuzzed apart
    data = record.encode()
    if kind in ("retype", "deep", "long"):
        value = json.loads(record)
        path = draw(st.sampled_from(list(_paths(value))))
        if kind == "retype":
            new: Any = draw(json_values())
        elif kind == "long":
            new = draw(st.sampled_from(["x", "word ", "é", "\n"])) * draw(st.integers(10_000, 1_000_000))
        else:
            new = RAW
        text = json.dumps(_replaced(value, path, new))
        if kind == "deep":
            depth = draw(st.sampled_from([129, 1_000, 5_000, 50_000]))
            opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
            text = text.replace(json.dumps(RAW), opener * depth + "1" + closer * depth, 1)
        return text.encode()
    if kind == "truncate":
        return data[: draw(st.integers(1, len(data) - 1))]
    forbidden = LINE_BREAKS | (STRUCTURAL if layout == "array" else frozenset())
    # Array layout: never right after a backslash either (it would unescape a quote).
    places = [
        i
        for i in range(1, len(data) - 1)
        if layout == "lines" or (data[i] not in STRUCTURAL and data[i - 1] != ord("\\"))
    ]
    out = bytearray(data)
    for at in sorted(draw(st.lists(st.sampled_from(places), min_size=1, max_size=4, unique=True)), reverse=True):
        if kind == "flip":
            out[at] = draw(st.integers(0, 255).filter(lambda b: b not in forbidden))
        else:
            out[at:at] = draw(st.sampled_from(RAW_INSERTS))
    return bytes(out)


@st.composite
def spoilt_row(draw: st.DrawFn, row: str, header: str) -> bytes:
    """A CSV row damaged: a cell replaced, bytes flipped or inserted (quotes and line breaks left alone)."""
    kind = draw(st.sampled_from(["cell", "flip", "insert"]))
    if kind == "cell":
        cells = next(csv.reader([row]))
        at = draw(st.integers(0, len(cells) - 1))
        cells[at] = draw(
            st.sampled_from(SPECIAL_STRINGS[:2] + SPECIAL_STRINGS[4:])
            | st.text(st.characters(exclude_characters='"\r\n', exclude_categories=["Cs"]), max_size=30)
            | st.just("x" * 200_000)
        )
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="").writerow(cells)
        return buffer.getvalue().encode("utf-8")
    data = bytearray(row.encode())
    places = draw(st.lists(st.integers(0, len(data) - 1), min_size=1, max_size=3, unique=True))
    for at in sorted(places, reverse=True):
        if kind == "flip":
            if data[at] != ord('"'):
                data[at] = draw(st.integers(0, 255).filter(lambda b: b not in LINE_BREAKS | {ord('"')}))
        else:
            data[at:at] = draw(st.sampled_from(RAW_INSERTS))
    return bytes(data)


def _join(spec: Corpus, records: list[bytes], layout: str, newline: bytes) -> bytes:
    if spec.table:
        return newline.join([spec.header.encode(), *records]) + newline  # type: ignore[union-attr]
    if layout == "lines":
        return b"".join(r + newline for r in records)
    return b"[" + (b"," + newline).join(records) + b"]" + newline


@dataclass(frozen=True)
class Damaged:
    spec: Corpus
    data: bytes
    spoilt: frozenset[int]
    layout: str
    # Where each record starts: the line number (JSON Lines, CSV) or the element index (array).
    starts: tuple[int, ...]

    def __repr__(self) -> str:
        # Only what was damaged (the clean records are in the fixtures), each cut to a readable size.
        records = self.data.split(b"\n")
        shown = {i: _short(records[start - 1]) for i, start in enumerate(self.starts) if i in self.spoilt}
        if self.layout == "array":
            shown = {i: "(see the file)" for i in self.spoilt}
        return f"Damaged({self.spec.format!r}, layout={self.layout!r}, spoilt={shown}, head={_short(self.data)})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # how hypothesis shows a failing example
        printer.text(repr(self))

    @property
    def suffix(self) -> str:
        return ".csv" if self.spec.table else ".jsonl" if self.layout == "lines" else ".json"

    def record_at(self, location: str) -> int:
        """The record an issue's location ("data.jsonl line 7 span 2", "data.json [3]") is about."""
        found = re.match(r"data\.\w+ (?:line (\d+)|\[(\d+)\])", location)
        assert found, f"an issue without a record location: {location!r}"
        if found[2] is not None:
            return int(found[2])
        line = int(found[1])
        # A CSV row is reported at the line it ends on; a JSON record at the line it is on.
        return max(i for i, start in enumerate(self.starts) if start <= line)


def _short(data: bytes, size: int = 300) -> str:
    return repr(data[:size]) + (f"... ({len(data):,} bytes)" if len(data) > size else "")


@st.composite
def damaged_files(draw: st.DrawFn, name: str) -> Damaged:
    spec = corpus(name)
    layout = "lines" if spec.table else draw(st.sampled_from(["lines", "array"]))
    newline = draw(st.sampled_from([b"\n", b"\r\n"] + ([b"\r"] if layout == "lines" and not spec.table else [])))
    count = len(spec.records)
    spoilt = frozenset(draw(st.lists(st.integers(0, count - 1), min_size=1, max_size=count // 2, unique=True)))
    records = [
        (draw(spoilt_row(r, spec.header)) if spec.table else draw(spoilt_json(r, layout)))  # type: ignore[arg-type]
        if i in spoilt
        else r.encode()
        for i, r in enumerate(spec.records)
    ]
    data = _join(spec, records, layout, newline)
    if draw(st.booleans()):
        data = b"\xef\xbb\xbf" + data  # a BOM, as Windows tools write
    if layout == "array":
        starts = tuple(range(count))
    else:
        first = 2 if spec.table else 1
        starts = tuple(first + sum(r.count(b"\n") for r in records[:i]) + i for i in range(count))
    return Damaged(spec, data, spoilt, layout, starts)


@cache
def clean(name: str) -> list[Conversation]:
    spec = corpus(name)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / ("data.csv" if spec.table else "data.jsonl")
        path.write_bytes(_join(spec, [r.encode() for r in spec.records], "lines", b"\n"))
        conversations, _, _ = load(path)
    assert conversations is not None
    return conversations


@cache
def record_keys(name: str, index: int) -> frozenset[str]:
    """The chat ids record ``index`` takes part in (for formats that spread a conversation)."""
    spec = corpus(name)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / ("data.csv" if spec.table else "data.jsonl")
        path.write_bytes(_join(spec, [spec.records[index].encode()], "lines", b"\n"))
        conversations, _, _ = load(path, spec.format)
    return frozenset(c.chat_id for c in conversations or [])


def check_damage_costs_only_its_records(name: str, damaged: Damaged) -> None:
    spec = damaged.spec
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"data{damaged.suffix}"
        path.write_bytes(damaged.data)
        conversations, report, error = load(path)
    if spec.one_per_record:
        untouched = {signature(c) for i, c in enumerate(clean(name)) if i not in damaged.spoilt}
    else:
        touched = set().union(*(record_keys(name, i) for i in damaged.spoilt))
        untouched = {signature(c) for c in clean(name) if c.chat_id not in touched}
    assert error is None, f"the file was refused, though {len(untouched)} conversations in it are intact: {error}"
    entry = report.files[0]
    assert entry.format == spec.format
    missing = untouched - {signature(c) for c in conversations}
    assert not missing, f"intact conversations lost: {sorted(m[0] for m in missing)}; issues: {entry.issues}"
    for issue in entry.issues:
        assert damaged.record_at(issue) in damaged.spoilt, f"an intact record was reported: {issue}"
    if spec.one_per_record:
        # Each record is loaded (a harmless change), dropped as a repeat, or skipped: one of the three.
        assert entry.loaded + entry.duplicates + entry.skipped == len(spec.records), entry.issues


# One test per format, so a failure names it and the examples are spread evenly.
@pytest.mark.parametrize("name", JSON_CORPORA + TABLE_CORPORA)
@fuzz(50)
@given(data=st.data())
def test_damage_costs_only_the_damaged_records(name, data):
    check_damage_costs_only_its_records(name, data.draw(damaged_files(name), label="damaged"))


def _all_keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _all_keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from _all_keys(item)


RECORD_CORPORA = [name for name in JSON_CORPORA if corpus(name).one_per_record]
FIELDS = sorted(
    {key for name in JSON_CORPORA for record in corpus(name).records for key in _all_keys(json.loads(record))}
)


def _with_field(value: Any, field: str, new: Any) -> tuple[Any, bool]:
    """``value`` with every ``field`` anywhere in it set to ``new``; whether there was one."""
    if isinstance(value, dict):
        found = field in value
        out = {}
        for key, item in value.items():
            out[key], deeper = (new, False) if key == field else _with_field(item, field, new)
            found = found or deeper
        return out, found
    if isinstance(value, list):
        items = [_with_field(item, field, new) for item in value]
        return [item for item, _ in items], any(found for _, found in items)
    return value, False


# Regressions, each found by this test or the one above:
@example(name="claude", field="created_at", new=1e308)  # OverflowError out of the time parser
@example(name="openai-log", field="timestamp", new=1e20)  # OSError (EOVERFLOW): the whole file "cannot be read"
@example(name="kura", field="created_at", new="-1e400")  # OverflowError for -inf given as text
@example(name="openai", field="role", new="x" * 10_000)  # a 10,000-character "unknown role" message
@example(name="sharegpt", field="from", new="x" * 10_000)
@example(name="chatgpt", field="create_time", new="x" * 10_000)  # ... and "is not a time"
@fuzz(150)
@given(name=st.sampled_from(RECORD_CORPORA), field=st.sampled_from(FIELDS), new=json_values())
def test_any_value_in_any_field_costs_only_its_record(name, field, new):
    """A field (every occurrence in the record; added at the top when it has none) set to anything."""
    spec = corpus(name)
    at = 2
    record, found = _with_field(json.loads(spec.records[at]), field, new)
    if not found:
        record[field] = new
    records = [json.dumps(record).encode() if i == at else r.encode() for i, r in enumerate(spec.records)]
    starts = tuple(range(1, len(records) + 1))
    check_damage_costs_only_its_records(
        name, Damaged(spec, _join(spec, records, "lines", b"\n"), frozenset({at}), "lines", starts)
    )


# Regressions: a first line that is JSON but not an object made the file "not JSON" (or, for a
# list, an array of one element), and a broken line shifted the ids derived from the position of
# every line after it (HH-RLHF records have no ids of their own).
@example(name="openai", first=b"null")
@example(name="kura", first=b"[" * 129 + b"1" + b"]" * 129)
@example(name="chatgpt", first=b"[]")
@example(name="hh-rlhf", first=b'{"chosen": ')
@fuzz(60)
@given(
    name=st.sampled_from(JSON_CORPORA),
    first=st.binary(min_size=1, max_size=200).filter(lambda b: not LINE_BREAKS & set(b))
    | json_values().map(lambda v: json.dumps(v).encode()),
)
def test_a_damaged_first_line_costs_only_itself(name, first):
    spec = corpus(name)
    records = [first, *(r.encode() for r in spec.records[1:])]
    starts = tuple(range(1, len(records) + 1))
    check_damage_costs_only_its_records(
        name, Damaged(spec, _join(spec, records, "lines", b"\n"), frozenset({0}), "lines", starts)
    )


# ---------------------------------------------------------------------------------------------
# Random files: anything at all, read as each format


def _random_json_text() -> st.SearchStrategy[bytes]:
    lines = st.lists(json_values().map(lambda v: json.dumps(v).encode()), min_size=1, max_size=5)
    return lines.map(lambda items: b"\n".join(items)) | lines.map(lambda items: b"[" + b",".join(items) + b"]")


def _keyed_records() -> st.SearchStrategy[bytes]:
    """Objects with the keys the formats look for, holding random values: they reach the parsers."""
    keys = sorted(
        {key for name in JSON_CORPORA for record in corpus(name).records[:3] for key in _all_keys(json.loads(record))}
    )
    records = st.recursive(
        json_values(),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(keys), inner, max_size=5),
        max_leaves=12,
    ).filter(lambda v: isinstance(v, dict))
    return st.lists(records.map(json.dumps), min_size=1, max_size=4).map(lambda items: "\n".join(items).encode())


# Regression: a header of many long column names gave a 650-character "cannot tell" message.
@example(
    content=b",".join(b'"column %d %s"' % (i, b"x" * 60) for i in range(12)) + b"\n1,2\n", format="auto", suffix=".csv"
)
@fuzz(300)
@given(
    content=st.binary(max_size=300) | _random_json_text() | _keyed_records(),
    format=st.sampled_from(["auto", *(f for f in FORMATS if f != "hf")]),
    suffix=st.sampled_from([".jsonl", ".json", ".csv", ".tsv", ".parquet", ".jsonl.gz"]),
)
def test_any_file_is_read_or_refused_in_one_line(content, format, suffix):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"data{suffix}"
        path.write_bytes(gzip.compress(content, mtime=0) if suffix.endswith(".gz") else content)
        load(path, format)


@fuzz(120)
@given(records=_keyed_records())
def test_records_with_every_formats_keys_are_read_or_skipped(records):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "data.jsonl"
        path.write_bytes(records)
        for format in ["auto", *(f for f in FORMATS if f not in ("hf", "csv", "parquet"))]:
            load(path, format)


# ---------------------------------------------------------------------------------------------
# Files cut off: everything before the cut is kept


@pytest.mark.parametrize("layout", ["lines", "array", "gzip"])
@fuzz(40)
@given(data=st.data())
def test_a_cut_off_file_keeps_every_record_before_the_cut(layout, data):
    spec = corpus("openai")
    records = [r.encode() for r in spec.records]
    whole = _join(spec, records, "array" if layout == "array" else "lines", b"\n")
    cut = data.draw(st.integers(1, len(whole) - 1), label="cut")
    ends = [len(_join(spec, records[: i + 1], "lines", b"\n")) - 1 for i in range(len(records))]
    if layout == "array":
        ends = [len(b"[" + b",\n".join(records[: i + 1])) for i in range(len(records))]
    whole_before_cut = sum(end <= cut for end in ends)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / ("data.json" if layout == "array" else "data.jsonl")
        if layout == "gzip":
            packed = gzip.compress(whole, mtime=0)
            path.write_bytes(packed[: data.draw(st.integers(10, len(packed) - 1), label="gzip cut")])
            whole_before_cut = 0  # how much text a cut compressed stream still gives depends on its blocks
        else:
            path.write_bytes(whole[:cut])
        conversations, report, error = load(path)
    if error is not None:
        assert not whole_before_cut, f"{whole_before_cut} whole records before the cut, yet: {error}"
        return
    # The records before the cut, in order, and nothing made up from the cut one.
    expected = [signature(c) for c in clean("openai")]
    assert [signature(c) for c in conversations] == expected[: len(conversations)]
    assert len(conversations) >= whole_before_cut
    assert report.files[0].skipped <= 1


# ---------------------------------------------------------------------------------------------
# Tables in Parquet, and Parquet and Hugging Face files with damaged bytes


def _parquet(path: Path, spec: Corpus, rows: list[str]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    names = next(csv.reader([spec.header]))  # type: ignore[list-item]
    values = [next(csv.reader([r])) for r in rows]
    columns = {n: [v[i] if i < len(v) else None for v in values] for i, n in enumerate(names)}
    pq.write_table(pa.table(columns), path)


@pytest.mark.parametrize("name", TABLE_CORPORA)
@fuzz(30)
@given(data=st.data())
def test_parquet_rows_with_bad_cells_cost_only_themselves(name, data):
    spec = corpus(name)
    count = len(spec.records)
    spoilt = frozenset(data.draw(st.lists(st.integers(0, count - 1), min_size=1, max_size=count // 2, unique=True)))
    rows = [
        data.draw(spoilt_row(r, spec.header)).decode("utf-8", "replace") if i in spoilt else r  # type: ignore[arg-type]
        for i, r in enumerate(spec.records)
    ]
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "data.parquet"
        _parquet(path, spec, rows)
        conversations, report, error = load(path)
    if spec.one_per_record:
        untouched = {signature(c) for i, c in enumerate(clean(name)) if i not in spoilt}
    else:
        touched = set().union(*(record_keys(name, i) for i in spoilt))
        untouched = {signature(c) for c in clean(name) if c.chat_id not in touched}
    assert error is None, error
    assert untouched <= {signature(c) for c in conversations}
    for issue in report.files[0].issues:
        assert int(re.match(r"data\.parquet \[(\d+)\]", issue)[1]) in spoilt, issue  # type: ignore[index]


def _flipped(data: bytes, flips: list[tuple[int, int]]) -> bytes:
    out = bytearray(data)
    for at, value in flips:
        out[at % len(out)] = value
    return bytes(out)


FLIPS = st.lists(st.tuples(st.integers(0, 2**20), st.integers(0, 255)), min_size=1, max_size=8)


# Regressions: each escaped as another exception, or as a message of several lines (pyarrow 26's
# file; another writer moves the bytes, and the examples then damage something else instead).
@example(flips=[(2484, 244), (2933, 111)])  # UnicodeDecodeError from a text column
@example(flips=[(4428, 200), (4297, 141), (4274, 120)])  # ArrowInvalid from a page
@example(flips=[(4930, 75), (2540, 50), (604, 169)])  # a thrift error of two lines, opening the file
@example(flips=[(2849, 91), (81, 118)])  # a thrift error of three lines, reading a page
@example(flips=[(567387, 128)])  # UnicodeDecodeError from a column name, opening the file
@fuzz(40)
@given(flips=FLIPS)
def test_a_parquet_file_with_damaged_bytes_is_read_or_refused_in_one_line(flips):
    spec = corpus("csv-messages")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "data.parquet"
        _parquet(path, spec, list(spec.records))
        path.write_bytes(_flipped(path.read_bytes(), flips))
        load(path)


# Regression: one damaged byte of the Arrow file made reading it crash the process (a segfault).
@example(file=0, flips=[(177587, 68)])
@fuzz(15)
@given(file=st.integers(0, 100), flips=FLIPS)
def test_a_hugging_face_folder_with_damaged_bytes_is_read_or_refused_in_one_line(file, flips, hf_folder):
    names = sorted(p.name for p in hf_folder.iterdir())
    damaged = names[file % len(names)]
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "dataset"
        copy.mkdir()
        for file in hf_folder.iterdir():
            content = file.read_bytes()
            (copy / file.name).write_bytes(_flipped(content, flips) if file.name == damaged else content)
        load(copy)


@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory) -> Path:
    datasets = pytest.importorskip("datasets")
    folder = tmp_path_factory.mktemp("hf") / "dataset"
    rows = [json.loads(r) for r in corpus("openai").records[:4]]
    datasets.Dataset.from_list([{"id": r["id"], "messages": r["messages"]} for r in rows]).save_to_disk(str(folder))
    return folder


# ---------------------------------------------------------------------------------------------
# The command line, once


@fuzz(1, deadline=None)
@given(data=st.data())
def test_the_command_reads_a_damaged_file_without_a_traceback(data):
    damaged = data.draw(damaged_files("openai"), label="damaged")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"data{damaged.suffix}"
        path.write_bytes(damaged.data)
        done = subprocess.run(
            [sys.executable, "-m", "kura.cli", "run", str(path), "--out", str(Path(folder) / "run")]
            + ["--embedder", "hashing", "--projector", "pca", "--quiet"],
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert "Traceback" not in done.stderr, done.stderr
    if done.returncode == 0:
        assert re.search(r"Conversations: \d+", done.stdout), done.stdout
        assert re.search(r"data\.jsonl?: \d+ conversations? \(openai\)", done.stderr), done.stderr
    else:
        assert done.stderr.startswith("error: ") and len(done.stderr.strip().splitlines()) == 1, done.stderr
