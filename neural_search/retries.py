"""The one retry loop of an indexing run, and the index operations of a run retried with it.

Capped exponential backoff within a wall-clock budget (the waits and the failed attempts both
count). It waits out what may pass: an engine that cannot be reached, or a request refused with a
transient status (errors.TRANSIENT_STATUSES), whole or for some of its documents. Everything else
goes straight through, AuthenticationError included: credentials do not fix themselves.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable, Iterator, TypeVar

from .encoding import same_model
from .engines.base import DocumentStore
from .errors import AuthenticationError, ConfigurationError, EngineUnavailable, NeuralSearchError, TransientEngineError

log = logging.getLogger(__name__)

T = TypeVar("T")


class EngineGaveUp(NeuralSearchError):
    """The engine stayed unavailable (or kept pushing back) longer than the retry budget."""


@dataclass(frozen=True)
class RetryPolicy:
    max_backoff: float = 30.0
    initial_backoff: float = 0.5
    budget_seconds: float = 120.0

    def __post_init__(self) -> None:
        if self.initial_backoff <= 0 or self.max_backoff < self.initial_backoff or self.budget_seconds < 0:
            raise ConfigurationError("retry policy needs 0 < initial_backoff <= max_backoff and budget_seconds >= 0")

    def delays(self) -> Iterator[float]:
        """Capped exponential backoff until the budget is spent."""
        spent, delay = 0.0, self.initial_backoff
        while spent + delay <= self.budget_seconds:
            yield delay
            spent += delay
            delay = min(delay * 2, self.max_backoff)


class Retrier:
    """Runs calls under one RetryPolicy; counts the retries and the engine's push-backs (429)."""

    def __init__(
        self, engine: str, policy: RetryPolicy, *, sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic
    ):
        self.engine = engine
        self.policy = policy
        self.sleep = sleep
        self.clock = clock
        self.retries = 0
        self.pushed_back = 0

    def call(self, what: str, fn: Callable[[], T], *, applied: Callable[[], tuple[bool, T]] | None = None) -> T:
        """fn(), again after each fault that may pass, until it succeeds or the budget is spent.
        applied: asked before each retry whether the failed attempt took effect after all (its
        answer lost), for calls that must not be applied twice; (True, value) ends the loop."""
        delays = self.policy.delays()
        first_failure: float | None = None
        while True:
            try:
                if first_failure is not None and applied is not None:
                    done, value = applied()
                    if done:
                        return value
                return fn()
            except (TransientEngineError, EngineUnavailable) as exc:
                if first_failure is None:
                    first_failure = self.clock()
                if getattr(exc, "status", None) == 429:
                    self.pushed_back += 1
                delay = next(delays, None)
                if delay is None or self.clock() - first_failure + delay > self.policy.budget_seconds:
                    raise EngineGaveUp(
                        f"{self.engine} kept failing for more than the retry budget ({self.policy.budget_seconds:g} s) "
                        f"while trying to {what}: {exc}. The checkpoint keeps the progress; run the same command again to resume."
                    ) from exc
                self.retries += 1
                log.warning("%s: %s failed (%s); retrying in %.1f s", self.engine, what, exc, delay)
                self.sleep(delay)


class RetryingStore:
    """The index operations of a run (resolve, create, refresh, count, publish, drop) through a
    Retrier, so an engine restart during the set-up or the final publish is ridden out too.
    publish is idempotent on every engine (DocumentStore.publish); a create is checked, before
    each retry, for whether the failed attempt made the index after all."""

    def __init__(self, store: DocumentStore, retrier: Retrier):
        self.store = store
        self.engine = store.engine
        self.retrier = retrier

    @property
    def retries(self) -> int:
        return self.retrier.retries

    def _call(self, what: str, fn: Callable[..., T], *args, **kwargs) -> T:
        return self.retrier.call(what, lambda: fn(*args, **kwargs))

    def resolve(self, name: str) -> str | None:
        return self._call(f"look up {name!r}", self.store.resolve, name)

    def serves(self, name: str, physical: str) -> bool:
        return self._call(f"look up what {name!r} serves", self.store.serves, name, physical)

    def get_fingerprint(self, physical: str) -> dict | None:
        return self._call(f"read the model fingerprint of {physical!r}", self.store.get_fingerprint, physical)

    def create_physical(self, physical: str, *, fingerprint: dict, layout=None, options=None) -> None:
        try:
            return self.retrier.call(
                f"create {physical!r}", lambda: self.store.create_physical(physical, fingerprint=fingerprint, layout=layout, options=options),
                applied=lambda: (self.store.resolve(physical) is not None, None),
            )
        except (EngineGaveUp, AuthenticationError):
            raise
        except Exception:
            # A create whose answer was lost, resent by the client library itself, comes back as
            # "already exists". Physical names are unique to this run: if it exists with this
            # model's fingerprint, it is ours (an engine may need a moment to list a new index).
            for _ in range(10):
                if self.resolve(physical) is not None:
                    if same_model(self.get_fingerprint(physical), fingerprint["id"]):
                        return None
                    break
                self.retrier.sleep(0.2)
            raise

    def layout(self, physical: str):
        return self._call(f"read how {physical!r} is sharded", self.store.layout, physical)

    def index_options(self, physical: str):
        return self._call(f"read the index options of {physical!r}", self.store.index_options, physical)

    def publish(self, name: str, physical: str) -> str | None:
        return self._call(f"switch {name!r} to {physical!r}", self.store.publish, name, physical)

    def drop(self, physical: str) -> None:
        return self._call(f"drop {physical!r}", self.store.drop, physical)

    def refresh(self, physical: str) -> None:
        return self._call(f"refresh {physical!r}", self.store.refresh, physical)

    def count(self, physical: str) -> int:
        return self._call(f"count {physical!r}", self.store.count, physical)
