"""The batch indexing pipeline: read -> classify -> batch -> encode -> chunk -> write, as small generators.

Encoding of batch N+1 overlaps with the writing of batch N (one writer thread, one batch in
flight), so on CPU the writes hide behind the encoder. Whole-request faults (connection errors,
429/503 answers) are retried with capped exponential backoff; items the engine rejects with 429
are retried alone; a 413 splits the chunk; every other rejection goes to the dead-letter file
with the original document and the reason. After each acknowledged batch a checkpoint records
how far the source is safely written, so the same command resumes after a crash.
"""

from __future__ import annotations

import hashlib
import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

from .checkpoints import Checkpoint, CheckpointFile
from .dead_letter import DeadLetterFile
from .documents import Document, SourceRecord
from .encoding import Encoder
from .engines.base import DocumentStore, IndexedDoc, WriteResult, new_physical_name, validate_index_name
from .errors import (
    ConfigurationError,
    EngineUnavailable,
    ModelMismatch,
    NeuralSearchError,
    PayloadTooLarge,
    TransientEngineError,
)

log = logging.getLogger(__name__)


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


@dataclass
class IndexingSummary:
    engine: str
    index: str
    physical: str
    read: int = 0
    indexed: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0
    encode_seconds: float = 0.0
    write_seconds: float = 0.0
    retries: int = 0
    resumed_from: int = 0
    published: bool = False
    dead_letter: str | None = None
    count_in_engine: int | None = None
    messages: list[str] = field(default_factory=list)

    @property
    def docs_per_second(self) -> float:
        return self.indexed / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict:
        return {**asdict(self), "docs_per_second": round(self.docs_per_second, 2)}

    def render(self) -> str:
        lines = [
            f"{self.engine}:{self.index} ({self.physical})  read {self.read}  indexed {self.indexed}  "
            f"skipped {self.skipped}  failed {self.failed}  in {self.seconds:.1f} s  ({self.docs_per_second:.1f} docs/s)",
        ]
        if self.resumed_from:
            lines.append(f"resumed after source position {self.resumed_from}")
        if self.dead_letter and (self.failed or self.skipped):
            lines.append(f"rejected and skipped documents, with reasons: {self.dead_letter}")
        lines.extend(self.messages)
        return "\n".join(lines)


@dataclass
class _Batch:
    """Documents to write, plus what was decided about the records read while forming it."""

    last_position: int
    documents: list[Document] = field(default_factory=list)
    records: int = 0
    skipped: list[dict] = field(default_factory=list)
    unreadable: list[dict] = field(default_factory=list)


def _approx_bytes(item: IndexedDoc) -> int:
    d = item.document
    return 64 + len(d.id) + len(d.title.encode()) + len(d.text.encode()) + 24 * len(d.metadata) + 12 * item.vector.shape[0]


def chunk_by_count_and_bytes(items: Sequence[IndexedDoc], max_docs: int, max_bytes: int) -> Iterator[list[IndexedDoc]]:
    chunk: list[IndexedDoc] = []
    size = 0
    for item in items:
        item_size = _approx_bytes(item)
        if chunk and (len(chunk) >= max_docs or size + item_size > max_bytes):
            yield chunk
            chunk, size = [], 0
        chunk.append(item)
        size += item_size
    if chunk:
        yield chunk


def batches(records: Iterable[SourceRecord], batch_size: int, start_after: int = 0) -> Iterator[_Batch]:
    """Groups source records into batches of at most `batch_size` documents to encode."""
    batch = _Batch(last_position=start_after)
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
            batch = _Batch(last_position=record.position)
    if batch.records:
        yield batch


