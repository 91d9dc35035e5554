"""The bulk pipeline as a chain of small generators, each yielding to the next:

    batches(records)  ->  encoded(...)  ->  written(...)  ->  one BatchOutcome per batch

`batches` groups source records (and sets aside the unreadable, the empty and the too short
ones), `encoded` gives each document its vector, `written` writes up to `in_flight` batches at once
on writer threads while the next batch is encoded, and yields their outcomes in source order, so a
checkpoint saved after outcome k never covers a batch that is not acknowledged. A BulkWriter cuts
a batch into chunks sized from their serialised bytes and yields one ItemResult per document, as
elasticsearch-py's streaming_bulk does: only what the engine rejected with a transient status is
sent again, and a rejection keeps the document it was for. It also caps the bulk requests in
flight across threads, and halves that cap while the engine pushes back (429).
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import deque
from concurrent.futures import Executor, Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from .documents import Document, SourceRecord
from .engines.base import DocumentStore, IndexedDoc, WriteResult
from .errors import ConfigurationError, PayloadTooLarge, TransientEngineError
from .retries import Retrier, RetryPolicy

try:  # the serialiser elastic-transport picks when it is installed; json gives the same lengths
    import orjson as _orjson
except ImportError:  # pragma: no cover - orjson is optional
    _orjson = None

log = logging.getLogger(__name__)


@dataclass
class Batch:
    """Documents to encode and write, plus what was decided about the records read while forming it."""

    last_position: int
    documents: list[Document] = field(default_factory=list)
    records: int = 0
    skipped: list[dict] = field(default_factory=list)
    unreadable: list[dict] = field(default_factory=list)


@dataclass(frozen=True)
class ItemResult:
    """The engine's last word on one document, with the document it was for."""

    item: IndexedDoc
    result: WriteResult

    @property
    def ok(self) -> bool:
        return self.result.ok

    def dead_letter(self) -> dict:
        d = self.item.document
        return {"kind": "failed", "id": d.id, "status": self.result.status, "reason": self.result.error, "document": d.to_json()}


@dataclass(frozen=True)
class BatchOutcome:
    """One batch, written: what the checkpoint and the dead-letter file record about it."""

    batch: Batch
    items: list[ItemResult]
    encode_seconds: float = 0.0
    write_seconds: float = 0.0

    @property
    def indexed(self) -> int:
        return sum(1 for r in self.items if r.ok)

    @property
    def failed(self) -> int:
        return len(self.batch.unreadable) + sum(1 for r in self.items if not r.ok)

    @property
    def skipped(self) -> int:
        return len(self.batch.skipped)

    def skipped_by_cause(self) -> dict[str, int]:
        causes: dict[str, int] = {}
        for entry in self.batch.skipped:
            causes[entry["cause"]] = causes.get(entry["cause"], 0) + 1
        return causes

    def indexed_ids(self) -> Iterator[str]:
        return (r.item.document.id for r in self.items if r.ok)

    def dead_letters(self) -> list[dict]:
        """One entry per record of the batch that was not indexed, in the dead-letter file's order."""
        return [*self.batch.unreadable, *self.batch.skipped, *(r.dead_letter() for r in self.items if not r.ok)]


class DistinctIds:
    """How many distinct document ids a run indexed, in 8 bytes an id (a 64-bit hash, kept in numpy
    blocks), so a run over the 5M-abstract DBpedia dump checks its count without holding 5M strings."""

    def __init__(self, block: int = 1 << 16):
        self._blocks: list[np.ndarray] = []
        self._current: list[int] = []
        self._block = block

    def update(self, ids: Iterable[str]) -> None:
        for doc_id in ids:
            self._current.append(int.from_bytes(hashlib.blake2b(doc_id.encode(), digest_size=8).digest(), "little", signed=True))
        if len(self._current) >= self._block:
            self._compact()

    def _compact(self) -> None:
        if self._current:
            self._blocks.append(np.unique(np.asarray(self._current, dtype=np.int64)))
            self._current = []
        if len(self._blocks) > 8:  # a re-indexed id appears in several blocks: merge now and then
            self._blocks = [np.unique(np.concatenate(self._blocks))]

    def __len__(self) -> int:
        self._compact()
        return int(np.unique(np.concatenate(self._blocks)).size) if self._blocks else 0


# -- the chain --------------------------------------------------------------------------------------


