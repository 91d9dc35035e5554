"""BM25 scored exactly as Lucene scores it, over a scipy sparse term matrix.

The embedded engine uses this so its BM25 rankings equal the servers': Lucene (and so
Elasticsearch, OpenSearch and Solr) keeps each document's length in a single byte
(`SmallFloat.intToByte4`), so the length in the formula is that lossy value, not the exact one;
ranking with exact lengths reorders near-ties. IDF and the average length are Lucene's too.
Scores equal Solr's; Elasticsearch and OpenSearch multiply them by (k1 + 1) (their legacy BM25),
which changes no ranking.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy import sparse


def _long_to_int4(value: int) -> int:
    bits = value.bit_length()
    if bits < 4:
        return value
    shift = bits - 4
    return ((value >> shift) & 0x07) | ((shift + 1) << 3)


def _int4_to_long(value: int) -> int:
    bits, shift = value & 0x07, (value >> 3) - 1
    return bits if shift == -1 else (bits | 0x08) << shift


_FREE_VALUES = 255 - _long_to_int4(2**31 - 1)  # 24


def int_to_byte4(length: int) -> int:
    return length if length < _FREE_VALUES else _FREE_VALUES + _long_to_int4(length - _FREE_VALUES)


def byte4_to_int(encoded: int) -> int:
    return encoded if encoded < _FREE_VALUES else _FREE_VALUES + _int4_to_long(encoded - _FREE_VALUES)


_DECODED = np.array([byte4_to_int(b) for b in range(256)], dtype=np.float64)


class LuceneBM25:
    def __init__(self, documents: Sequence[Sequence[str]], *, k1: float = 1.2, b: float = 0.75):
        self.k1, self.b = k1, b
        self.vocabulary: dict[str, int] = {}
        indptr, indices, counts = [0], [], []
        lengths = np.zeros(len(documents), dtype=np.int64)
        for row, tokens in enumerate(documents):
            lengths[row] = len(tokens)
            frequencies: dict[int, int] = {}
            for token in tokens:
                column = self.vocabulary.setdefault(token, len(self.vocabulary))
                frequencies[column] = frequencies.get(column, 0) + 1
            indices.extend(frequencies)
            counts.extend(frequencies.values())
            indptr.append(len(indices))
        shape = (len(documents), max(len(self.vocabulary), 1))
        # Column-major: a query reads whole term columns.
        self.tf = sparse.csr_matrix((np.array(counts, dtype=np.float64), np.array(indices, dtype=np.int64), np.array(indptr)), shape=shape).tocsc()
        self.doc_count = int((lengths > 0).sum())
        self.average_length = float(lengths.sum()) / self.doc_count if self.doc_count else 1.0
        quantized = _DECODED[[int_to_byte4(int(n)) for n in lengths]] if len(lengths) else np.zeros(0)
        self.length_norm = k1 * ((1 - b) + b * quantized / self.average_length)
        self.document_frequency = np.diff(self.tf.indptr)

    def idf(self, column: int) -> float:
        df = int(self.document_frequency[column])
        return math.log(1 + (self.doc_count - df + 0.5) / (df + 0.5))

    def scores(self, query_tokens: Sequence[str]) -> np.ndarray:
        """One score per document; 0 for documents containing no query term. A repeated query
        term counts once per repetition, as the repeated clauses of a Lucene boolean query do."""
        total = np.zeros(self.tf.shape[0], dtype=np.float64)
        repeats: dict[int, int] = {}
        for token in query_tokens:
            column = self.vocabulary.get(token)
            if column is not None:
                repeats[column] = repeats.get(column, 0) + 1
        for column, times in repeats.items():
            start, end = self.tf.indptr[column], self.tf.indptr[column + 1]
            rows, tf = self.tf.indices[start:end], self.tf.data[start:end]
            total[rows] += times * self.idf(column) * tf / (tf + self.length_norm[rows])
        return total
