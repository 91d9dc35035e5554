"""The bulk pipeline as a chain of small generators, each yielding to the next:

    batches(records)  ->  encoded(...)  ->  written(...)  ->  one BatchOutcome per batch

`batches` groups source records (and sets aside the unreadable and the empty ones), `encoded`
gives each document its vector, `written` writes each batch through a BulkWriter on one writer
thread while the next batch is encoded. A BulkWriter cuts a batch into chunks and yields one
ItemResult per document, as elasticsearch-py's streaming_bulk does: only what the engine rejected
with a transient status is sent again, and a rejection keeps the document it was for.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator, Sequence

from .documents import Document, SourceRecord
from .engines.base import DocumentStore, IndexedDoc, WriteResult
from .errors import PayloadTooLarge, TransientEngineError
from .retries import Retrier, RetryPolicy

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

    def indexed_ids(self) -> Iterator[str]:
        return (r.item.document.id for r in self.items if r.ok)

    def dead_letters(self) -> list[dict]:
        """One entry per record of the batch that was not indexed, in the dead-letter file's order."""
        return [*self.batch.unreadable, *self.batch.skipped, *(r.dead_letter() for r in self.items if not r.ok)]


# -- the chain --------------------------------------------------------------------------------------


def batches(records: Iterable[SourceRecord], batch_size: int, start_after: int = 0) -> Iterator[Batch]:
    """Groups source records into batches of at most `batch_size` documents to encode."""
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
                {"kind": "skipped", "location": record.location, "position": record.position, "id": record.document.id, "reason": "empty title and text"}
            )
        else:
            batch.documents.append(record.document)
        if len(batch.documents) >= batch_size:
            yield batch
            batch = Batch(last_position=record.position)
    if batch.records:
        yield batch


def encoded(source: Iterable[Batch], encoder) -> Iterator[tuple[Batch, list[IndexedDoc], float]]:
    """Each batch with its documents' vectors, and the seconds the encoding took."""
    for batch in source:
        t0 = time.perf_counter()
        vectors = encoder.encode_documents(batch.documents) if batch.documents else []
        yield batch, [IndexedDoc(d, v) for d, v in zip(batch.documents, vectors)], time.perf_counter() - t0


def written(source: Iterable[tuple[Batch, list[IndexedDoc], float]], writer: BulkWriter, pool: Executor) -> Iterator[BatchOutcome]:
    """Each batch written on `pool` (one writer thread) while the next one is encoded. A batch
    is handed to the writer only once the outcome before it has been consumed (its checkpoint
    saved), so at most one batch is ever unacknowledged."""
    in_flight: Future | None = None
    for batch, items, encode_seconds in source:
        if in_flight is not None:
            yield in_flight.result()
        in_flight = pool.submit(_write_batch, writer, batch, items, encode_seconds)
    if in_flight is not None:
        yield in_flight.result()


def _write_batch(writer: BulkWriter, batch: Batch, items: list[IndexedDoc], encode_seconds: float) -> BatchOutcome:
    t0 = time.perf_counter()
    results = list(writer.stream(items))
    return BatchOutcome(batch, results, encode_seconds, time.perf_counter() - t0)


# -- chunks and the writer ----------------------------------------------------------------------------


def _approx_bytes(item: IndexedDoc) -> int:
    d = item.document
    return 64 + len(d.id) + len(d.title.encode()) + len(d.text.encode()) + 24 * len(d.metadata) + 12 * item.vector.shape[0]


def chunk_by_count_and_bytes(items: Sequence[IndexedDoc], max_docs: int, max_bytes: int) -> Iterator[list[IndexedDoc]]:
    return _chunked(items, lambda: (max_docs, max_bytes))


def _chunked(items: Iterable[IndexedDoc], limits: Callable[[], tuple[int, int]]) -> Iterator[list[IndexedDoc]]:
    """Chunks of at most (docs, bytes) = limits(), read again for every item, so a limit lowered
    while chunks are being written (after a 413) applies to the very next chunk."""
    chunk: list[IndexedDoc] = []
    size = 0
    for item in items:
        item_size = _approx_bytes(item)
        max_docs, max_bytes = limits()
        if chunk and (len(chunk) >= max_docs or size + item_size > max_bytes):
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += item_size
    if chunk:
        yield chunk


class BulkWriter:
    """Writes chunks to one physical index; yields one ItemResult per document.

    Faults are ridden out within `retry.budget_seconds` per chunk (retries.Retrier). Backpressure
    (429, whole request or single items) also paces the chunks that follow: a pause before each
    request that doubles while the engine keeps pushing back and halves while it accepts. A 413
    splits what was being sent and lowers the chunk limits for every later chunk, so one 413 is
    not paid again on each chunk.
    """

    def __init__(
        self,
        store: DocumentStore,
        physical: str,
        *,
        retry: RetryPolicy,
        max_chunk_docs: int = 500,
        max_chunk_bytes: int = 8 * 1024 * 1024,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.store = store
        self.physical = physical
        self.retry = retry
        self.retrier = Retrier(store.engine, retry, sleep=sleep, clock=clock)
        self.sleep = sleep
        # Limits in force now: lowered by 413 answers, never raised again within one run.
        self.chunk_docs = max_chunk_docs
        self.chunk_bytes = max_chunk_bytes
        self.too_large = 0
        self.pause = 0.0

    @property
    def retries(self) -> int:
        return self.retrier.retries

    @property
    def pushed_back(self) -> int:
        return self.retrier.pushed_back

    def stream(self, items: Iterable[IndexedDoc]) -> Iterator[ItemResult]:
        for chunk in _chunked(items, lambda: (self.chunk_docs, self.chunk_bytes)):
            if self.pause > 0:
                self.sleep(self.pause)
            pushed_back = self.retrier.pushed_back
            yield from self._write_chunk(chunk)
            self._pace(self.retrier.pushed_back > pushed_back)

    def write(self, items: Sequence[IndexedDoc]) -> list[WriteResult]:
        return [r.result for r in self.stream(items)]

    def _pace(self, pushed_back: bool) -> None:
        if pushed_back:
            self.pause = min(self.retry.max_backoff, max(self.retry.initial_backoff, self.pause * 2))
        elif self.pause:
            self.pause = self.pause / 2 if self.pause / 2 >= self.retry.initial_backoff / 4 else 0.0

    def _write_chunk(self, chunk: list[IndexedDoc]) -> list[ItemResult]:
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
            self.retrier.call(f"write {len(chunk)} documents to {self.physical!r}", attempt)
        except PayloadTooLarge:
            for result in self._split(pending):
                answers[result.item.document.id] = result.result
        return [ItemResult(item, answers[item.document.id]) for item in chunk]

    def _split(self, refused: list[IndexedDoc]) -> list[ItemResult]:
        self.too_large += 1
        if len(refused) == 1:
            return [ItemResult(refused[0], WriteResult(refused[0].document.id, False, 413, "document is larger than the engine accepts in one request (413)"))]
        half = len(refused) // 2
        size = sum(_approx_bytes(item) for item in refused)
        self.chunk_docs = max(1, min(self.chunk_docs, half))
        self.chunk_bytes = max(1024, min(self.chunk_bytes, size // 2))
        log.info("413 from %s: splitting a chunk of %d documents; later chunks hold at most %d", self.store.engine, len(refused), self.chunk_docs)
        return self._write_chunk(refused[:half]) + self._write_chunk(refused[half:])