SKIP_CAUSES = {"empty": "empty title and text", "min_tokens": "text shorter than --min-tokens"}


def token_count(text: str) -> int:
    """Whitespace-separated tokens: what --min-tokens counts (the seed system's rule of thumb)."""
    return len(text.split())


def batches(records: Iterable[SourceRecord], batch_size: int, start_after: int = 0, *, min_tokens: int = 0) -> Iterator[Batch]:
    """Groups source records into batches of at most `batch_size` documents to encode. Documents
    whose text has fewer than `min_tokens` tokens are skipped (and dead-lettered with the count)."""
    batch = Batch(last_position=start_after)
    for record in records:
        if record.position <= start_after:
            continue
        batch.records += 1
        batch.last_position = record.position
        if record.error is not None or record.document is None:
            batch.unreadable.append(
                {"kind": "failed", "location": record.location, "position": record.position, "reason": record.error, "raw": record.raw}
            )
        elif record.document.is_empty:
            batch.skipped.append(
                {"kind": "skipped", "cause": "empty", "location": record.location, "position": record.position, "id": record.document.id,
                 "reason": "empty title and text"}
            )
        elif min_tokens and (tokens := token_count(record.document.text)) < min_tokens:
            batch.skipped.append(
                {"kind": "skipped", "cause": "min_tokens", "location": record.location, "position": record.position,
                 "id": record.document.id, "reason": f"text of {tokens} token(s), fewer than --min-tokens {min_tokens}"}
            )
        else:
            batch.documents.append(record.document)
        if len(batch.documents) >= batch_size:
            yield batch
            batch = Batch(last_position=record.position)
    if batch.records:
        yield batch


def encoded(source: Iterable[Batch], encoder) -> Iterator[tuple[Batch, list[IndexedDoc], float]]:
    """Each batch with its documents' vectors, and the seconds the encoding took. An encoder with
    `encode_stream` (several workers, ray_encoding.RayEncoder) is handed the whole stream, so it
    can keep its workers busy; it must yield (batch, vectors) in the order it was given them."""
    stream = getattr(encoder, "encode_stream", None)
    if stream is not None:
        last = time.perf_counter()
        for batch, vectors in stream(source):
            now = time.perf_counter()
            yield batch, [IndexedDoc(d, v) for d, v in zip(batch.documents, vectors)], now - last
            last = time.perf_counter()
        return
    for batch in source:
        t0 = time.perf_counter()
        vectors = encoder.encode_documents(batch.documents) if batch.documents else []
        yield batch, [IndexedDoc(d, v) for d, v in zip(batch.documents, vectors)], time.perf_counter() - t0


def written(
    source: Iterable[tuple[Batch, list[IndexedDoc], float]], writer: BulkWriter, pool: Executor, *, in_flight: int = 1
) -> Iterator[BatchOutcome]:
    """Each batch written on `pool` (at least `in_flight` threads) while the next ones are encoded,
    and its outcome yielded in source order. A batch is handed to the writer only once fewer than
    `in_flight` outcomes are waiting to be consumed (their checkpoints saved), so at most that many
    batches are ever unacknowledged: a run killed then resumes from the last acknowledged one and
    rewrites what came after, which replaces (document ids are stable). A batch that shares a
    document id with one still in flight waits for it, so the later version stays the last."""
    if in_flight < 1:
        raise ConfigurationError(f"in_flight must be >= 1, got {in_flight}")
    pending: deque[tuple[Future, set[str]]] = deque()
    try:
        for batch, items, encode_seconds in source:
            ids = {item.document.id for item in items}
            while pending and (len(pending) >= in_flight or any(not ids.isdisjoint(other) for _, other in pending)):
                yield pending.popleft()[0].result()
            pending.append((pool.submit(_write_batch, writer, batch, items, encode_seconds), ids))
        while pending:
            yield pending.popleft()[0].result()
    finally:
        # Stopped early (a crash, an engine that gave up): nothing more is started.
        for future, _ in pending:
            future.cancel()


def _write_batch(writer: BulkWriter, batch: Batch, items: list[IndexedDoc], encode_seconds: float) -> BatchOutcome:
    t0 = time.perf_counter()
    results = list(writer.stream(items))
    return BatchOutcome(batch, results, encode_seconds, time.perf_counter() - t0)


# -- chunks and the writer ----------------------------------------------------------------------------


