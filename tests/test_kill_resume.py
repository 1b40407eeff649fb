"""SIGKILL a real `kura run` at seeded random moments, run it again, and get exactly the run that was
never killed: the same summaries, memberships, names and map, no conversation lost or doubled, and
(through a language model) no answer that had arrived a second before the kill asked for again.

Kill moments come from a seeded RNG over the stage lengths of an uninterrupted run (watched through
run.json, which records each stage as it ends): most trials aim at one stage, counted from the end
of the stage before it, so even stages of a few milliseconds get hit; the rest fall anywhere in the
run. Which stage each kill landed in is read back from run.json and printed (``-s`` shows it).
The default variant runs 3 + 2 trials (about a minute); ``-m slow`` runs 20 of each (about 6).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from kura_testdata import clinc_slice

from kura.llm.fake_server import FakeOpenAIServer

CONVERSATIONS = 60
SEED = 7
STAGES = ["summarise", "embed", "clusters", "hierarchy", "map", "export"]
OFFLINE = ["--embedder", "hashing", "--projector", "pca", "--seed", str(SEED), "-k", "6", "-q"]


@pytest.fixture(scope="module")
def chats(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "chats.jsonl"
    rows = clinc_slice(1)[:CONVERSATIONS]  # 60 different intents, one query each
    path.write_text("".join(json.dumps({"id": r["id"], "messages": r["messages"]}) + "\n" for r in rows))
    return path


def environment() -> dict[str, str]:
    """The test's environment without anyone's provider keys; a dummy key for the local fake server."""
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY") and "AZURE" not in k}
    return {**env, "OPENAI_API_KEY": "sk-test-kill-resume"}


def command(chats: Path, out: Path, extra: list[str]) -> list[str]:
    return [sys.executable, "-m", "kura.cli", "run", str(chats), "--out", str(out), *OFFLINE, *extra]


def run_to_end(chats: Path, out: Path, extra: list[str]) -> None:
    done = subprocess.run(
        command(chats, out, extra), cwd=out.parent, env=environment(), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]


def run_watched(chats: Path, out: Path, extra: list[str]) -> tuple[float, dict[str, tuple[float, float]]]:
    """An uninterrupted run, watched: its length and when each stage ran (seconds from the start),
    read off run.json, which records each stage as it ends."""
    start = time.monotonic()
    proc = subprocess.Popen(
        command(chats, out, extra), cwd=out.parent, env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    ended: dict[str, float] = {}
    began = None
    while proc.poll() is None:
        now = time.monotonic() - start
        if began is None and out.exists():
            began = now
        try:
            for name in json.loads((out / "run.json").read_text()).get("stages", {}):
                ended.setdefault(name, now)
        except (OSError, ValueError):
            pass
        time.sleep(0.005)
    total = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr.read().decode()[-3000:] if proc.stderr else ""
    windows, previous = {"start-up": (0.0, began or 0.0)}, began or 0.0
    for name in STAGES:
        windows[name] = (previous, ended.get(name, total))
        previous = windows[name][1]
    windows["after export"] = (previous, total)
    return total, windows


def reached(out: Path, anchor: str) -> bool:
    """Whether a run has got as far as ``anchor``: "launch", "run dir" (it exists) or a stage that
    run.json records as done."""
    if anchor == "launch":
        return True
    if anchor == "run dir":
        return out.exists()
    try:
        return anchor in json.loads((out / "run.json").read_text()).get("stages", {})
    except (OSError, ValueError):
        return False


def kill_at(chats: Path, out: Path, extra: list[str], anchor: str, after: float) -> tuple[float, int | None]:
    """Start a run and SIGKILL it ``after`` seconds past ``anchor`` (unless it finished first):
    the kill's monotonic time, and the exit code of a run that ended by itself."""
    proc = subprocess.Popen(
        command(chats, out, extra),
        cwd=out.parent,
        env=environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while not reached(out, anchor) and proc.poll() is None:
            time.sleep(0.002)
        time.sleep(after)
        killed = time.monotonic()
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        code = proc.wait(timeout=60)
    return killed, (None if code == -signal.SIGKILL else code)


def outcome(out: Path) -> dict[str, Any]:
    """Everything a reader sees of a finished run, keyed by id so order never matters."""
    import pyarrow.parquet as pq

    summaries = [json.loads(line) for line in (out / "summaries.jsonl").read_text().splitlines()]
    ids = [s["chat_id"] for s in summaries]
    assert len(ids) == len(set(ids)) == CONVERSATIONS, "a conversation was lost or summarised twice"
    conversations = [json.loads(line)["chat_id"] for line in (out / "conversations.jsonl").read_text().splitlines()]
    assert sorted(conversations) == sorted(ids)
    clusters = [json.loads(line) for line in (out / "meta_clusters.jsonl").read_text().splitlines()]
    table = pq.read_table(out / "conversations.parquet", columns=["chat_id", "x", "y"]).to_pydict()
    assert len(table["chat_id"]) == len(set(table["chat_id"])) == CONVERSATIONS
    return {
        "summaries": {s["chat_id"]: s for s in summaries},
        "memberships": {c["id"]: sorted(c["chat_ids"]) for c in clusters},
        "names": {c["id"]: (c["name"], c["description"], c.get("parent_id")) for c in clusters},
        "map": dict(zip(table["chat_id"], zip(table["x"], table["y"]))),
        "dimensionality": (out / "dimensionality.jsonl").read_text(),
    }


#: What a run has just done when each window opens (the start of each stage seen from outside).
ANCHORS = {"start-up": "launch", "summarise": "run dir", **dict(zip(STAGES[1:], STAGES[:-1]))}


def kill_moments(
    rng: random.Random, trials: int, total: float, windows: dict[str, tuple[float, float]]
) -> list[tuple[str, str, float]]:
    """(stage aimed at, anchor, seconds past it): each trial aims at one stage in turn (from a seeded
    first one) at a uniform moment of its measured length, counted from the moment the stage before
    it is seen to end, so even a stage of a few milliseconds gets hit; every third trial is instead a
    uniform moment anywhere in the run."""
    targets = list(ANCHORS)
    first = rng.randrange(len(targets))
    moments = []
    for trial in range(trials):
        if trial % 3 == 2:
            moments.append(("anywhere", "launch", rng.uniform(0.0, total)))
        else:
            target = targets[(first + trial) % len(targets)]
            low, high = windows[target]
            moments.append((target, ANCHORS[target], rng.uniform(0.0, high - low)))
    return moments


def landed_in(out: Path) -> str:
    """The stage a kill interrupted: the first one run.json does not record as done."""
    if not out.exists():
        return "start-up"
    try:
        done = json.loads((out / "run.json").read_text()).get("stages", {})
    except FileNotFoundError:
        done = {}
    except ValueError:
        return "run.json half-written"
    return next((name for name in STAGES if name not in done), "after export")


def report(label: str, total: float, windows: dict[str, tuple[float, float]], hits: list) -> None:
    spans = {name: (round(low, 2), round(high, 2)) for name, (low, high) in windows.items()}
    print(
        f"\n{label} run {total:.2f} s, stage windows {spans}\nkills (aimed at, seconds past its start, stage hit): {hits}"
    )


def trials_for(request, default: int) -> int:
    return 20 if request.node.get_closest_marker("slow") else default


# -- offline ---------------------------------------------------------------------------------------
def check_offline(chats: Path, tmp_path: Path, trials: int) -> None:
    reference = tmp_path / "reference"
    total, windows = run_watched(chats, reference, [])
    expected = outcome(reference)
    hits = []
    for trial, (aim, anchor, after) in enumerate(kill_moments(random.Random(SEED), trials, total, windows)):
        out = tmp_path / f"trial{trial}"
        _, finished = kill_at(chats, out, [], anchor, after)
        hits.append((aim, round(after, 3), "finished" if finished is not None else landed_in(out)))
        run_to_end(chats, out, [])
        assert outcome(out) == expected, f"trial {trial}: {hits[-1]}"
    report("offline", total, windows, hits)


def test_killed_offline_runs_end_identical(chats, tmp_path, request):
    check_offline(chats, tmp_path, trials_for(request, 3))


@pytest.mark.slow
def test_killed_offline_runs_end_identical_many_trials(chats, tmp_path, request):
    check_offline(chats, tmp_path, trials_for(request, 3))


# -- through a language model ----------------------------------------------------------------------
class RecordingServer(FakeOpenAIServer):
    """The fake OpenAI server, noting when each chat request's answer went out (by prompt digest)."""

    def __init__(self, *, naming_delays: Iterable[float] = (), naming_delay: float = 0.0, **options: Any):
        super().__init__(**options)
        # Extra seconds for the requests that are not summaries: from the list in turn, then the default.
        self.naming_delays = deque(naming_delays)
        self.naming_delay = naming_delay
        self.asked: list[tuple[str, str]] = []  # (kind, prompt digest), in arrival order
        self.answered: list[tuple[str, str, float]] = []  # (kind, prompt digest, monotonic time)

    async def _respond(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        key = kind = ""
        if path.rstrip("/").endswith("/chat/completions"):
            request = json.loads(body)
            key = hashlib.sha256(json.dumps(request["messages"], sort_keys=True).encode()).hexdigest()
            kind = ((request.get("response_format") or {}).get("json_schema") or {}).get("name", "?")
            self.asked.append((kind, key))
            if "summary" not in kind.lower():
                await asyncio.sleep(self.naming_delays.popleft() if self.naming_delays else self.naming_delay)
        reply = await super()._respond(method, path, body)
        if key and reply[0] == 200:
            self.answered.append((kind, key, time.monotonic()))
        return reply


def check_llm(chats: Path, tmp_path: Path, trials: int) -> None:
    with RecordingServer(delay=0.1) as server:
        llm = ["--llm", "openai/kill-test", "--base-url", server.url, "--concurrency", "4"]
        reference = tmp_path / "reference"
        total, windows = run_watched(chats, reference, llm)
        expected = outcome(reference)
        summary_kind = server.asked[0][0]  # the summarise stage asks first
        assert sum(kind == summary_kind for kind, _ in server.asked) == CONVERSATIONS
        hits, asked_again_checked = [], 0
        for trial, (aim, anchor, after) in enumerate(kill_moments(random.Random(SEED + 1), trials, total, windows)):
            out = tmp_path / f"trial{trial}"
            server.asked.clear()
            server.answered.clear()
            killed, finished = kill_at(chats, out, llm, anchor, after)
            arrived = {(kind, key) for kind, key, at in server.answered if at < killed - 1.0}
            hits.append((aim, round(after, 3), "finished" if finished is not None else landed_in(out)))
            server.asked.clear()
            run_to_end(chats, out, llm)
            again = set(server.asked) & arrived
            assert not again, (
                f"trial {trial}: {len(again)} answers that arrived over a second before the kill were asked again"
            )
            asked_again_checked += len(arrived)
            assert outcome(out) == expected, f"trial {trial}: {hits[-1]}"
    report("language-model", total, windows, hits)
    print(f"answers that had arrived over a second before a kill, none asked again: {asked_again_checked}")


def test_killed_language_model_runs_end_identical_and_ask_nothing_twice(chats, tmp_path, request):
    check_llm(chats, tmp_path, trials_for(request, 2))


@pytest.mark.slow
def test_killed_language_model_runs_many_trials(chats, tmp_path, request):
    check_llm(chats, tmp_path, trials_for(request, 2))


def names_asked_again(chats: Path, tmp_path: Path, server: RecordingServer, concurrency: int, named: int, wait: float):
    """Kill a run ``wait`` seconds after its ``named``-th cluster name arrives, run it again, and
    return how many of the names that had arrived over a second before the kill it asked for again."""
    out = tmp_path / "run"
    llm = ["--llm", "openai/kill-test", "--base-url", server.url, "--concurrency", str(concurrency)]
    proc = subprocess.Popen(
        command(chats, out, llm), cwd=tmp_path, env=environment(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 120
        while sum("summary" not in kind.lower() for kind, _, _ in server.answered) < named:
            assert proc.poll() is None and time.monotonic() < deadline, "the run never got to naming"
            time.sleep(0.01)
        time.sleep(wait)
        killed = time.monotonic()
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert landed_in(out) == "clusters"
    arrived = {key for kind, key, at in server.answered if "summary" not in kind.lower() and at < killed - 1.0}
    assert len(arrived) >= named
    server.asked.clear()
    run_to_end(chats, out, llm)
    return len(arrived & {key for _, key in server.asked})


@pytest.mark.slow
def test_cluster_names_that_arrived_before_a_kill_are_not_asked_again(chats, tmp_path):
    # 10 clusters named 4 at a time, a second each: the kill comes 1.1 s after the first 4 names.
    with RecordingServer(naming_delay=1.0) as server:
        assert names_asked_again(chats, tmp_path, server, concurrency=4, named=4, wait=1.1) == 0


@pytest.mark.slow
def test_answers_that_arrived_while_one_request_straggles_survive_a_kill(chats, tmp_path):
    """Nine cluster names come back at once and the tenth takes 30 s: a kill two seconds later must
    not lose the nine (the cache used to commit such a batch only when a later answer arrived)."""
    with RecordingServer(naming_delays=[0.0] * 9 + [30.0]) as server:
        assert names_asked_again(chats, tmp_path, server, concurrency=10, named=9, wait=2.0) == 0
