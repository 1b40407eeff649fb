"""A summariser for resume tests: slow, and it logs every conversation it really summarises."""

import asyncio
import os

from kura.stages.summarise import ExtractiveSummariser


class LoggingSummariser(ExtractiveSummariser):
    max_concurrency = 4
    # Where it logs and how slowly it works do not change a summary: the cache is shared.
    not_fingerprinted = frozenset({"log_path", "delay"})

    def __init__(self, log_path: str, delay: float = 0.0):
        super().__init__()
        self.log_path = log_path
        self.delay = delay

    async def summarise_one(self, conversation):
        if self.delay:
            await asyncio.sleep(self.delay)
        with open(self.log_path, "a") as f:
            f.write(conversation.chat_id + "\n")
            f.flush()
            os.fsync(f.fileno())
        return await super().summarise_one(conversation)