# The action line ({"index":{"_index":"","_id":""}}), the field names of the source line and the
# newlines, beyond the values measured below (and the index name, given where it is known).
_ENVELOPE_BYTES = 80
# The float text of one model's vectors varies by a fraction of a percent from one vector to the
# next: the size measured on one vector of a batch, plus this margin, stands for all of them.
_VECTOR_MARGIN = 1.01


def _dumps(value) -> bytes:
    if _orjson is not None:
        return _orjson.dumps(value, option=_orjson.OPT_SERIALIZE_NUMPY, default=str)
    return json.dumps(value.tolist() if isinstance(value, np.ndarray) else value, ensure_ascii=False, separators=(",", ":"), default=str).encode()


def vector_bytes(vector: np.ndarray) -> int:
    """The bytes of one vector in a JSON request body: float64 text, as the clients send it."""
    return len(_dumps(np.asarray(vector, dtype=np.float64)))


def serialized_bytes(item: IndexedDoc, vector_size: int | None = None, index_name_bytes: int = 32) -> int:
    """The bytes `item` adds to a bulk request body (its id, title, text and metadata as JSON, its
    vector, the action line naming the index): counted, not guessed, except the vector's float text
    when `vector_size` is given (formatting 384 floats costs more than all the rest)."""
    d = item.document
    fields = len(_dumps([d.id, d.title, d.text, dict(d.metadata)])) + len(d.id)
    vector = vector_bytes(item.vector) if vector_size is None else vector_size
    return _ENVELOPE_BYTES + index_name_bytes + fields + vector


def chunk_by_count_and_bytes(items: Sequence[IndexedDoc], max_docs: int, max_bytes: int, index_name_bytes: int = 32) -> Iterator[list[IndexedDoc]]:
    return _chunked(items, lambda: (max_docs, max_bytes), index_name_bytes)


def _chunked(items: Iterable[IndexedDoc], limits: Callable[[], tuple[int, int]], index_name_bytes: int = 32) -> Iterator[list[IndexedDoc]]:
    """Chunks of at most (docs, serialised bytes) = limits(), read again for every item, so a limit
    lowered while chunks are being written (after a 413) applies to the very next chunk. The vector
    text is measured on the first vector of each call (one batch) and stands for the others."""
    chunk: list[IndexedDoc] = []
    size = 0
    vector_size: int | None = None
    for item in items:
        if vector_size is None:
            vector_size = int(vector_bytes(item.vector) * _VECTOR_MARGIN)
        item_size = serialized_bytes(item, vector_size, index_name_bytes)
        max_docs, max_bytes = limits()
        if chunk and (len(chunk) >= max_docs or size + item_size > max_bytes):
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += item_size
    if chunk:
        yield chunk


