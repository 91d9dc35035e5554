"""Batch indexing: the bulk chain (bulk.py) from a checkpoint to a published index.

Encoding of the next batch overlaps with the writing of the batches before it (`parallel_bulk`
writer threads and bulk requests in flight, acknowledged in source order), so on CPU the writes
hide behind the encoder, and with a fast encoder they run near the engine's own bulk ceiling. Whole-request faults (connection errors,
transient statuses) are retried with capped exponential backoff (retries.py); documents the
engine rejects with a transient status are retried alone; a 413 splits the chunk; every other
rejection goes to the dead-letter file with the original document and the reason. After each
acknowledged batch a checkpoint records how far the source is safely written, and the counts, so
the same command resumes after a crash.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from .bulk import SKIP_CAUSES, Batch, BatchOutcome, BulkWriter, DistinctIds, batches, chunk_by_count_and_bytes, encoded, written
from .checkpoints import Checkpoint, CheckpointFile
from .dead_letter import DeadLetterFile
from .documents import SourceRecord
from .encoding import Encoder, same_model
from .engines.base import DocumentStore, IndexLayout, IndexOptions, new_physical_name, validate_index_name
from .errors import ConfigurationError, IndexOptionsMismatch, ModelMismatch, NeuralSearchError
from .retries import EngineGaveUp, Retrier, RetryingStore, RetryPolicy

log = logging.getLogger(__name__)

__all__ = [
    "Batch", "BatchOutcome", "BulkWriter", "EngineGaveUp", "Indexer", "IndexingSummary", "RetryPolicy", "batches",
    "chunk_by_count_and_bytes",
]


@dataclass
class IndexingSummary:
    engine: str
    index: str
    physical: str
    read: int = 0
    indexed: int = 0
    skipped: int = 0
    failed: int = 0
    skipped_by_cause: dict = field(default_factory=dict)  # bulk.SKIP_CAUSES key -> count
    seconds: float = 0.0
    encode_seconds: float = 0.0
    write_seconds: float = 0.0
    retries: int = 0
    resumed_from: int = 0
    published: bool = False
    dead_letter: str | None = None
    count_in_engine: int | None = None
    layout: dict | None = None  # {"shards", "replicas"} of the index written, as the engine reports it
    options: dict | None = None  # IndexOptions of the index written (analyzer), from its stamp
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
        if self.layout and (self.layout["shards"] > 1 or self.layout["replicas"]):
            lines.append(f"{self.layout['shards']} shard(s), {self.layout['replicas']} replica(s) each")
        if self.options:
            lines.append(f"text analysis: {self.options['analyzer']}")
        if self.skipped_by_cause:
            lines.append("skipped: " + ", ".join(f"{n} {SKIP_CAUSES.get(c, c)}" for c, n in sorted(self.skipped_by_cause.items())))
        if self.resumed_from:
            lines.append(f"resumed after source position {self.resumed_from}")
        if self.dead_letter and (self.failed or self.skipped):
            lines.append(f"rejected and skipped documents, with reasons: {self.dead_letter}")
        lines.extend(self.messages)
        return "\n".join(lines)


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
        layout: IndexLayout | None = None,
        options: IndexOptions | None = None,
        parallel_bulk: int = 1,
        min_tokens: int = 0,
        progress: bool = True,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if batch_size < 1 or max_chunk_docs < 1 or max_chunk_bytes < 1024:
            raise ConfigurationError("batch_size and max_chunk_docs must be >= 1, max_chunk_bytes >= 1024")
        if parallel_bulk < 1 or min_tokens < 0:
            raise ConfigurationError(f"--parallel-bulk must be >= 1 (got {parallel_bulk}) and --min-tokens >= 0 (got {min_tokens})")
        # Bulk requests in flight at once (bulk.BulkWriter lowers it while the engine answers 429).
        self.parallel_bulk = parallel_bulk
        self.min_tokens = min_tokens
        self.store = store
        self.encoder = encoder
        self.state_dir = Path(state_dir)
        self.batch_size = batch_size
        self.max_chunk_docs = max_chunk_docs
        self.max_chunk_bytes = max_chunk_bytes
        self.retry = retry or RetryPolicy()
        if layout is not None and not isinstance(layout, IndexLayout):
            raise ConfigurationError("layout must be an IndexLayout(shards=..., replicas=...)")
        # None: the store's default_layout, for new indexes; given: also checked against an existing one.
        self.layout = layout
        if options is not None and not isinstance(options, IndexOptions):
            raise ConfigurationError("options must be an IndexOptions(analyzer=...)")
        # Likewise: None, the store's default_options; given, checked against an existing index.
        self.options = options
        self.progress = progress
        self.sleep = sleep

    def paths(self, name: str) -> tuple[Path, Path]:
        base = self.state_dir / self.store.engine
        return base / f"{name}.checkpoint.json", base / f"{name}.dead-letter.jsonl"

    def _target(self, engine: RetryingStore, name: str, current: str | None, fingerprint: dict, recreate: bool) -> tuple[str, bool, str | None, bool]:
        """(physical index to write, whether to publish it at the end, physical it replaces,
        whether it must be created). Creating is left to the caller, after the checkpoint that
        names the new index is on disk: a run killed in between then finds and reuses it."""
        if current is not None and not recreate:
            existing = engine.get_fingerprint(current)
            if not same_model(existing, fingerprint["id"]):
                raise ModelMismatch(
                    name,
                    existing,
                    fingerprint,
                    "Nothing was written. Use --model with the index's model, or --recreate to rebuild the "
                    "index with this model (the old index keeps serving until the new one is complete).",
                )
            if self.layout is not None:
                self._check_layout(engine, name, current)
            if self.options is not None:
                self._check_options(engine, name, current)
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

    def _load(self, checkpoints: CheckpointFile, restart: bool) -> Checkpoint | None:
        try:
            return checkpoints.load()
        except ConfigurationError:
            if not restart:
                raise
            log.warning("ignoring the unreadable checkpoint %s (--restart)", checkpoints.path)
            checkpoints.delete()
            return None

    def _summary(self, checkpoint: Checkpoint, physical: str, dead_letter: Path, **run) -> IndexingSummary:
        return IndexingSummary(
            engine=self.store.engine, index=checkpoint.index, physical=physical, **checkpoint.counts(), dead_letter=str(dead_letter),
            skipped_by_cause=dict(checkpoint.skipped_by_cause), **run
        )

    def _run(self, records: Iterable[SourceRecord], *, name: str, source: dict, recreate: bool, restart: bool) -> IndexingSummary:
        started = time.perf_counter()
        fingerprint = self.encoder.fingerprint.to_dict()
        checkpoint_path, dead_letter_path = self.paths(name)
        checkpoints, dead_letter = CheckpointFile(checkpoint_path), DeadLetterFile(dead_letter_path)
        checkpoint = self._load(checkpoints, restart)
        # The first contact with the engine is not retried: an engine that is not there at all
        # (or refuses the credentials) is reported at once. From here on, faults are ridden out.
        current = self.store.resolve(name)
        engine = RetryingStore(self.store, Retrier(self.store.engine, self.retry, sleep=self.sleep))
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
            physical, publish = checkpoint.physical, checkpoint.publish
            create = False
            if engine.resolve(physical) is None:
                if checkpoint.extra.get("phase") == "publishing" and engine.serves(name, physical):
                    # Killed after the engine moved the data under the name (a core rename).
                    return self._finish_publishing(engine, checkpoint, checkpoints, dead_letter_path, started)
                if not (checkpoint.publish and checkpoint.position == 0):
                    raise ConfigurationError(
                        f"the checkpoint names index {physical!r}, which no longer exists on "
                        f"{self.store.engine}; pass --restart to start over"
                    )
                create = True  # killed between saving the first checkpoint and creating the index
            dead_letter.truncate(checkpoint.dead_letter_bytes)
        if create:
            engine.create_physical(physical, fingerprint=fingerprint, layout=self.layout, options=self.options)

        resumed_from, previous_seconds = checkpoint.position, checkpoint.seconds
        writer = BulkWriter(
            self.store, physical, retry=self.retry, max_chunk_docs=self.max_chunk_docs,
            max_chunk_bytes=self.max_chunk_bytes, parallel=self.parallel_bulk, sleep=self.sleep,
        )
        seen_ids = DistinctIds()
        timings = {"encode_seconds": 0.0, "write_seconds": 0.0}
        progress = _progress(self.progress, f"{self.store.engine}:{name}", checkpoint.read, records)
        with ThreadPoolExecutor(max_workers=self.parallel_bulk, thread_name_prefix="neural-search-writer") as pool:
            try:
                chain = written(
                    encoded(batches(records, self.batch_size, start_after=checkpoint.position, min_tokens=self.min_tokens), self.encoder),
                    writer, pool, in_flight=self.parallel_bulk,
                )
                for outcome in chain:
                    seen_ids.update(outcome.indexed_ids())
                    timings["encode_seconds"] += outcome.encode_seconds
                    timings["write_seconds"] += outcome.write_seconds
                    self._record(outcome, checkpoint, checkpoints, dead_letter, previous_seconds + time.perf_counter() - started)
                    progress.update(outcome.batch.records)
                    progress.set_postfix(indexed=checkpoint.indexed, failed=checkpoint.failed, skipped=checkpoint.skipped, refresh=False)
            finally:
                progress.close()
        summary = self._summary(checkpoint, physical, dead_letter_path, resumed_from=resumed_from, **timings)
        if writer.too_large:
            summary.messages.append(
                f"{self.store.engine} refused {writer.too_large} request(s) as too large (413); "
                f"bulk requests were shrunk to at most {writer.chunk_docs} documents"
            )
        if writer.pushed_back:
            summary.messages.append(f"{self.store.engine} pushed back (429) {writer.pushed_back} time(s); writes were slowed down")
        if writer.lowest_in_flight_limit < writer.parallel:
            summary.messages.append(
                f"bulk requests in flight were lowered from {writer.parallel} to {writer.lowest_in_flight_limit} while {self.store.engine} pushed back"
            )

        engine.refresh(physical)
        summary.count_in_engine = engine.count(physical)
        summary.layout = engine.layout(physical).to_dict()
        summary.options = engine.index_options(physical).to_dict()
        if publish:
            expected = len(seen_ids)
            if resumed_from == 0 and summary.count_in_engine != expected:
                raise NeuralSearchError(
                    f"{physical} holds {summary.count_in_engine} documents but {expected} distinct ids were indexed; "
                    f"the index was not published, {name!r} still serves the previous version"
                )
            self._publish(engine, checkpoint, checkpoints, summary)
        summary.retries = writer.retries + engine.retries
        checkpoints.delete()
        summary.seconds = previous_seconds + time.perf_counter() - started
        return summary

    def _check_layout(self, engine: RetryingStore, name: str, physical: str) -> None:
        """A layout asked for on a run that adds to an existing index must be that index's: shards
        are fixed when an index is made, and a run that says --shards 4 should not quietly write 1."""
        have = engine.layout(physical)
        if not self.layout.fits(have):
            raise ConfigurationError(
                f"{name!r} ({physical}) has {have.shards} shard(s) and {have.replicas} replica(s), not the "
                f"{self.layout.shards} shard(s)/{self.layout.replicas if self.layout.replicas is not None else 'default'} replica(s) asked for. "
                f"Nothing was written. Pass --recreate to build a new version with that layout (the old one keeps serving until it is complete)."
            )

    def _check_options(self, engine: RetryingStore, name: str, physical: str) -> None:
        differences = self.options.differences(engine.index_options(physical), engine.engine)
        if differences:
            raise IndexOptionsMismatch(
                f"{name} ({physical})", differences,
                "Nothing was written. Pass --recreate to build a new version with these options (the old one keeps serving "
                "until it is complete), or leave the options out to add to the index as it is.",
            )

    @staticmethod
    def _record(outcome: BatchOutcome, checkpoint: Checkpoint, checkpoints: CheckpointFile, dead_letter: DeadLetterFile, seconds: float) -> None:
        """One written batch into the dead-letter file, then into the checkpoint that covers it:
        a crash in between leaves entries past the checkpoint's offset, which a resumed run cuts off."""
        dead_letter.append(outcome.dead_letters())
        checkpoint.advance(
            outcome.batch.last_position, read=outcome.batch.records, indexed=outcome.indexed, skipped=outcome.skipped, failed=outcome.failed,
            skipped_by_cause=outcome.skipped_by_cause(),
        )
        checkpoint.dead_letter_bytes = dead_letter.size()
        checkpoint.seconds = seconds
        checkpoints.save(checkpoint)

    @staticmethod
    def _publish(engine: RetryingStore, checkpoint: Checkpoint, checkpoints: CheckpointFile, summary: IndexingSummary) -> None:
        """Switches the name to the new version and drops the version it replaces. What the name
        served is recorded first, once: publish() is idempotent, and where its answer is lost (a
        retried or resumed publish) the recorded version is the one to drop."""
        name, physical = checkpoint.index, checkpoint.physical
        if checkpoint.extra.get("phase") != "publishing":
            checkpoint.extra.update(phase="publishing", replacing=engine.resolve(name))
            checkpoints.save(checkpoint)
        replaced = engine.publish(name, physical)
        if replaced is None:
            before = checkpoint.extra.get("replacing")
            replaced = before if before not in (None, name, physical) else None
        summary.published = True
        summary.physical = engine.resolve(name) or physical
        if replaced and engine.resolve(replaced) is not None:
            engine.drop(replaced)
            summary.messages.append(f"{name!r} now serves the new version; the previous version was removed")

    def _finish_publishing(
        self, engine: RetryingStore, checkpoint: Checkpoint, checkpoints: CheckpointFile, dead_letter_path: Path, started: float
    ) -> IndexingSummary:
        """The resumed run of one that was killed after its index was published under the name."""
        summary = self._summary(
            checkpoint, engine.resolve(checkpoint.index) or checkpoint.index, dead_letter_path, resumed_from=checkpoint.position,
            published=True,
        )
        engine.refresh(summary.physical)
        summary.count_in_engine = engine.count(summary.physical)
        checkpoints.delete()
        summary.seconds = checkpoint.seconds + time.perf_counter() - started
        return summary


class _NoProgress:
    def update(self, n: int) -> None: ...
    def set_postfix(self, **kwargs) -> None: ...
    def close(self) -> None: ...


def _progress(enabled: bool, description: str, initial: int, records=None):
    if not enabled:
        return _NoProgress()
    from tqdm import tqdm

    # A source that knows its size in bytes (sources.SourceReader: compressed bytes for .bz2/.gz)
    # gets a bar with an ETA; any other iterable, a count of documents.
    if getattr(records, "total_bytes", None):
        return _BytesProgress(tqdm(unit="B", unit_scale=True, total=records.total_bytes, desc=description, dynamic_ncols=True), records)
    return tqdm(unit="docs", desc=description, initial=initial, dynamic_ncols=True)


class _BytesProgress:
    """A tqdm bar over the source's bytes, moved to the reader's position after each batch."""

    def __init__(self, bar, records):
        self.bar, self.records = bar, records

    def update(self, n: int) -> None:
        self.bar.update(max(0, self.records.bytes_read() - self.bar.n))

    def set_postfix(self, **kwargs) -> None:
        self.bar.set_postfix(**kwargs)

    def close(self) -> None:
        self.bar.close()
