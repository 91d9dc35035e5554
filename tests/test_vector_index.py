"""Vector index options (engines/vector_index.py): validation and mapping fragments as pure logic,
then every option on every engine: built, stamped, visible in the engine's own mapping or schema,
searchable with the recall it promises, and refused clearly where the engine lacks it."""

from __future__ import annotations

import argparse
import uuid

import numpy as np
import pytest

from neural_search.engines import IndexOptions, open_store
from neural_search.engines.embedded import EmbeddedStore
from neural_search.engines.es_family import load_mapping
from neural_search.engines.vector_index import (
    ENGINE_TYPES, VectorIndexOptions, ann_depth, byte_vector, effective,
)
from neural_search.errors import ConfigurationError, IndexOptionsMismatch
from neural_search.evaluation import ann_recall
from neural_search.fusion import FusionSpec
from neural_search.search import SearchClient
from neural_search.indexing import Indexer
from neural_search.sources import read_jsonl

from .conftest import FILMS

V = VectorIndexOptions


# -- pure logic ------------------------------------------------------------------------------------
def test_unknown_types_and_bad_parameters_are_refused_naming_the_cause():
    with pytest.raises(ConfigurationError, match="unknown vector index type 'hnws'.*int8_hnsw"):
        V("hnws")
    with pytest.raises(ConfigurationError, match="HNSW m must be a whole number from 2 to 512"):
        V("hnsw", m=1)
    with pytest.raises(ConfigurationError, match="ef_construction must be a whole number"):
        V("hnsw", ef_construction=True)
    with pytest.raises(ConfigurationError, match="'flat' builds no HNSW graph"):
        V("flat", m=16)


@pytest.mark.parametrize(
    "engine, kind, has",
    [
        ("opensearch", "bbq_hnsw", "hnsw, int8_hnsw"),
        ("solr", "int8_hnsw", "hnsw, byte_hnsw"),
        ("solr", "flat", "hnsw, byte_hnsw"),
        ("elasticsearch", "byte_hnsw", "hnsw, int8_hnsw, int4_hnsw, bbq_hnsw, flat"),
        ("embedded", "int8_hnsw", "flat, hnsw"),
    ],
)
def test_an_engine_refuses_a_type_it_lacks_and_names_what_it_has(engine, kind, has):
    with pytest.raises(ConfigurationError, match=f"{engine} has no vector index type '{kind}'; it has {has}"):
        V(kind).check(engine)


def test_a_store_refuses_an_option_its_engine_lacks_before_any_request(tmp_path):
    # No engine runs at these URLs: the refusal comes from the constructor, not from the engine.
    with pytest.raises(ConfigurationError, match="opensearch has no vector index type 'bbq_hnsw'"):
        open_store("opensearch", url="http://127.0.0.1:9", options=IndexOptions(vector=V("bbq_hnsw")))
    with pytest.raises(ConfigurationError, match="solr has no vector index type 'int4_hnsw'"):
        open_store("solr", url="http://127.0.0.1:9", options=IndexOptions(vector=V("int4_hnsw")))
    with pytest.raises(ConfigurationError, match="embedded has no vector index type 'bbq_hnsw'.*faiss HNSW graph"):
        EmbeddedStore(path=tmp_path, options=IndexOptions(vector=V("bbq_hnsw")))


def test_the_stamp_round_trips_with_defaults_filled_in_and_old_stamps_read_as_the_default():
    options = IndexOptions(analyzer="english", vector=V("int8_hnsw", m=32))
    stamp = options.to_dict()
    assert stamp == {"analyzer": "english", "vector": {"type": "int8_hnsw", "m": 32, "ef_construction": 100}}
    back = IndexOptions.from_dict(stamp)
    assert back.vector.resolved() == V("int8_hnsw", 32, 100) and back.analyzer == "english"
    assert IndexOptions(analyzer="standard").to_dict() == {"analyzer": "standard"}  # no vector key: stamps read as before
    assert IndexOptions.from_dict({"analyzer": "standard"}).vector is None
    assert IndexOptions.from_dict({"vector": {"type": "flat", "m": None, "ef_construction": None}}).vector == V("flat")


def test_differences_compare_what_was_built_not_how_it_was_asked():
    default = IndexOptions()
    assert default.differences(IndexOptions(vector=V("hnsw", 16, 100))) == []  # None means hnsw m16 ef100
    assert IndexOptions(vector=V("hnsw", ef_construction=100)).differences(default) == []
    assert default.differences(IndexOptions(vector=V("bbq_hnsw"))) == ["vector index 'bbq_hnsw m16 ef100', not 'hnsw m16 ef100'"]
    assert IndexOptions(vector=V("hnsw", m=24)).differences(default) == ["vector index 'hnsw m16 ef100', not 'hnsw m24 ef100'"]


