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
    return _chunked(items, lambda: (max_docs, max_bytes))


def _chunked(items: Sequence[IndexedDoc], limits: Callable[[], tuple[int, int]]) -> Iterator[list[IndexedDoc]]:
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
    """Writes chunks to one physical index with retries; returns one result per document.

    Faults are ridden out within `retry.budget_seconds` of wall-clock time per request (the
    backoff sleeps and the failed attempts both count). Backpressure (429, whole request or single
    items) also paces the chunks that follow: a pause before each request that doubles while the
    engine keeps pushing back and halves while it accepts. A 413 splits the chunk at hand and
    lowers the chunk limits for every later chunk, so one 413 is not paid again on each chunk.
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
        self.max_chunk_docs = max_chunk_docs
        self.max_chunk_bytes = max_chunk_bytes
        self.sleep = sleep
        self.clock = clock
        self.retries = 0
        # Limits in force now: lowered by 413 answers, never raised again within one run.
        self.chunk_docs = max_chunk_docs
        self.chunk_bytes = max_chunk_bytes
        self.too_large = 0
        self.pushed_back = 0
        self.pause = 0.0
        self._pushback_seen = False

    def _chunks(self, items: Sequence[IndexedDoc]) -> Iterator[list[IndexedDoc]]:
        return _chunked(items, lambda: (self.chunk_docs, self.chunk_bytes))

    def write(self, items: Sequence[IndexedDoc]) -> list[WriteResult]:
        results: list[WriteResult] = []
        for chunk in self._chunks(items):
            if self.pause > 0:
                self.sleep(self.pause)
            self._pushback_seen = False
            results.extend(self._write_chunk(chunk))
            self._pace()
        return results

    def _pace(self) -> None:
        if self._pushback_seen:
            self.pause = min(self.retry.max_backoff, max(self.retry.initial_backoff, self.pause * 2))
        elif self.pause:
            self.pause = self.pause / 2 if self.pause / 2 >= self.retry.initial_backoff / 4 else 0.0

    def _next_delay(self, delays: Iterator[float], first_failure: float) -> float | None:
        delay = next(delays, None)
        if delay is None or self.clock() - first_failure + delay > self.retry.budget_seconds:
            return None
        return delay

    def _send(self, chunk: list[IndexedDoc]) -> list[WriteResult]:
        """One request, retried while the engine is unreachable or refuses the whole request."""
        delays = self.retry.delays()
        first_failure: float | None = None
        while True:
            try:
                return self.store.write(self.physical, chunk)
            except (TransientEngineError, EngineUnavailable) as exc:
                if _is_auth_failure(exc):
                    raise
                if first_failure is None:
                    first_failure = self.clock()
                if getattr(exc, "status", None) == 429:
                    self._pushback_seen = True
                    self.pushed_back += 1
                delay = self._next_delay(delays, first_failure)
                if delay is None:
                    raise EngineGaveUp(
                        f"{self.store.engine} kept failing for more than the retry budget "
                        f"({self.retry.budget_seconds:g} s): {exc}. The checkpoint keeps the progress; "
                        "run the same command again to resume."
                    ) from exc
                self.retries += 1
                log.warning("%s write failed (%s); retrying in %.1f s", self.store.engine, exc, delay)
                self.sleep(delay)

    def _write_chunk(self, chunk: list[IndexedDoc]) -> list[WriteResult]:
        try:
            results = self._send(chunk)
        except PayloadTooLarge:
            self.too_large += 1
            if len(chunk) == 1:
                return [WriteResult(chunk[0].document.id, False, 413, "document is larger than the engine accepts in one request (413)")]
            half = len(chunk) // 2
            size = sum(_approx_bytes(item) for item in chunk)
            self.chunk_docs = max(1, min(self.chunk_docs, half))
            self.chunk_bytes = max(1024, min(self.chunk_bytes, size // 2))
            log.info("413 from %s: splitting a chunk of %d documents; later chunks hold at most %d", self.store.engine, len(chunk), self.chunk_docs)
            return self._write_chunk(chunk[:half]) + self._write_chunk(chunk[half:])
        by_id = {r.doc_id: r for r in results}
        delays = self.retry.delays()
        first_failure = self.clock()
        pending = [item for item in chunk if by_id[item.document.id].retryable]
        while pending:
            if any(by_id[item.document.id].status == 429 for item in pending):
                self._pushback_seen = True
                self.pushed_back += 1
            delay = self._next_delay(delays, first_failure)
            if delay is None:
                raise EngineGaveUp(
                    f"{self.store.engine} kept rejecting documents with {by_id[pending[0].document.id].status} "
                    f"for more than the retry budget ({self.retry.budget_seconds:g} s); the engine is overloaded. "
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


def _is_auth_failure(exc: BaseException) -> bool:
    """401/403: retrying cannot help, the credentials must change."""
    if getattr(exc, "status", None) in (401, 403):
        return True
    text = str(exc).lower()
    return "authentication failed" in text or "(401)" in text or "(403)" in text


class _RetryingStore:
    """The management calls of a run (resolve, create, refresh, count, publish, drop) retried like
    the writes, so an engine restart during the set-up or the final publish is ridden out too.
    The two calls that are not naturally idempotent check, before each retry, whether the failed
    attempt was applied after all (the index exists; the name already points at the index)."""

    def __init__(self, store: DocumentStore, retry: RetryPolicy, sleep: Callable[[float], None], clock: Callable[[], float] = time.monotonic):
        self.store = store
        self.engine = store.engine
        self.retry = retry
        self.sleep = sleep
        self.clock = clock
        self.retries = 0

    def _call(self, what: str, fn: Callable, *args, applied: Callable[[], tuple[bool, object]] | None = None, **kwargs):
        delays = self.retry.delays()
        first_failure: float | None = None
        while True:
            try:
                if first_failure is not None and applied is not None:
                    done, value = applied()
                    if done:
                        return value
                return fn(*args, **kwargs)
            except (TransientEngineError, EngineUnavailable) as exc:
                if _is_auth_failure(exc):
                    raise
                if first_failure is None:
                    first_failure = self.clock()
                delay = next(delays, None)
                if delay is None or self.clock() - first_failure + delay > self.retry.budget_seconds:
                    raise EngineGaveUp(
                        f"{self.engine} kept failing for more than the retry budget ({self.retry.budget_seconds:g} s) "
                        f"while trying to {what}: {exc}. The checkpoint keeps the progress; run the same command again to resume."
                    ) from exc
                self.retries += 1
                log.warning("%s: %s failed (%s); retrying in %.1f s", self.engine, what, exc, delay)
                self.sleep(delay)

    def resolve(self, name: str) -> str | None:
        return self._call(f"look up {name!r}", self.store.resolve, name)

    def get_fingerprint(self, physical: str) -> dict | None:
        return self._call(f"read the model fingerprint of {physical!r}", self.store.get_fingerprint, physical)

    def create_physical(self, physical: str, *, fingerprint: dict) -> None:
        try:
            return self._call(
                f"create {physical!r}", self.store.create_physical, physical, fingerprint=fingerprint,
                applied=lambda: (self.store.resolve(physical) is not None, None),
            )
        except EngineGaveUp:
            raise
        except Exception as exc:
            if _is_auth_failure(exc):
                raise
            # A create whose answer was lost, resent by the client library itself, comes back as
            # "already exists". Physical names are unique to this run: if it exists with this
            # model's fingerprint, it is ours (an engine may need a moment to list a new index).
            for _ in range(10):
                if self.resolve(physical) is not None:
                    existing = self.get_fingerprint(physical)
                    if existing and existing.get("id") == fingerprint.get("id"):
                        return None
                    break
                self.sleep(0.2)
            raise

    def _published(self, name: str, physical: str) -> bool:
        serving = self.store.resolve(name)
        if serving == physical:
            return True  # alias engines: the name points at the new index
        # Solr's RENAME (the name did not exist before): the new core now has the name.
        return serving is not None and self.store.resolve(physical) is None

    def publish(self, name: str, physical: str) -> str | None:
        # A publish whose answer was lost is recognised before it is sent again. (Solr's core SWAP
        # cannot be recognised from here; SolrStore.publish must be idempotent itself.)
        return self._call(
            f"switch {name!r} to {physical!r}", self.store.publish, name, physical,
            applied=lambda: (self._published(name, physical), None),
        )

    def drop(self, physical: str) -> None:
        return self._call(f"drop {physical!r}", self.store.drop, physical)

    def refresh(self, physical: str) -> None:
        return self._call(f"refresh {physical!r}", self.store.refresh, physical)

    def count(self, physical: str) -> int:
        return self._call(f"count {physical!r}", self.store.count, physical)


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

    def _target(self, engine: _RetryingStore, name: str, current: str | None, fingerprint: dict, recreate: bool) -> tuple[str, bool, str | None, bool]:
        """(physical index to write, whether to publish it at the end, physical it replaces,
        whether it must be created). Creating is left to the caller, after the checkpoint that
        names the new index is on disk: a run killed in between then finds and reuses it."""
        if current is not None and not recreate:
            existing = engine.get_fingerprint(current)
            if not existing or existing.get("id") != fingerprint["id"]:
                raise ModelMismatch(
                    name,
                    existing,
                    fingerprint,
                    "Nothing was written. Use --model with the index's model, or --recreate to rebuild the "
                    "index with this model (the old index keeps serving until the new one is complete).",
                )
            return current, False, None, False
        return new_physical_name(name), True, current, True

    def _lock(self, name: str):
        """An exclusive lock on this engine + index name in the state directory, held for the run.
        The kernel drops it when the process dies, so a crashed run never leaves a stale lock."""
        path = self.state_dir / self.store.engine / f"{name}.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+")
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no locking
            return handle
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise ConfigurationError(
                f"another neural-search run is indexing {name!r} into {self.store.engine} with the state directory "
                f"{self.state_dir} right now; wait for it to finish (or stop it) and run this command again"
            ) from None
        return handle

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
        lock = self._lock(name)
        try:
            return self._run(records, name=name, source=source, recreate=recreate, restart=restart)
        finally:
            lock.close()

    def _run(self, records: Iterable[SourceRecord], *, name: str, source: dict, recreate: bool, restart: bool) -> IndexingSummary:
        started = time.perf_counter()
        fingerprint = self.encoder.fingerprint.to_dict()
        checkpoint_path, dead_letter_path = self.paths(name)
        checkpoints, dead_letter = CheckpointFile(checkpoint_path), DeadLetterFile(dead_letter_path)
        try:
            checkpoint = checkpoints.load()
        except ConfigurationError:
            if not restart:
                raise
            log.warning("ignoring the unreadable checkpoint %s (--restart)", checkpoint_path)
            checkpoints.delete()
            checkpoint = None
        # The first contact with the engine is not retried: an engine that is not there at all
        # (or refuses the credentials) is reported at once. From here on, faults are ridden out.
        current = self.store.resolve(name)
        engine = _RetryingStore(self.store, self.retry, self.sleep)
        if checkpoint is not None and restart:
            # Drop the unfinished index, unless the run got as far as publishing it (then the
            # name serves it now and it is no longer ours to drop).
            if checkpoint.publish and current != checkpoint.physical and engine.resolve(checkpoint.physical):
                engine.drop(checkpoint.physical)
            checkpoints.delete()
            checkpoint = None
        if checkpoint is not None and (checkpoint.source != source or checkpoint.model_id != fingerprint["id"]):
            raise ConfigurationError(
                f"{checkpoint_path} is from an unfinished run over another source or model "
                f"({checkpoint.source.get('path')}, model {checkpoint.model_id}); pass --restart to start over"
            )
        if checkpoint is not None and recreate and not checkpoint.publish:
            raise ConfigurationError("an unfinished run is in progress; resume it first, or pass --restart with --recreate")

        if checkpoint is None:
            physical, publish, previous, create = self._target(engine, name, current, fingerprint, recreate)
            dead_letter.reset()
            checkpoint = Checkpoint(
                engine=self.store.engine, index=name, physical=physical, publish=publish, previous=previous,
                source=source, model_id=fingerprint["id"],
            )
            checkpoints.save(checkpoint)
        else:
            physical, publish, previous = checkpoint.physical, checkpoint.publish, checkpoint.previous
            create = False
            if engine.resolve(physical) is None:
                if checkpoint.extra.get("phase") == "publishing" and current is not None:
                    # Killed after the index was published under its name (Solr renames the core).
                    return self._finish_publishing(engine, checkpoint, checkpoints, dead_letter_path, started)
                if not (checkpoint.publish and checkpoint.position == 0):
                    raise ConfigurationError(
                        f"the checkpoint names index {physical!r}, which no longer exists on "
                        f"{self.store.engine}; pass --restart to start over"
                    )
                create = True  # killed between saving the first checkpoint and creating the index
            dead_letter.truncate(checkpoint.dead_letter_bytes)
        if create:
            engine.create_physical(physical, fingerprint=fingerprint)

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
            # Dead letters first, then the checkpoint that covers them: a crash in between
            # leaves entries past the checkpoint's offset, which the resumed run cuts off.
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
                summary.retries = writer.retries + engine.retries
        if writer.too_large:
            summary.messages.append(
                f"{self.store.engine} refused {writer.too_large} request(s) as too large (413); "
                f"bulk requests were shrunk to at most {writer.chunk_docs} documents"
            )
        if writer.pushed_back:
            summary.messages.append(f"{self.store.engine} pushed back (429) {writer.pushed_back} time(s); writes were slowed down")

        engine.refresh(physical)
        summary.count_in_engine = engine.count(physical)
        if publish:
            expected = len(seen_ids)
            if summary.resumed_from == 0 and summary.count_in_engine != expected:
                raise NeuralSearchError(
                    f"{physical} holds {summary.count_in_engine} documents but {expected} distinct ids were indexed; "
                    f"the index was not published, {name!r} still serves the previous version"
                )
            serving = engine.resolve(name)
            if checkpoint.extra.get("phase") == "publishing" and serving == physical:
                # Killed after the name was switched (alias engines): only the clean-up is left.
                replaced = None
            else:
                checkpoint.extra.update(phase="publishing", replacing=serving)
                checkpoints.save(checkpoint)
                # publish() answers which physical index now holds the replaced data (for Solr's
                # core SWAP that is the name the new data was built under).
                replaced = engine.publish(name, physical)
            if replaced is None:
                # The answer was lost (a retried or resumed publish): the version recorded before.
                before = checkpoint.extra.get("replacing")
                replaced = before if before not in (None, name, physical) else None
            summary.published = True
            summary.physical = engine.resolve(name) or physical
            if replaced and engine.resolve(replaced) is not None:
                engine.drop(replaced)
                summary.messages.append(f"{name!r} now serves the new version; the previous version was removed")
        summary.retries = writer.retries + engine.retries
        checkpoints.delete()
        summary.seconds = previous_seconds + time.perf_counter() - started
        return summary

    def _finish_publishing(
        self, engine: _RetryingStore, checkpoint: Checkpoint, checkpoints: CheckpointFile, dead_letter_path: Path, started: float
    ) -> IndexingSummary:
        """The resumed run of one that was killed after its index was published under the name."""
        name = checkpoint.index
        summary = IndexingSummary(
            engine=self.store.engine, index=name, physical=engine.resolve(name) or name, read=checkpoint.read,
            indexed=checkpoint.indexed, skipped=checkpoint.skipped, failed=checkpoint.failed,
            resumed_from=checkpoint.position, published=True, dead_letter=str(dead_letter_path),
        )
        engine.refresh(summary.physical)
        summary.count_in_engine = engine.count(summary.physical)
        checkpoints.delete()
        summary.seconds = checkpoint.seconds + time.perf_counter() - started
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