class BulkWriter:
    """Writes chunks to one physical index; yields one ItemResult per document. Thread-safe: the
    writer threads of one run share it, and with it the limits below.

    Faults are ridden out within `retry.budget_seconds` per chunk (retries.Retrier). At most
    `parallel` bulk requests are in flight at once; backpressure (429, whole request or single
    items) halves that cap (down to one), and each run of accepted requests lets it grow back by
    one, as TCP does; it also paces the requests that follow: a pause before each request that
    doubles while the engine keeps pushing back and halves while it accepts. A 413 splits what was
    being sent and lowers the chunk limits for every later chunk, so one 413 is not paid again.
    """

    def __init__(
        self,
        store: DocumentStore,
        physical: str,
        *,
        retry: RetryPolicy,
        max_chunk_docs: int = 500,
        max_chunk_bytes: int = 8 * 1024 * 1024,
        parallel: int = 1,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        if parallel < 1:
            raise ConfigurationError(f"parallel bulk requests must be >= 1, got {parallel}")
        self.store = store
        self.physical = physical
        self.retry = retry
        self.sleep = sleep
        self.clock = clock
        # Limits in force now: lowered by 413 answers, never raised again within one run.
        self.chunk_docs = max_chunk_docs
        self.chunk_bytes = max_chunk_bytes
        self.too_large = 0
        self.pause = 0.0
        self.parallel = parallel
        self.in_flight_limit = parallel  # halved on 429, +1 after a run of accepted requests
        self.lowest_in_flight_limit = parallel
        self._in_flight = 0
        self._accepted_in_a_row = 0
        self._slots = threading.Condition()
        self._lock = threading.Lock()
        self._retries = 0
        self._pushed_back = 0

    @property
    def retries(self) -> int:
        return self._retries

    @property
    def pushed_back(self) -> int:
        return self._pushed_back

    def stream(self, items: Iterable[IndexedDoc]) -> Iterator[ItemResult]:
        for chunk in _chunked(items, lambda: (self.chunk_docs, self.chunk_bytes), len(self.physical.encode())):
            # One Retrier per chunk: its counts say whether *this* request was pushed back, whatever
            # the other threads' requests met meanwhile.
            retrier = Retrier(self.store.engine, self.retry, sleep=self.sleep, clock=self.clock)
            with self._slot():
                if self.pause > 0:
                    self.sleep(self.pause)
                try:
                    results = self._write_chunk(chunk, retrier)
                finally:
                    self._account(retrier)
            yield from results

    def write(self, items: Sequence[IndexedDoc]) -> list[WriteResult]:
        return [r.result for r in self.stream(items)]

    @contextmanager
    def _slot(self):
        with self._slots:
            while self._in_flight >= self.in_flight_limit:
                self._slots.wait()
            self._in_flight += 1
        try:
            yield
        finally:
            with self._slots:
                self._in_flight -= 1
                self._slots.notify_all()

    def _account(self, retrier: Retrier) -> None:
        pushed_back = retrier.pushed_back > 0
        with self._slots:
            self._retries += retrier.retries
            self._pushed_back += retrier.pushed_back
            if pushed_back:
                self.pause = min(self.retry.max_backoff, max(self.retry.initial_backoff, self.pause * 2))
                # Halved for each 429 this request met: a request refused twice is a hint twice.
                self.in_flight_limit = max(1, self.in_flight_limit >> retrier.pushed_back)
                self.lowest_in_flight_limit = min(self.lowest_in_flight_limit, self.in_flight_limit)
                self._accepted_in_a_row = 0
                if self.in_flight_limit < self.parallel:
                    log.info("429 from %s: at most %d bulk request(s) in flight now", self.store.engine, self.in_flight_limit)
                return
            if self.pause:
                self.pause = self.pause / 2 if self.pause / 2 >= self.retry.initial_backoff / 4 else 0.0
            self._accepted_in_a_row += 1
            if self.in_flight_limit < self.parallel and self._accepted_in_a_row >= 4 * self.in_flight_limit:
                self.in_flight_limit += 1
                self._accepted_in_a_row = 0
                self._slots.notify_all()

    def _write_chunk(self, chunk: list[IndexedDoc], retrier: Retrier) -> list[ItemResult]:
        """The chunk, then again only its documents the engine rejected with a transient status,
        until every one has a final answer; one retry budget covers whole-request faults and
        rejected documents alike."""
        answers: dict[str, WriteResult] = {}
        pending = chunk

        def attempt() -> None:
            nonlocal pending
            for result in self.store.write(self.physical, pending):
                answers[result.doc_id] = result
            pending = [item for item in pending if answers[item.document.id].retryable]
            if pending:
                statuses = {answers[item.document.id].status for item in pending}
                status = 429 if 429 in statuses else min(statuses)
                raise TransientEngineError(status, f"{len(pending)} of the documents were rejected with {status} (the engine is overloaded)")

        try:
            retrier.call(f"write {len(chunk)} documents to {self.physical!r}", attempt)
        except PayloadTooLarge:
            for result in self._split(pending, retrier):
                answers[result.item.document.id] = result.result
        return [ItemResult(item, answers[item.document.id]) for item in chunk]

    def _split(self, refused: list[IndexedDoc], retrier: Retrier) -> list[ItemResult]:
        with self._lock:
            self.too_large += 1
        if len(refused) == 1:
            return [ItemResult(refused[0], WriteResult(refused[0].document.id, False, 413, "document is larger than the engine accepts in one request (413)"))]
        half = len(refused) // 2
        vector_size = int(vector_bytes(refused[0].vector) * _VECTOR_MARGIN)
        size = sum(serialized_bytes(item, vector_size, len(self.physical.encode())) for item in refused)
        with self._lock:
            self.chunk_docs = max(1, min(self.chunk_docs, half))
            self.chunk_bytes = max(1024, min(self.chunk_bytes, size // 2))
        log.info("413 from %s: splitting a chunk of %d documents; later chunks hold at most %d", self.store.engine, len(refused), self.chunk_docs)
        return self._write_chunk(refused[:half], retrier) + self._write_chunk(refused[half:], retrier)
