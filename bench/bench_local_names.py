"""Local names: how fast the local model names clusters, per prompt layout, and what the tree shows.

    python bench/bench_local_names.py [--run runs/demo] [--per-call 1 3] [--examples 10]

Takes the base clusters of a finished run (default: `kura run data/oasst_en100.jsonl --out
/tmp/bench-local-names-offline` is made first), names them with the local model through
``BudgetedNamer`` (no cache, no budget limit) once per variant, and prints per variant: seconds
per cluster, prompt and generated tokens, and llama.cpp's own prompt-processing and generation
rates (tokens per second, from its timings), with the load average. First, ``--raw`` times the
raw rates of the same model on the same cores without Kura (llama-bench's pp and tg: a 256-token
prompt in one batch, then 128 tokens one by one, greedy, no grammar), the ceiling to compare with.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path


def offline_run(path: Path) -> Path:
    if not (path / "clusters.jsonl").exists():
        subprocess.run(
            [sys.executable, "-m", "kura.cli", "run", "data/oasst_en100.jsonl", "--out", str(path), "-q"],
            check=True,
            capture_output=True,
        )
    return path


def groups_of(run: Path) -> list:
    from kura.stages.naming import ClusterGroup
    from kura.store import RunStore, artifacts
    from kura.types import Cluster, ConversationSummary

    store = RunStore(run)
    summaries = {s.chat_id: s.summary for s in store.read_models(artifacts.SUMMARIES, ConversationSummary)}
    base = store.read_models(artifacts.CLUSTERS, Cluster)
    return [ClusterGroup(chat_ids=c.chat_ids, texts=[summaries[i] for i in c.chat_ids]) for c in base], base


def rates(llama) -> tuple[float, float]:
    """llama.cpp's own counters for the last call: prompt and generation tokens per second."""
    import llama_cpp

    perf = llama_cpp.llama_perf_context(llama._ctx.ctx)
    pp = perf.n_p_eval / (perf.t_p_eval_ms / 1000) if perf.t_p_eval_ms else 0.0
    tg = perf.n_eval / (perf.t_eval_ms / 1000) if perf.t_eval_ms else 0.0
    return pp, tg


def raw_rates(llama, prompt_tokens: int = 256, generated: int = 128) -> tuple[float, float]:
    """llama-bench's two figures through the same Llama object, without Kura: prompt processing of
    ``prompt_tokens`` tokens of README text in one batch, then ``generated`` tokens one at a time
    (greedy, no grammar), both by the wall clock."""
    import numpy as np

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    tokens = llama.tokenize(text.encode())[:prompt_tokens]
    llama.reset()
    started = time.perf_counter()
    llama.eval(tokens)
    pp = len(tokens) / (time.perf_counter() - started)
    started = time.perf_counter()
    for _ in range(generated):
        llama.eval([int(np.argmax(llama.scores[llama.n_tokens - 1]))])
    tg = generated / (time.perf_counter() - started)
    llama.reset()
    return pp, tg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", type=Path, default=Path("/tmp/bench-local-names-offline"))
    parser.add_argument("--per-call", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--examples", type=int, default=10)
    parser.add_argument("--model", default="local")
    parser.add_argument("--raw", type=int, default=2, help="times to measure the raw rates first (llama-bench's pp/tg)")
    args = parser.parse_args()

    from kura.llm import get_llm
    from kura.llm.local_names import BudgetedNamer

    groups, base = groups_of(offline_run(args.run))
    llm = get_llm(args.model)
    started = time.perf_counter()
    llm._load()  # type: ignore[attr-defined]
    print(
        f"model {llm.name}: loaded in {time.perf_counter() - started:.1f} s; {len(groups)} clusters; load {os.getloadavg()}"
    )
    for _ in range(args.raw):
        pp, tg = raw_rates(llm._llama)  # type: ignore[attr-defined]
        print(f"raw llama.cpp: pp256 {pp:.1f} tok/s, tg128 {tg:.1f} tok/s; load {os.getloadavg()[0]:.2f}")
    for per_call in args.per_call:
        namer = BudgetedNamer(
            llm, budget_seconds=1e9, max_groups=len(groups), groups_per_call=per_call, examples=args.examples
        )
        llm.usage.reset()
        pp_rates, tg_rates = [], []
        original = llm._generate  # type: ignore[attr-defined]

        def timed(*a, original=original, pp_rates=pp_rates, tg_rates=tg_rates, **k):
            out = original(*a, **k)
            pp, tg = rates(llm._llama)  # type: ignore[attr-defined]
            pp_rates.append(pp)
            tg_rates.append(tg)
            return out

        llm._generate = timed  # type: ignore[attr-defined]
        started = time.perf_counter()
        named = asyncio.run(namer.name_groups(groups))
        seconds = time.perf_counter() - started
        llm._generate = original  # type: ignore[attr-defined]
        usage = llm.usage.stage("names")
        by_model = sum(n.named_by == llm.name for n in named)
        print(
            f"\ngroups per call {per_call}: {seconds:.1f} s for {len(groups)} clusters ({seconds / len(groups):.2f} s each), "
            f"{usage.requests} requests, {usage.input_tokens} prompt tokens, {usage.output_tokens} generated, "
            f"{by_model} named by the model; llama.cpp: prompt {sum(pp_rates) / max(1, len(pp_rates)):.0f} tok/s "
            f"(tokens actually evaluated, after prefix reuse), generation {sum(tg_rates) / max(1, len(tg_rates)):.1f} tok/s; "
            f"load {os.getloadavg()}"
        )
        for cluster, name in zip(base, named):
            print(f"  {len(cluster.chat_ids):3d}  {name.name:45s} <- {cluster.name}")


if __name__ == "__main__":
    main()
