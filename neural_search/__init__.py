"""neural-search: BM25, kNN and hybrid search on Elasticsearch, OpenSearch, Solr and an embedded engine."""

from .documents import Document
from .encoding import Encoder, ModelFingerprint
from .engines import open_store
from .errors import NeuralSearchError
from .fusion import FusionSpec
from .indexing import Indexer, IndexingSummary, RetryPolicy
from .search import Hit, SearchClient, SearchResult

__version__ = "0.1.0"
__all__ = [
    "Document", "Encoder", "ModelFingerprint", "open_store", "NeuralSearchError", "FusionSpec",
    "Indexer", "IndexingSummary", "RetryPolicy", "Hit", "SearchClient", "SearchResult",
]
