"""An embedded store that dies part-way through an indexing run, for the resume tests."""

from __future__ import annotations

from neural_search.engines.embedded import EmbeddedStore
from neural_search.indexing import RetryPolicy

# Retries that give up at once: a crash test wants the crash, not ten seconds of backing off.
FAST_RETRY = RetryPolicy(initial_backoff=0.01, max_backoff=0.01, budget_seconds=0.1)


class Crash(BaseException):
    """The process killed: a BaseException, so no handler in the indexer takes it for an engine error."""


class DyingEmbeddedStore(EmbeddedStore):
    """Raises Crash on its `die_at`-th write call, as a process killed in the middle of a bulk."""

    def __init__(self, *, die_at: int, **kwargs):
        super().__init__(**kwargs)
        self.die_at = die_at
        self.writes = 0

    def write(self, physical, docs):
        self.writes += 1
        if self.writes == self.die_at:
            raise Crash()
        return super().write(physical, docs)