def test_elasticsearch_mapping_fragments():
    def vector(options):
        return load_mapping("elasticsearch", dimension=384, similarity="cosine", meta={}, options=options)["mappings"]["properties"]["vector"]

    # No vector option: the mapping file's own HNSW, untouched.
    assert vector(None)["index_options"] == {"type": "hnsw", "m": 16, "ef_construction": 100}
    assert vector(IndexOptions(vector=V("int8_hnsw", m=24, ef_construction=200)))["index_options"] == {
        "type": "int8_hnsw", "m": 24, "ef_construction": 200,
    }
    assert vector(IndexOptions(vector=V("bbq_flat")))["index_options"] == {"type": "bbq_flat"}
    assert vector(IndexOptions(vector=V("flat")))["dims"] == 384


def test_opensearch_mapping_fragments():
    def method(options):
        return load_mapping("opensearch", dimension=384, similarity="cosinesimil", meta={}, options=options)["mappings"]["properties"]["vector"]["method"]

    assert method(None) == {"name": "hnsw", "engine": "lucene", "space_type": "cosinesimil", "parameters": {"m": 16, "ef_construction": 100}}
    assert method(IndexOptions(vector=V("int8_hnsw", m=8)))["parameters"] == {"m": 8, "ef_construction": 100, "encoder": {"name": "sq"}}
    with pytest.raises(ConfigurationError, match="opensearch has no vector index type 'flat'"):
        method(IndexOptions(vector=V("flat")))


def test_solr_core_properties():
    assert effective(None, "solr").solr_properties() == {
        "neural_search.vector_encoding": "FLOAT32", "neural_search.hnsw_m": "16", "neural_search.hnsw_ef_construction": "100",
    }
    assert V("byte_hnsw", m=32).solr_properties()["neural_search.vector_encoding"] == "BYTE"
    assert effective(None, "embedded") == V("flat")


def test_query_depth_defaults_to_100_and_is_honoured_when_given():
    assert ann_depth(10, None) == 100
    assert ann_depth(250, None) == 250
    assert ann_depth(10, 16) == 16  # the sweep's shallow settings really search shallower
    assert ann_depth(40, 16) == 40  # never fewer candidates than hits
    with pytest.raises(ConfigurationError, match="num_candidates must be a whole number from 1 to 10000"):
        ann_depth(10, 20000)


def test_byte_vectors_keep_the_cosine_and_use_the_byte_range():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal(384), rng.standard_normal(384)
    qa, qb = np.asarray(byte_vector(a), dtype=float), np.asarray(byte_vector(b), dtype=float)
    assert max(abs(qa)) == 127 and all(isinstance(x, int) for x in byte_vector(a))
    cosine = lambda x, y: float(x @ y / np.linalg.norm(x) / np.linalg.norm(y))  # noqa: E731
    assert abs(cosine(qa, qb) - cosine(a, b)) < 0.01
    assert byte_vector(np.zeros(4)) == [0, 0, 0, 0]


def test_cli_flags_build_the_index_options():
    from neural_search.cli import _options, build_parser

    args = build_parser().parse_args(["index", "--source", "x", "--index", "i", "--vector-index", "int8_hnsw", "--hnsw-m", "32"])
    assert _options(args) == IndexOptions(vector=V("int8_hnsw", m=32))
    assert _options(build_parser().parse_args(["index", "--source", "x", "--index", "i"])) is None
    args = build_parser().parse_args(["index", "--source", "x", "--index", "i", "--hnsw-ef-construction", "200"])
    assert _options(args).vector == V("hnsw", ef_construction=200)
    with pytest.raises(SystemExit):
        build_parser().parse_args(["index", "--source", "x", "--index", "i", "--vector-index", "ivf"])


def test_compare_keeps_the_embedded_reference_exact(tmp_path):
    from neural_search.cli import open_store_from_args

    args = argparse.Namespace(engine=None, analyzer=None, vector_index="int8_hnsw", hnsw_m=None, hnsw_ef_construction=None,
                              data_dir=str(tmp_path), shards=None, replicas=None)
    assert open_store_from_args(args, "embedded").default_options.vector is None


# -- every option on every engine --------------------------------------------------------------------
CASES = [(engine, kind) for engine in ("elasticsearch", "opensearch", "solr") for kind in ENGINE_TYPES[engine]]


@pytest.fixture(scope="module")
def film_vectors(encoder):
    docs = [r.document for r in read_jsonl(FILMS)]
    return docs, encoder.encode_documents(docs)


