"""Write N conversations built from real turns, for measuring Kura at scale.

    python bench/make_scale_data.py /tmp/scale100k.jsonl --n 100000
    python bench/bench_pipeline.py --input /tmp/scale100k.jsonl

What is sampled (all from ``../shared/data``, see its README; licences allow reuse with
attribution: CLINC150 CC BY 3.0, OpenAssistant Apache-2.0, HH-RLHF MIT):

- requests: every real user turn there is: CLINC150's 22,500 in-scope queries (grouped by their
  10 domains) and 200 out-of-scope ones, the user turns of the 100 OpenAssistant chats, and the
  human turns of the 2,312 HH-RLHF red-team transcripts (``chosen``), about 28,000 distinct texts;
- replies: the real assistant turns of OpenAssistant and HH-RLHF.

How they are combined: each conversation opens with one user message, taken from one group
(a CLINC domain, CLINC's out-of-scope queries, OpenAssistant or HH-RLHF). First every distinct
request opens one conversation on its own (in a seeded random order); once they are used up, an
opening is two different requests of the same group, one after the other (a user asking two
related things at once), and an opening already written is drawn again. Conversations from the
two chat sources get one real reply from the same source after the opening. ``label`` is the
group, so clustering can still be scored against the domains. Everything is drawn from one
``numpy`` generator seeded by ``--seed``: the same arguments write the same file.

Why this avoids near-duplicate vectors: the pipeline's offline summary (and so its vector) is
the opening user message, and no two openings are the same text; a paired opening is a new
sentence pair whose vector lies between its two parents, not on top of either. The old
``bench_pipeline.py --scale`` trick (the same query again with "(again)" appended) gives vectors
that nearly coincide, so k-means, nearest-neighbour search and UMAP all find their work easier
than on real traffic, and many repeats are even served from the embedding cache.

The file is written where the command line says and never committed (100,000 conversations
are about 25 MB).
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
_TURN = re.compile(r"\n\n(Human|Assistant): ")


def real_turns(data: Path) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Distinct real user requests by group, and real assistant replies by group."""
    domain_of = {
        intent: domain
        for domain, intents in json.loads((data / "clinc150_domains.json").read_text()).items()
        for intent in intents
    }
    requests: dict[str, list[str]] = {}
    replies: dict[str, list[str]] = {}

    def add(pool: dict[str, list[str]], group: str, text: str) -> None:
        text = text.strip()
        if text:
            pool.setdefault(group, []).append(text)

    for name in ("clinc150.jsonl", "clinc150_oos_trainval.jsonl"):
        for line in (data / name).read_text().splitlines():
            row = json.loads(line)
            add(requests, domain_of.get(row["label"], "out_of_scope"), row["messages"][0]["content"])
    for line in (data / "oasst_en100.jsonl").read_text().splitlines():
        for message in json.loads(line)["messages"]:
            add(requests if message["role"] == "user" else replies, "oasst", message["content"])
    with gzip.open(data / "hh_rlhf_harmless_test.jsonl.gz", "rt") as lines:
        for line in lines:
            parts = _TURN.split(json.loads(line)["chosen"])[1:]  # speaker, text, speaker, text...
            for speaker, text in zip(parts[::2], parts[1::2]):
                add(requests if speaker == "Human" else replies, "hh_rlhf", text)
    # Sorted and deduplicated so the draw depends on the seed only, not on file order quirks.
    return {g: sorted(set(t)) for g, t in sorted(requests.items())}, {g: sorted(set(t)) for g, t in replies.items()}


def join(first: str, second: str) -> str:
    """Two requests as one message: a full stop between them unless the first has its own."""
    return f"{first} {second}" if first[-1] in ".?!" else f"{first}. {second}"


def conversations(n: int, seed: int, data: Path = DATA):
    """Yield ``n`` conversation rows (``id``, ``messages``, ``label``), seeded."""
    rng = np.random.default_rng(seed)
    requests, replies = real_turns(data)
    groups = list(requests)
    first_group = {t: g for g in reversed(groups) for t in requests[g]}  # a text in two groups: once
    singles = sorted((g, t) for t, g in first_group.items())
    weights = np.array([len(requests[g]) for g in groups], dtype=float)
    weights /= weights.sum()
    seen: set[str] = set()
    order = rng.permutation(len(singles))
    for i in range(n):
        if i < len(singles):
            group, opening = singles[order[i]]
        else:
            while True:  # a pair of the same group not written before (rare repeats redrawn)
                group = groups[rng.choice(len(groups), p=weights)]
                a, b = rng.choice(len(requests[group]), size=2, replace=False)
                opening = join(requests[group][a], requests[group][b])
                if opening not in seen:
                    break
        seen.add(opening)
        messages = [{"role": "user", "content": opening}]
        if group in replies:
            messages.append({"role": "assistant", "content": replies[group][rng.integers(len(replies[group]))]})
        yield {"id": f"scale-{i}", "messages": messages, "label": group}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("output", type=Path, help="where to write the JSONL (not in the repository)")
    parser.add_argument("--n", type=int, default=100_000, help="number of conversations")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=DATA, help="the shared data folder")
    args = parser.parse_args()
    if not (args.data / "clinc150.jsonl").exists():
        parser.error(f"{args.data}/clinc150.jsonl not found: pass --data with the shared data folder")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    with args.output.open("w") as out:
        for row in conversations(args.n, args.seed, args.data):
            out.write(json.dumps(row) + "\n")
    print(f"wrote {args.n:,} conversations to {args.output} (seed {args.seed})")
    print(f"reproduce: python bench/make_scale_data.py {args.output} --n {args.n} --seed {args.seed}")


if __name__ == "__main__":
    main()
