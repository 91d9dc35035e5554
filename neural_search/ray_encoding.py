"""Encoding on a Ray cluster: the model runs in Ray actors (one per GPU, or as many as asked for on
CPUs), the rest of the run stays where it was. The source is read, batched, checkpointed, written
and dead-lettered on the driver by the same chain as a local run (bulk.py), so a Ray run resumes,
writes exactly once and dead-letters exactly as a local one does; only `encoded` hands its batches
to the actors (RayEncoder.encode_stream) and gets the vectors back in the batches' order.

Why actors and not a Ray Data pipeline: Ray Data reads its input on the cluster (the source would
have to be on every node, and the driver's checkpoint would no longer say what was read), and a
`map_batches` actor pool lives for one dataset, so streaming a source through it window by window
would load the model again for every window. A window of batches on long-lived actors gives the
same streaming with bounded memory: at most `in_flight` batches are out on the cluster at once.

The embedding cache stays on the driver: only documents it lacks are sent to the actors.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from types import SimpleNamespace
from typing import Iterable, Iterator

import numpy as np

from .encoding import DEFAULT_MODEL, PRECISIONS, Encoder
from .errors import ConfigurationError

log = logging.getLogger(__name__)


def _ray():
    try:
        import ray
    except ImportError:
        raise ConfigurationError("--ray needs Ray: pip install 'neural-search[ray]'") from None
    return ray


class _EncoderActor:
    """Runs in a Ray worker: one model, loaded once, on the actor's device."""

    def __init__(self, model: str, device: str | None, batch_size: int, options: dict):
        self.encoder = Encoder(model=model, device=device, batch_size=batch_size, cache=False, **options)

    def fingerprint(self) -> dict:
        return self.encoder.fingerprint.to_dict()

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.encoder._encode(texts, "document")


