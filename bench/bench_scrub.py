"""The scrubber on planted personal data: recall and precision per kind, and texts per second.

    python bench/bench_scrub.py                 # 1,800 real user turns, seed 0, speed on 2,000 texts
    python bench/bench_scrub.py --n 900 --seed 1

Data: the first user turn of real conversations, HH-RLHF (tests/data/hh_rlhf_harmless_test.jsonl.gz)
and OpenAssistant (data/oasst_en100.jsonl), cut to at most 600 characters at a word boundary. Each
gets one planted value (``kura.privacy.planted.plant``: names from ten cultures, e-mails, phone
numbers in US/UK/international formats, Luhn-valid cards, IBANs and US account numbers, addresses,
SSNs/NI/NHS/passport numbers, IPs, keys and passwords) at a known place.

- recall: planted values fully removed (every letter and digit of the value inside a replaced span);
- kind right: of those, the share replaced by the placeholder of the planted kind;
- precision: of the placeholders of a kind inserted into the planted texts, the share that cover a
  planted value (the others may be real names in the real turns, counted as false positives);
- unplanted: placeholders inserted into the same turns without plants, per 1,000 turns (all
  counted as false positives, though HH-RLHF and OpenAssistant do mention real people).

Speed: ``scrub_batch`` on summary-sized texts (the turns' first one or two sentences, at most 200
characters), pinned to one core, after a warm-up; the engine's load time is printed apart.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import re
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kura.io.hh_rlhf import split_transcript  # noqa: E402
from kura.privacy.planted import PlantedValue, plant  # noqa: E402
from kura.privacy.scrub import KINDS, Scrubbed, Span, load_scrubber  # noqa: E402

HH = REPO / "tests" / "data" / "hh_rlhf_harmless_test.jsonl.gz"
OASST = REPO / "data" / "oasst_en100.jsonl"


def user_turns() -> list[str]:
    """First user turn of every OpenAssistant and HH-RLHF conversation, interleaved (OA first)."""
    oasst = [json.loads(line)["messages"][0]["content"] for line in OASST.read_text().splitlines()]
    with gzip.open(HH, "rt", encoding="utf-8") as f:
        hh = [split_transcript(json.loads(line)["chosen"])[0].content for line in f]
    return [clip(t, 600) for t in oasst + hh if t.strip()]


def clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    return text[: cut if cut > 0 else limit]


def summary_sized(text: str) -> str:
    sentences = re.split(r"(?<=[.?!])\s+", text.strip())
    return clip(" ".join(sentences[:2]), 200)


def removed(value: PlantedValue, spans: list[Span], text: str) -> Span | None:
    """The span that removed the value (the one covering most of it), if every letter and digit is covered."""
    covered = [s for s in spans if s.start < value.end and s.end > value.start]
    for i in range(value.start, value.end):
        if text[i].isalnum() and not any(s.start <= i < s.end for s in covered):
            return None
    return max(covered, key=lambda s: min(s.end, value.end) - max(s.start, value.start))


def score(
    texts: list[str], planted: list[PlantedValue], results: list[Scrubbed], clean: list[Scrubbed]
) -> dict[str, Counter]:
    rows: dict[str, Counter] = {k: Counter() for k in KINDS}
    for value, result in zip(planted, results):
        row = rows[value.kind]
        row["planted"] += 1
        span = removed(value, result.spans, texts[value.index])
        if span is not None:
            row["removed"] += 1
            row["kind right"] += span.kind == value.kind
        for s in result.spans:
            rows[s.kind]["placeholders"] += 1
            rows[s.kind]["on planted"] += s.start < value.end and s.end > value.start
    for result in clean:
        for s in result.spans:
            rows[s.kind]["unplanted"] += 1
    return rows


def speed(texts: list[str]) -> tuple[float, float, float]:
    """Engine load seconds, then texts per second of wall time and of this process's CPU time."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    started = time.perf_counter()
    scrubber = load_scrubber()
    loaded = time.perf_counter() - started
    scrubber.scrub_batch(texts[:200])  # warm-up
    started, cpu = time.perf_counter(), time.process_time()
    scrubber.scrub_batch(texts)
    return loaded, len(texts) / (time.perf_counter() - started), len(texts) / (time.process_time() - cpu)


def pct(a: int, b: int) -> str:
    return f"{100 * a / b:.1f}%" if b else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=1800, help="real user turns to plant into")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--speed-texts", type=int, default=2000)
    parser.add_argument("--list-unplanted", action="store_true", help="print what was replaced in the unplanted turns")
    args = parser.parse_args()

    turns = user_turns()
    loaded, per_second, per_cpu_second = speed([summary_sized(t) for t in turns[: args.speed_texts]])
    sample = turns[: args.n]
    texts, planted = plant(sample, seed=args.seed)
    scrubber = load_scrubber()
    results = scrubber.scrub_batch(texts)
    clean = scrubber.scrub_batch(sample)
    rows = score(texts, planted, results, clean)

    print(f"command: python bench/bench_scrub.py --n {args.n} --seed {args.seed} --speed-texts {args.speed_texts}")
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores (speed pinned to 1), Python {platform.python_version()}"
    )
    print(f"scrubber: {scrubber.label}")
    print(f"turns: {len(sample)} (OpenAssistant's {min(len(sample), 100)} first, then HH-RLHF)\n")
    print("| kind | planted | recall | kind right | placeholders | precision | unplanted per 1,000 turns |")
    print("|---|---|---|---|---|---|---|")
    total: Counter = Counter()
    for kind, r in rows.items():
        total.update(r)
        print(
            f"| {kind} | {r['planted']} | {pct(r['removed'], r['planted'])} | {pct(r['kind right'], r['removed'])} "
            f"| {r['placeholders']} | {pct(r['on planted'], r['placeholders'])} | {1000 * r['unplanted'] / len(sample):.1f} |"
        )
    print(
        f"| all | {total['planted']} | {pct(total['removed'], total['planted'])} | {pct(total['kind right'], total['removed'])} "
        f"| {total['placeholders']} | {pct(total['on planted'], total['placeholders'])} | {1000 * total['unplanted'] / len(sample):.1f} |"
    )
    print(
        f"\nspeed: {per_second:.0f} texts/s wall, {per_cpu_second:.0f} per CPU second (scrub_batch, "
        f"{args.speed_texts} summary-sized texts, pinned to 1 core); engine load {loaded:.1f} s"
    )
    # Names in sentences without any cue the name rules look for: the recogniser on its own.
    uncued_texts, uncued = plant(sample, seed=args.seed, kinds=["NAME"], uncued_names=True)
    uncued_results = scrubber.scrub_batch(uncued_texts)
    caught = sum(removed(v, r.spans, uncued_texts[v.index]) is not None for v, r in zip(uncued, uncued_results))
    print(f"names without a cue (held-out sentences): {pct(caught, len(uncued))} of {len(uncued)} removed")
    missed = [(v.kind, v.value) for v, r in zip(planted, results) if removed(v, r.spans, texts[v.index]) is None]
    print(f"missed (first 25 of {len(missed)}): {missed[:25]}")
    if args.list_unplanted:
        found = Counter((s.kind, turn[s.start : s.end]) for turn, r in zip(sample, clean) for s in r.spans)
        print(f"replaced in the unplanted turns ({sum(found.values())}): {found.most_common()}")


if __name__ == "__main__":
    main()
