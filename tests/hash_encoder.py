"""A stand-in for the model in pure-logic tests (the pipeline unit tests and the crash matrix run
hundreds of indexing runs; the real model is exercised by the integration tests)."""

from __future__ import annotations

import hashlib

import numpy as np


class HashEncoder:
    """Deterministic 8-dim vectors derived from each document's id."""

    class _FP:
        id = "hash-encoder"
        dimension = 8

        def to_dict(self):
            return {"name": "hash", "dimension": 8, "similarity": "cosine", "id": self.id}

    fingerprint = _FP()

    def encode_documents(self, docs):
        return np.stack([np.frombuffer(hashlib.sha256(d.id.encode()).digest()[:8], dtype=np.uint8).astype(np.float32) + 1 for d in docs])