class RayEncoder:
    """An Encoder whose document vectors come from Ray actors; queries, the fingerprint and the
    cache are the driver's (a local Encoder). `address`: "auto" (the cluster this machine belongs
    to), "ray://host:10001" or "host:6379" (a given one), "local" (start one here, capped by
    `local_cpus` and `object_store_bytes`)."""

    def __init__(
        self,
        *,
        address: str = "auto",
        model: str = DEFAULT_MODEL,
        actors: int | None = None,
        gpus_per_actor: float | None = None,
        batch_size: int = 32,
        cache=None,
        in_flight_per_actor: int = 2,
        local_cpus: int = 1,
        object_store_bytes: int = 200 * 1024 * 1024,
        query_prompt: str | None = None,
        document_prompt: str | None = None,
        start_timeout: float = 600.0,
        precision: str = "float32",
    ):
        if actors is not None and actors < 1 or in_flight_per_actor < 1:
            raise ConfigurationError("--ray-actors and in_flight_per_actor must be >= 1")
        if not address:
            raise ConfigurationError("--ray needs auto, local or a cluster address (ray://host:10001, host:6379)")
        self.address = address
        # The prompts are part of the fingerprint: the actors get the same ones.
        self._prompts = {"query_prompt": query_prompt, "document_prompt": document_prompt}
        self.local = Encoder(model=model, batch_size=batch_size, cache=cache, device="cpu", **self._prompts)
        self.model_name = self.local.model_name
        self.cache = self.local.cache
        self.stats = self.local.stats
        self._model = model
        self._batch_size = batch_size
        self._actors_wanted = actors
        self._gpus_per_actor = gpus_per_actor
        self._in_flight_per_actor = in_flight_per_actor
        self._local_cpus = local_cpus
        self._object_store_bytes = object_store_bytes
        self._start_timeout = start_timeout
        if precision not in PRECISIONS:
            raise ConfigurationError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        self._precision = precision  # the actors' (on GPUs); the driver's queries stay float32 on its CPU
        self._actors: list = []
        self._started_ray = False

    # The driver's encoder answers everything but the documents' vectors.
    @property
    def fingerprint(self):
        return self.local.fingerprint

    @property
    def dimension(self) -> int:
        return self.local.dimension

    def encode_query(self, text: str) -> np.ndarray:
        return self.local.encode_query(text)

    def encode_texts(self, texts):
        return self.local.encode_texts(texts)

    def _start(self) -> list:
        if self._actors:
            return self._actors
        ray = _ray()
        if not ray.is_initialized():
            if self.address == "local":
                ray.init(num_cpus=self._local_cpus, object_store_memory=self._object_store_bytes, include_dashboard=False,
                         log_to_driver=False, configure_logging=False)
            else:
                # The workers load the model as this process does: offline where this one is.
                env = {k: os.environ[k] for k in ("HF_HUB_OFFLINE", "TOKENIZERS_PARALLELISM", "HF_HOME") if k in os.environ}
                try:
                    ray.init(address=self.address, log_to_driver=False, configure_logging=False, runtime_env={"env_vars": env})
                except ConnectionError as exc:
                    raise ConfigurationError(
                        f"no Ray cluster at {self.address!r} ({exc}); start one (ray start --head) or pass --ray local"
                    ) from exc
            self._started_ray = True
        gpus = float(ray.cluster_resources().get("GPU", 0))
        per_actor = self._gpus_per_actor if self._gpus_per_actor is not None else (1.0 if gpus else 0.0)
        count = self._actors_wanted or (max(1, int(gpus // per_actor)) if per_actor else 1)
        options = {"num_gpus": per_actor, "num_cpus": 0 if per_actor else 1}
        device = "cuda" if per_actor else "cpu"
        if self._precision == "float16" and not per_actor:
            self.close()
            raise ConfigurationError("--fp16 needs GPU actors, and this Ray cluster has no GPU; leave --fp16 out")
        actor_options = {**self._prompts, "precision": self._precision}
        remote = ray.remote(_EncoderActor)
        self._actors = [remote.options(**options).remote(self._model, device, self._batch_size, actor_options) for _ in range(count)]
        # The same model everywhere: a node with other weights would write vectors of another space.
        expected = self.fingerprint.id
        try:
            fingerprints = ray.get([actor.fingerprint.remote() for actor in self._actors], timeout=self._start_timeout)
        except ray.exceptions.GetTimeoutError:
            self.close()
            raise ConfigurationError(
                f"{count} encoder actor(s) ({options}) did not start within {self._start_timeout:g} s: the Ray cluster has no room "
                "for them (see `ray status`); pass fewer --ray-actors"
            ) from None
        for fingerprint in fingerprints:
            if fingerprint["id"] != expected:
                raise ConfigurationError(
                    f"a Ray actor loaded model {fingerprint['name']} with fingerprint {fingerprint['id']}, not {expected} as here; "
                    "install the same model (and sentence-transformers version) on every node"
                )
        log.info("encoding on %d Ray actor(s) (%s GPU each)", count, per_actor)
        return self._actors

    def encode_stream(self, source: Iterable) -> Iterator[tuple[object, np.ndarray]]:
        """(batch, vectors) for each batch of `source`, in order, with up to `in_flight_per_actor`
        batches per actor out on the cluster; cache hits never leave the driver."""
        ray = _ray()
        actors = self._start()
        fingerprint = self.fingerprint
        window: deque = deque()
        turn = 0

        def finish(entry):
            batch, hashes, found, missing, ref = entry
            if ref is not None:
                fresh = ray.get(ref)
                new = {}
                for i, vector in zip(missing, fresh):
                    found[hashes[i]] = new[hashes[i]] = np.asarray(vector, dtype=np.float32)
                self.stats["encoded"] += len(missing)
                if self.cache:
                    self.cache.put_many(fingerprint.id, new.items())
            vectors = np.stack([found[h] for h in hashes]) if hashes else np.zeros((0, fingerprint.dimension), dtype=np.float32)
            return batch, vectors

        for batch in source:
            documents = batch.documents
            hashes = [d.content_hash() for d in documents]
            found = self.cache.get_many(fingerprint.id, hashes, fingerprint.dimension) if self.cache and hashes else {}
            missing = [i for i, h in enumerate(hashes) if h not in found]
            self.stats["cache_hits"] += len(hashes) - len(missing)
            ref = None
            if missing:
                ref = actors[turn % len(actors)].encode.remote([documents[i].passage for i in missing])
                turn += 1
            window.append((batch, hashes, found, missing, ref))
            while len(window) >= len(actors) * self._in_flight_per_actor:
                yield finish(window.popleft())
        while window:
            yield finish(window.popleft())

    def encode_documents(self, documents) -> np.ndarray:
        """One-off encoding through the actors (the indexer uses encode_stream)."""

        return next(self.encode_stream([SimpleNamespace(documents=list(documents))]))[1]

    def close(self) -> None:
        """Lets the actors go, and the Ray runtime this encoder started."""
        if self._actors:
            ray = _ray()
            for actor in self._actors:
                ray.kill(actor)
            self._actors = []
        if self._started_ray:
            _ray().shutdown()
            self._started_ray = False
