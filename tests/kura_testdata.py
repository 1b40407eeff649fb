"""Where the test data lives, and loaders for it (a module, not conftest: sub-folders have their own)."""

from __future__ import annotations

import gzip
import json
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEST_DATA = REPO / "tests" / "data"
DEMO_DATA = REPO / "data" / "oasst_en100.jsonl"


def shared(name: str) -> Path:
    """A file of real test data kept in the repository (tests/data, or the demo's data/); see tests/data/README.md."""
    path = DEMO_DATA if name == DEMO_DATA.name else TEST_DATA / name
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: it belongs to the repository (tests/data/README.md)")
    return path


def clinc_lines() -> Iterator[str]:
    """The 22,500 CLINC150 queries as JSONL lines, in file order (the file is kept gzipped)."""
    with gzip.open(shared("clinc150.jsonl.gz"), "rt", encoding="utf-8") as f:
        yield from f


def oasst_conversations():
    from kura.types import Conversation, Message

    out = []
    for line in DEMO_DATA.read_text().splitlines():
        row = json.loads(line)
        out.append(Conversation(chat_id=row["id"], messages=[Message(**m) for m in row["messages"]]))
    return out


def clinc_slice(per_intent: int, *, offset: int = 0) -> list[dict]:
    """``per_intent`` rows of each of the 150 intents, in file order (deterministic)."""
    taken: dict[str, int] = {}
    rows = []
    for line in clinc_lines():
        row = json.loads(line)
        seen = taken.get(row["label"], 0)
        taken[row["label"]] = seen + 1
        if offset <= seen < offset + per_intent:
            rows.append(row)
    return rows


# -- timestamps by schedule ----------------------------------------------------------------------------
#: The first day of the schedule (a Monday, so weeks start on the schedule's first day).
SCHEDULE_START = datetime(2024, 1, 1, tzinfo=timezone.utc)


def timed_clinc(
    per_intent: int,
    *,
    weeks: int = 12,
    rising: str | None = None,
    rising_rows: int = 0,
    undated: int = 0,
    seed: int = 0,
) -> list[dict]:
    """CLINC150 rows with a ``created_at`` assigned by a documented schedule (CLINC has no time).

    - ``per_intent`` rows of every intent (``clinc_slice``), each at a time drawn uniformly over
      ``weeks`` weeks from ``SCHEDULE_START``: every intent's share is the same in every period
      up to chance (the null schedule).
    - ``rising``: that intent gets ``rising_rows`` rows instead, placed increasingly late: a
      time ``span * sqrt(u)`` has density proportional to the time since the start, so its
      expected count per week grows linearly from zero (its share rises, nothing else is planted).
    - ``undated``: that many rows, spread over the intents, lose their time.

    Records are OpenAI-format JSONL rows (``id``, ``messages``, ``label``, ``created_at``).
    """
    import numpy as np

    rng = np.random.default_rng(seed)
    span = weeks * 7 * 86400.0
    wanted = {label: per_intent for label in {json.loads(line)["label"] for line in clinc_lines()}}
    if rising is not None:
        if rising not in wanted:
            raise ValueError(f"{rising!r} is not a CLINC150 intent")
        wanted[rising] = rising_rows
    rows: list[dict] = []
    taken: dict[str, int] = {}
    for line in clinc_lines():
        row = json.loads(line)
        seen = taken.get(row["label"], 0)
        if seen < wanted[row["label"]]:
            taken[row["label"]] = seen + 1
            rows.append(row)
    for row in rows:
        u = rng.random()
        offset = span * (np.sqrt(u) if row["label"] == rising else u)
        row["created_at"] = (SCHEDULE_START + timedelta(seconds=float(offset))).isoformat()
    for i in rng.choice(len(rows), size=undated, replace=False):
        del rows[int(i)]["created_at"]
    return rows


class LiveServer:
    """``create_app`` under a real uvicorn server in a thread, on a free port of ``host``.

    ``host="127.0.0.2"`` is a loopback address the server treats as shared (token required,
    uploads off by default): the network rules, tested without leaving this machine."""

    def __init__(self, root: Path, *, host: str = "127.0.0.1", **app_options: object):
        import uvicorn

        from kura.server import create_app
        from kura.server.commands import bind

        self.socket = bind(host, 0)
        self.port = self.socket.getsockname()[1]
        self.app = create_app(root, host=host, port=self.port, **app_options)  # type: ignore[arg-type]
        self.url = f"http://{host}:{self.port}/"
        self.server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning", access_log=False))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start within 15 s")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(15)
        self.socket.close()