@pytest.fixture(scope="module")
def exact(film_vectors, tmp_path_factory, encoder):
    """The embedded engine's exact top-10 for 30 of the films' own vectors."""
    from neural_search.engines.base import IndexedDoc

    docs, vectors = film_vectors
    store = EmbeddedStore(path=tmp_path_factory.mktemp("exact"))
    store.create_physical("films", fingerprint=encoder.fingerprint.to_dict())
    store.write("films", [IndexedDoc(d, v) for d, v in zip(docs, vectors)])
    return {docs[i].id: [h.id for h in store.knn("films", vectors[i], k=10)] for i in range(0, 300, 10)}


@pytest.mark.integration
@pytest.mark.parametrize("engine, kind", CASES)
def test_every_option_builds_stamps_shows_in_the_engine_and_searches(engine, kind, engine_url, encoder, film_vectors, exact, tmp_path):
    docs, vectors = film_vectors
    option = V(kind, m=24) if "hnsw" in kind else V(kind)
    options = IndexOptions(vector=option)
    store = open_store(engine, url=engine_url(engine), options=options)
    name = f"ann-vi-{uuid.uuid4().hex[:8]}"
    try:
        Indexer(store, encoder, state_dir=tmp_path, batch_size=300, progress=False, options=options).run(
            read_jsonl(FILMS), name=name, source={"corpus": str(FILMS)},
        )
        physical = store.resolve(name)
        assert store.index_options(physical).vector.resolved() == option.resolved()

        if engine == "elasticsearch":
            mapping = next(iter(store.client.indices.get_mapping(index=physical).values()))["mappings"]["properties"]["vector"]
            assert mapping["index_options"]["type"] == kind
            if option.graph:
                assert mapping["index_options"]["m"] == 24
        elif engine == "opensearch":
            method = next(iter(store.client.indices.get_mapping(index=physical).values()))["mappings"]["properties"]["vector"]["method"]
            assert method["parameters"]["m"] == 24
            assert (method["parameters"].get("encoder") or {}).get("name") == ("sq" if kind == "int8_hnsw" else None)
        else:
            field_type = store._request("GET", f"/{physical}/schema/fieldtypes/knn_vector")["fieldType"]
            assert field_type["vectorEncoding"] == ("BYTE" if kind == "byte_hnsw" else "FLOAT32")
            assert str(field_type["hnswMaxConnections"]) == "24"

        found = {q: [h.id for h in store.knn(physical, vectors[i], k=10, num_candidates=100)] for i, q in ((i, docs[i].id) for i in range(0, 300, 10))}
        recall = ann_recall(found, exact, 10)
        # 300 films: every option finds nearly all of the exact top 10 at depth 100 (flat: all of it,
        # unless it quantises); each query's own film comes first.
        assert recall >= (0.999 if kind == "flat" else 0.9), f"{engine} {kind}: recall@10 {recall}"
        assert sum(found[q][0] == q for q in found) >= 0.9 * len(found)
        # Hybrid search works on every option, fused by the engine's plugin as well as in the
        # client, with the same ranking (a BYTE field's query vector reaches {!knn} as integers).
        client = SearchClient(store=store, index=name, encoder=encoder)
        by_client = client.search("a robot falls in love", mode="hybrid", k=20, fusion_at="client")
        assert len(by_client.hits) == 20
        assert store.engine_fusion_problem(physical, FusionSpec.parse("rrf"), (1.0, 1.0)) is None
        by_engine = client.search("a robot falls in love", mode="hybrid", k=5, fusion_at="engine")
        # Compared by score: the plugins fuse in float32, which may order exact RRF ties otherwise.
        client_scores = {h.id: h.score for h in by_client.hits}
        assert [h.score for h in by_engine.hits] == pytest.approx([h.score for h in by_client.hits[:5]], rel=1e-5)
        assert all(client_scores.get(h.id) == pytest.approx(h.score, rel=1e-5) for h in by_engine.hits)
    finally:
        physical = store.resolve(name)
        if physical:
            store.drop(physical)
        store.close()


@pytest.mark.integration
def test_an_index_built_with_other_vector_options_is_refused(engine_url, encoder, tmp_path):
    store = open_store("opensearch", url=engine_url("opensearch"))
    name = f"ann-vi-{uuid.uuid4().hex[:8]}"
    docs = list(read_jsonl(FILMS))[:20]
    try:
        Indexer(store, encoder, state_dir=tmp_path, progress=False, options=IndexOptions(vector=V("int8_hnsw"))).run(iter(docs), name=name, source={"n": 20})
        with pytest.raises(IndexOptionsMismatch, match="vector index 'int8_hnsw m16 ef100', not 'hnsw m16 ef100'"):
            Indexer(store, encoder, state_dir=tmp_path, progress=False, options=IndexOptions()).run(iter(docs), name=name, source={"n": 20})
    finally:
        physical = store.resolve(name)
        if physical:
            store.drop(physical)
        store.close()
