"""An OpenAI-compatible server on 127.0.0.1 for tests and benchmarks: no network, no model.

It answers ``POST /v1/chat/completions`` by filling the requested JSON schema (``kura.llm.fake``)
and ``POST /v1/embeddings`` with hashed bag-of-words vectors, each after ``delay`` seconds, and can
misbehave on cue: ``faults`` is a queue of what to do to the next chat requests, one per request:

    "429:S"        HTTP 429 with Retry-After: S
    "500"          HTTP 500
    "stall:S"      answer only after S seconds (longer than the client's timeout: a timeout)
    "malformed"    a reply whose content is not JSON
    "invalid"      a reply that is JSON but does not fit the schema
    "garbage"      a body that is not JSON at all
    "no-schema"    HTTP 400 refusing response_format (servers without structured output)

``embedding_faults`` does the same to the next embedding requests: "500" and "garbage" as above, and
replies that are JSON but wrong: "string" (a vector sent as a string), "short" (one vector a value
short), "nan" (a NaN in a vector), "missing" (one vector too few), "dim" (every vector one value
short: a dimension that differs from earlier replies).

``die_after=N`` closes the listening socket and every connection after N requests (a server that
dies mid-run); ``start()`` again brings it back on the same port. ``GET /stats`` returns the counts.
``models`` (Ollama's entries: ``{"name": ..., "size": ..., "details": {...}}``) are listed at
``GET /api/tags`` as Ollama lists them and at ``GET /v1/models`` as llama.cpp's server does, so
the server can stand in for either when local models are looked for (kura/llm/sources.py).

    python -m kura.llm.fake_server --delay 0.2        # prints its base URL, serves until killed
"""

from __future__ import annotations

import argparse
import asyncio
import json
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable
from typing import Any

from kura.llm.fake import fill_schema