class BulkWriter:
    """Writes chunks to one physical index with retries; returns one result per document."""

    def __init__(
        self,
        store: DocumentStore,
        physical: str,
        *,
        retry: RetryPolicy,
        max_chunk_docs: int = 500,
        max_chunk_bytes: int = 8 * 1024 * 1024,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.store = store
        self.physical = physical
        self.retry = retry
        self.max_chunk_docs = max_chunk_docs
        self.max_chunk_bytes = max_chunk_bytes
        self.sleep = sleep
        self.retries = 0

    def write(self, items: Sequence[IndexedDoc]) -> list[WriteResult]:
        results: list[WriteResult] = []
        for chunk in chunk_by_count_and_bytes(items, self.max_chunk_docs, self.max_chunk_bytes):
            results.extend(self._write_chunk(chunk))
        return results

    def _send(self, chunk: list[IndexedDoc]) -> list[WriteResult]:
        """One request, retried while the engine is unreachable or refuses the whole request."""
        delays = self.retry.delays()
        while True:
            try:
                return self.store.write(self.physical, chunk)
            except (TransientEngineError, EngineUnavailable) as exc:
                delay = next(delays, None)
                if delay is None:
                    raise EngineGaveUp(
                        f"{self.store.engine} kept failing for more than the retry budget "
                        f"({self.retry.budget_seconds:.0f} s): {exc}. The checkpoint keeps the progress; "
                        "run the same command again to resume."
                    ) from exc
                self.retries += 1
                log.warning("%s write failed (%s); retrying in %.1f s", self.store.engine, exc, delay)
                self.sleep(delay)

    def _write_chunk(self, chunk: list[IndexedDoc]) -> list[WriteResult]:
        try:
            results = self._send(chunk)
        except PayloadTooLarge:
            if len(chunk) == 1:
                return [WriteResult(chunk[0].document.id, False, 413, "document is larger than the engine accepts in one request (413)")]
            half = len(chunk) // 2
            log.info("413 from %s: splitting a chunk of %d documents", self.store.engine, len(chunk))
            return self._write_chunk(chunk[:half]) + self._write_chunk(chunk[half:])
        by_id = {r.doc_id: r for r in results}
        delays = self.retry.delays()
        pending = [item for item in chunk if by_id[item.document.id].retryable]
        while pending:
            delay = next(delays, None)
            if delay is None:
                raise EngineGaveUp(
                    f"{self.store.engine} kept rejecting documents with {by_id[pending[0].document.id].status} "
                    f"for more than the retry budget ({self.retry.budget_seconds:.0f} s); the engine is overloaded. "
                    "Run the same command again later to resume."
                )
            self.retries += 1
            self.sleep(delay)
            for result in self._send(pending):
                by_id[result.doc_id] = result
            pending = [item for item in pending if by_id[item.document.id].retryable]
        return [by_id[item.document.id] for item in chunk]


def _dead_letter_entry(document: Document, result: WriteResult) -> dict:
    return {"kind": "failed", "id": document.id, "status": result.status, "reason": result.error, "document": document.to_json()}


class Indexer:
    """Indexes a stream of source records into one logical index of one engine."""

    def __init__(
        self,
        store: DocumentStore,
        encoder: Encoder,
        *,
        state_dir: str | Path,
        batch_size: int = 256,
        max_chunk_docs: int = 500,
        max_chunk_bytes: int = 8 * 1024 * 1024,
        retry: RetryPolicy | None = None,
        progress: bool = True,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if batch_size < 1 or max_chunk_docs < 1 or max_chunk_bytes < 1024:
            raise ConfigurationError("batch_size and max_chunk_docs must be >= 1, max_chunk_bytes >= 1024")
        self.store = store
        self.encoder = encoder
        self.state_dir = Path(state_dir)
        self.batch_size = batch_size
        self.max_chunk_docs = max_chunk_docs
        self.max_chunk_bytes = max_chunk_bytes
        self.retry = retry or RetryPolicy()
        self.progress = progress
        self.sleep = sleep

    def paths(self, name: str) -> tuple[Path, Path]:
        base = self.state_dir / self.store.engine
        return base / f"{name}.checkpoint.json", base / f"{name}.dead-letter.jsonl"

    def _target(self, name: str, fingerprint: dict, recreate: bool, checkpoint: Checkpoint | None) -> tuple[str, bool, str | None]:
        """(physical index to write, whether to publish it at the end, physical it replaces)."""
        if checkpoint is not None:
            if self.store.resolve(checkpoint.physical) is None:
                raise ConfigurationError(
                    f"the checkpoint names index {checkpoint.physical!r}, which no longer exists on "
                    f"{self.store.engine}; pass --restart to start over"
                )
            return checkpoint.physical, checkpoint.publish, checkpoint.previous
        current = self.store.resolve(name)
        if current is not None and not recreate:
            existing = self.store.get_fingerprint(current)
            if not existing or existing.get("id") != fingerprint["id"]:
                raise ModelMismatch(
                    name,
                    existing,
                    fingerprint,
                    "Nothing was written. Use --model with the index's model, or --recreate to rebuild the "
                    "index with this model (the old index keeps serving until the new one is complete).",
                )
            return current, False, None
        physical = new_physical_name(name)
        self.store.create_physical(physical, fingerprint=fingerprint)
        return physical, True, current

    def run(
        self,
        records: Iterable[SourceRecord],
        *,
        name: str,
        source: dict,
        recreate: bool = False,
        restart: bool = False,
    ) -> IndexingSummary:
        validate_index_name(name)
        started = time.perf_counter()
        fingerprint = self.encoder.fingerprint.to_dict()
        checkpoint_path, dead_letter_path = self.paths(name)
        checkpoints, dead_letter = CheckpointFile(checkpoint_path), DeadLetterFile(dead_letter_path)
        checkpoint = checkpoints.load()
        if checkpoint is not None and restart:
            if checkpoint.publish and self.store.resolve(checkpoint.physical):
                self.store.drop(checkpoint.physical)
            checkpoints.delete()
            checkpoint = None
        if checkpoint is not None and (checkpoint.source != source or checkpoint.model_id != fingerprint["id"]):
            raise ConfigurationError(
                f"{checkpoint_path} is from an unfinished run over another source or model "
                f"({checkpoint.source.get('path')}, model {checkpoint.model_id}); pass --restart to start over"
            )
        if checkpoint is not None and recreate and not checkpoint.publish:
            raise ConfigurationError("an unfinished run is in progress; resume it first, or pass --restart with --recreate")

        physical, publish, previous = self._target(name, fingerprint, recreate, checkpoint)
        if checkpoint is None:
            dead_letter.reset()
            checkpoint = Checkpoint(
                engine=self.store.engine, index=name, physical=physical, publish=publish, previous=previous,
                source=source, model_id=fingerprint["id"],
            )
            checkpoints.save(checkpoint)
        else:
            dead_letter.truncate(checkpoint.dead_letter_bytes)

        summary = IndexingSummary(
            engine=self.store.engine, index=name, physical=physical, read=checkpoint.read, indexed=checkpoint.indexed,
            skipped=checkpoint.skipped, failed=checkpoint.failed, resumed_from=checkpoint.position,
            dead_letter=str(dead_letter_path),
        )
        writer = BulkWriter(
            self.store, physical, retry=self.retry, max_chunk_docs=self.max_chunk_docs,
            max_chunk_bytes=self.max_chunk_bytes, sleep=self.sleep,
        )
        seen_ids: set[bytes] = set()
        previous_seconds = checkpoint.seconds
        progress = _progress(self.progress, summary)

        def finish(batch: _Batch, documents: list[Document], results: list[WriteResult]) -> None:
            entries = list(batch.unreadable) + list(batch.skipped)
            for document, result in zip(documents, results):
                if result.ok:
                    summary.indexed += 1
                    seen_ids.add(hashlib.blake2b(document.id.encode(), digest_size=8).digest())
                else:
                    summary.failed += 1
                    entries.append(_dead_letter_entry(document, result))
            summary.read += batch.records
            summary.skipped += len(batch.skipped)
            summary.failed += len(batch.unreadable)
            dead_letter.append(entries)
            checkpoint.position = batch.last_position
            checkpoint.read, checkpoint.indexed = summary.read, summary.indexed
            checkpoint.skipped, checkpoint.failed = summary.skipped, summary.failed
            checkpoint.dead_letter_bytes = dead_letter.size()
            checkpoint.seconds = previous_seconds + time.perf_counter() - started
            checkpoints.save(checkpoint)
            progress.update(batch.records)
            progress.set_postfix(indexed=summary.indexed, failed=summary.failed, skipped=summary.skipped, refresh=False)

        def write(items: list[IndexedDoc]) -> tuple[list[WriteResult], float]:
            t0 = time.perf_counter()
            results = writer.write(items)
            return results, time.perf_counter() - t0

        in_flight: tuple[_Batch, list[Document], Future] | None = None
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="neural-search-writer") as pool:
            try:
                for batch in batches(records, self.batch_size, start_after=checkpoint.position):
                    documents = batch.documents
                    t0 = time.perf_counter()
                    vectors = self.encoder.encode_documents(documents) if documents else []
                    summary.encode_seconds += time.perf_counter() - t0
                    items = [IndexedDoc(d, v) for d, v in zip(documents, vectors)]
                    if in_flight is not None:
                        self._collect(in_flight, finish, summary)
                    in_flight = (batch, documents, pool.submit(write, items))
                if in_flight is not None:
                    self._collect(in_flight, finish, summary)
                    in_flight = None
            finally:
                progress.close()
                summary.retries = writer.retries

        self.store.refresh(physical)
        summary.count_in_engine = self.store.count(physical)
        if publish:
            expected = len(seen_ids)
            if summary.resumed_from == 0 and summary.count_in_engine != expected:
                raise NeuralSearchError(
                    f"{physical} holds {summary.count_in_engine} documents but {expected} distinct ids were indexed; "
                    f"the index was not published, {name!r} still serves the previous version"
                )
            # publish() answers which physical index now holds the replaced data (for Solr's
            # core SWAP that is the name the new data was built under).
            replaced = self.store.publish(name, physical)
            summary.published = True
            summary.physical = self.store.resolve(name) or physical
            if replaced:
                self.store.drop(replaced)
                summary.messages.append(f"{name!r} now serves the new version; the previous version was removed")
        checkpoints.delete()
        summary.seconds = previous_seconds + time.perf_counter() - started
        return summary

    @staticmethod
    def _collect(in_flight, finish, summary: IndexingSummary) -> None:
        batch, documents, future = in_flight
        results, seconds = future.result()
        summary.write_seconds += seconds
        finish(batch, documents, results)


class _NoProgress:
    def update(self, n: int) -> None: ...
    def set_postfix(self, **kwargs) -> None: ...
    def close(self) -> None: ...


def _progress(enabled: bool, summary: IndexingSummary):
    if not enabled:
        return _NoProgress()
    from tqdm import tqdm

    return tqdm(unit="docs", desc=f"{summary.engine}:{summary.index}", initial=summary.read, dynamic_ncols=True)