class FakeOpenAIServer:
    def __init__(
        self,
        *,
        delay: float = 0.0,
        faults: Iterable[str] = (),
        embedding_faults: Iterable[str] = (),
        die_after: int | None = None,
        dim: int = 256,
        host: str = "127.0.0.1",
        port: int = 0,
        models: Iterable[dict[str, Any]] = (),
    ):
        self.delay = delay
        self.models = list(models)
        self.faults: deque[str] = deque(faults)
        self.embedding_faults: deque[str] = deque(embedding_faults)
        self.die_after = die_after
        self.dim = dim
        self.host = host
        self.port = port
        self.counts: Counter[str] = Counter()
        self.request_times: list[float] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def requests(self) -> int:
        """Chat and embedding requests received (``/stats`` excluded)."""
        return self.counts["chat"] + self.counts["embeddings"]

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> FakeOpenAIServer:
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            self._server = loop.run_until_complete(
                asyncio.start_server(self._handle, self.host, self.port, backlog=1024)
            )
            self.port = self._server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=serve, name="fake-openai-server", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the fake server did not start within 10 s")
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        loop = self._loop

        async def shutdown() -> None:
            self._close_now()
            loop.stop()

        asyncio.run_coroutine_threadsafe(shutdown(), loop)
        if self._thread:
            self._thread.join(10)
        self._loop = None

    def _close_now(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.close()

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- HTTP -----------------------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                request_line = await reader.readline()
                if not request_line:
                    return
                method, path, _ = request_line.decode("latin-1").split(" ", 2)
                headers = {}
                while True:
                    line = await reader.readline()
                    if line in (b"\r\n", b"\n", b""):
                        break
                    key, _, value = line.decode("latin-1").partition(":")
                    headers[key.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", 0) or 0))
                status, extra, payload = await self._respond(method, path, body)
                if status == 0:  # the server died while this request was in flight
                    return
                head = [
                    f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}",
                    "Content-Type: application/json",
                    f"Content-Length: {len(payload)}",
                    *[f"{k}: {v}" for k, v in extra.items()],
                ]
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            return
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _respond(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
        if method == "GET" and path.rstrip("/").endswith("/stats"):
            return 200, {}, json.dumps(dict(self.counts)).encode()
        if method == "GET" and path.rstrip("/") == "/api/tags":  # Ollama's list of models
            return 200, {}, json.dumps({"models": self.models}).encode()
        if method == "GET" and path.rstrip("/").endswith("/v1/models"):  # OpenAI's (llama.cpp's server)
            listed = [{"id": m["name"], "object": "model", "owned_by": "fake"} for m in self.models]
            return 200, {}, json.dumps({"object": "list", "data": listed}).encode()
        kind = "embeddings" if path.rstrip("/").endswith("/embeddings") else "chat"
        self.counts[kind] += 1
        self.request_times.append(time.monotonic())
        if self.die_after is not None and self.requests > self.die_after:
            self._close_now()
            return 0, {}, b""
        request = json.loads(body or b"{}")
        queue = self.faults if kind == "chat" else self.embedding_faults
        fault = queue.popleft() if queue else ""
        if fault:
            self.counts[f"fault:{fault}"] += 1
        name, _, arg = fault.partition(":")
        if name == "stall":
            await asyncio.sleep(float(arg))
        elif self.delay:
            await asyncio.sleep(self.delay)
        if name == "429":
            return 429, {"Retry-After": arg or "1"}, json.dumps({"error": {"message": "rate limited"}}).encode()
        if name == "500":
            return 500, {}, json.dumps({"error": {"message": "internal error"}}).encode()
        if name == "garbage":
            return 200, {}, b"<html>not json</html>"
        if name == "no-schema" and "response_format" in request:
            return 400, {}, json.dumps({"error": {"message": "response_format is not supported"}}).encode()
        if kind == "embeddings":
            return 200, {}, json.dumps(_spoil(self._embeddings(request), name)).encode()
        return 200, {}, json.dumps(self._chat(request, name)).encode()

    def _chat(self, request: dict[str, Any], fault: str) -> dict[str, Any]:
        messages = request.get("messages") or []
        schema = ((request.get("response_format") or {}).get("json_schema") or {}).get("schema") or _schema_in_prompt(
            messages
        )
        if fault == "malformed":
            content = '{"summary": "cut off'
        elif fault == "invalid":
            content = json.dumps({"unexpected": True})
        else:
            content = json.dumps(fill_schema(schema, messages))
        prompt_chars = sum(len(m.get("content") or "") for m in messages)
        return {
            "id": f"fake-{self.counts['chat']}",
            "object": "chat.completion",
            "model": request.get("model", "fake"),
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": prompt_chars // 4,
                "completion_tokens": len(content) // 4,
                "total_tokens": (prompt_chars + len(content)) // 4,
            },
        }

    def _embeddings(self, request: dict[str, Any]) -> dict[str, Any]:
        from kura.embedders.hashing import HashingEmbedder

        texts = request.get("input") or []
        texts = [texts] if isinstance(texts, str) else texts
        vectors = HashingEmbedder(self.dim).encode(list(texts))
        return {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i, "embedding": [round(float(x), 5) for x in v]}
                for i, v in enumerate(vectors)
            ],
            "model": request.get("model", "fake"),
            "usage": {
                "prompt_tokens": sum(len(t) for t in texts) // 4,
                "total_tokens": sum(len(t) for t in texts) // 4,
            },
        }


def _spoil(reply: dict[str, Any], fault: str) -> dict[str, Any]:
    """An embeddings reply made wrong in the way ``fault`` names (unchanged for any other fault)."""
    rows = reply["data"]
    if fault == "string":
        rows[0]["embedding"] = json.dumps(rows[0]["embedding"])
    elif fault == "short":
        rows[-1]["embedding"] = rows[-1]["embedding"][:-1]
    elif fault == "nan":
        rows[0]["embedding"][0] = float("nan")  # json.dumps writes NaN, as some servers do
    elif fault == "missing":
        rows.pop()
    elif fault == "dim":
        for row in rows:
            row["embedding"] = row["embedding"][:-1]
    return reply


def _schema_in_prompt(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """The schema a client put in the prompt (JSON mode, or no structured output at all)."""
    text = (messages[-1].get("content") or "") if messages else ""
    marker = text.rfind("JSON schema:\n")
    if marker >= 0:
        try:
            return json.loads(text[marker + len("JSON schema:\n") :])
        except ValueError:
            pass
    return {"type": "object", "properties": {}}


def main() -> None:
    parser = argparse.ArgumentParser(
        description="An OpenAI-compatible fake server on 127.0.0.1 (tests and benchmarks)."
    )
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--dim", type=int, default=256, help="embedding dimensions")
    args = parser.parse_args()
    server = FakeOpenAIServer(delay=args.delay, dim=args.dim, port=args.port).start()
    print(server.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
