"""The conformance suite every engine passes unchanged (Haystack-style).

Each engine's test module subclasses `StoreConformance` and provides a `store` fixture; the
tests below then run, identically, against the embedded engine and the real Elasticsearch,
OpenSearch and Solr servers, with vectors from the real all-MiniLM-L6-v2 model.
"""

from __future__ import annotations

import json
import uuid

import pytest

from neural_search.engines.embedded import EmbeddedStore
from neural_search.errors import CapabilityError, ModelMismatch, PaginationError
from neural_search.indexing import Indexer
from neural_search.search import SearchClient
from neural_search.sources import read_jsonl

from .conftest import FILMS

JURASSIC = "<dbpedia:Jurassic_Park_(film)>"
TITANIC = "<dbpedia:Titanic_(1997_film)>"
HOSTILE = [
    "{!frange l=0}",
    "*:*",
    ") OR (",
    '"unbalanced quote',
    "title:Titanic OR text:*",
    "{!knn f=vector topK=10}[0.1,0.2]",
    "_query_:\"{!lucene}*:*\"",
    "\\",
]


def films_records():
    return list(read_jsonl(FILMS))


def run_indexer(store, encoder, tmp_path, name, records, **kwargs):
    indexer = Indexer(store, encoder, state_dir=tmp_path / "state", batch_size=kwargs.pop("batch_size", 64), progress=False)
    return indexer.run(records, name=name, source={"test": name}, **kwargs)


class StoreConformance:
    engine: str

    @pytest.fixture
    def fresh(self, store, index_name):
        yield index_name
        physical = store.resolve(index_name)
        if physical:
            store.drop(physical)

    @pytest.fixture(scope="class")
    @classmethod
    def films_index(cls, store, encoder, tmp_path_factory):
        name = f"conf-films-{uuid.uuid4().hex[:8]}"
        summary = run_indexer(store, encoder, tmp_path_factory.mktemp("films"), name, films_records())
        assert summary.indexed == 300
        yield name
        store.drop(store.resolve(name))

    @pytest.fixture(scope="class")
    @classmethod
    def client(cls, store, encoder, films_index):
        return SearchClient(store=store, index=films_index, encoder=encoder)

    # -- indexing -----------------------------------------------------------------------------
    def test_index_counts_ids_and_stamps_model(self, store, encoder, tmp_path, fresh, films):
        summary = run_indexer(store, encoder, tmp_path, fresh, films_records())
        assert (summary.read, summary.indexed, summary.skipped, summary.failed) == (300, 300, 0, 0)
        physical = store.resolve(fresh)
        assert store.count(physical) == 300
        assert store.ids(physical) == {d.id for d in films}
        assert store.get_fingerprint(physical) == encoder.fingerprint.to_dict()
        stored = store.get(physical, TITANIC)
        assert stored is not None and stored.title == "Titanic (1997 film)" and stored.metadata["year"] == 1997

    def test_reindex_does_not_duplicate(self, store, encoder, tmp_path, fresh):
        run_indexer(store, encoder, tmp_path, fresh, films_records()[:120])
        first = store.resolve(fresh)
        summary = run_indexer(store, encoder, tmp_path, fresh, films_records()[:150])
        assert summary.indexed == 150 and not summary.published
        assert store.resolve(fresh) == first
        assert store.count(first) == 150

    def test_recreate_builds_new_version_and_switches_name(self, store, encoder, tmp_path, fresh, films):
        run_indexer(store, encoder, tmp_path, fresh, films_records()[:50])
        before = store.resolve(fresh)
        summary = run_indexer(store, encoder, tmp_path, fresh, films_records()[50:130], recreate=True)
        assert summary.published
        after = store.resolve(fresh)
        assert after is not None
        assert store.count(after) == 80
        assert store.ids(after) == {d.id for d in films[50:130]}
        # The versioned index that served before is gone (for Solr the core name stays, its data changed).
        if after != before:
            assert store.resolve(before) is None

    def test_bad_input_goes_to_dead_letter_and_counts_add_up(self, store, encoder, tmp_path, fresh):
        source = tmp_path / "mixed.jsonl"
        good = [json.loads(line) for line in open(FILMS, encoding="utf-8")][:5]
        lines = [json.dumps(good[0]), "{not json", json.dumps({"_id": "empty", "title": "", "text": "  "}), json.dumps(good[1]),
                 json.dumps({"title": "no id"}), json.dumps(good[2]), "[1, 2]", json.dumps(good[3]), json.dumps(good[4])]
        source.write_text("\n".join(lines) + "\n", encoding="utf-8")
        summary = run_indexer(store, encoder, tmp_path, fresh, read_jsonl(source), batch_size=2)
        assert (summary.read, summary.indexed, summary.skipped, summary.failed) == (9, 5, 1, 3)
        assert summary.read == summary.indexed + summary.skipped + summary.failed
        entries = [json.loads(line) for line in open(summary.dead_letter, encoding="utf-8")]
        failed = [e for e in entries if e["kind"] == "failed"]
        assert sorted(e["location"].rsplit(":", 1)[1] for e in failed) == ["2", "5", "7"]
        assert any("malformed JSON" in e["reason"] for e in failed)
        assert [e["id"] for e in entries if e["kind"] == "skipped"] == ["empty"]
        assert store.count(store.resolve(fresh)) == 5

    def test_other_model_is_refused_before_writing(self, store, encoder, tmp_path, fresh):
        other = {**encoder.fingerprint.to_dict(), "weights_sha256": "0" * 64, "id": "someothermodel01"}
        physical = f"{fresh}__v1"
        store.create_physical(physical, fingerprint=other)
        store.publish(fresh, physical)
        with pytest.raises(ModelMismatch) as info:
            run_indexer(store, encoder, tmp_path, fresh, films_records()[:10])
        assert "someothermodel01" in str(info.value) and encoder.fingerprint.id in str(info.value)
        resolved = store.resolve(fresh)
        store.refresh(resolved)
        assert store.count(resolved) == 0
        with pytest.raises(ModelMismatch):
            SearchClient(store=store, index=fresh, encoder=encoder).search("dinosaurs", mode="knn")

    # -- searching ----------------------------------------------------------------------------
    def test_bm25_and_knn_find_the_expected_film_first(self, client):
        assert client.search("Jurassic dinosaurs Crichton", mode="bm25", k=3).ids[0] == JURASSIC
        # Two queries, two different winners: a kNN leg that ignored the query vector would fail one.
        assert client.search("cloned dinosaurs escape on an island", mode="knn", k=3).ids[0] == JURASSIC
        assert client.search("ship sinks after hitting an iceberg", mode="knn", k=3).ids[0] == TITANIC

    def test_filters_are_applied_inside_knn(self, client, films):
        in_90s = [d for d in films if 1990 <= d.metadata.get("year", 0) < 1995]
        assert len(in_90s) >= 10
        for mode in ("knn", "hybrid", "bm25"):
            result = client.search("a film about love", mode=mode, k=10, filters={"year": {"gte": 1990, "lt": 1995}})
            years = [h.metadata["year"] for h in result.hits]
            assert all(1990 <= y < 1995 for y in years), (mode, years)
            if mode != "bm25":
                assert len(result.hits) == 10, mode
        rare = client.search("space", mode="knn", k=10, filters={"year": 1997, "movielens_id": films[0].metadata["movielens_id"]})
        assert rare.ids == [films[0].id]

    def test_hybrid_pages_are_stable_and_gapless(self, client):
        whole = client.search("adventure at sea", mode="hybrid", k=40, candidates=40).ids
        pages = []
        for offset in range(0, 40, 10):
            pages += client.search("adventure at sea", mode="hybrid", k=10, offset=offset, candidates=40).ids
        assert pages == whole and len(set(pages)) == 40
        with pytest.raises(PaginationError):
            client.search("adventure at sea", mode="hybrid", k=10, offset=35, candidates=40)

    def test_hybrid_explains_each_leg(self, client):
        result = client.search("ship sinks after hitting an iceberg", mode="hybrid", k=10, fusion="linear:minmax")
        top = result.hits[0]
        assert top.id == TITANIC
        assert set(top.legs) == {"bm25", "knn"} and top.legs["bm25"].rank >= 1 and top.legs["knn"].rank >= 1
        expected = (top.legs["bm25"].normalized + top.legs["knn"].normalized) / 2
        assert top.score == pytest.approx(expected)

    @pytest.mark.parametrize("text", HOSTILE)
    def test_user_text_is_never_query_syntax(self, client, text):
        from neural_search.analysis import tokenize

        literal = " ".join(tokenize(text))
        got = client.search(text, mode="bm25", k=20).ids
        expected = client.search(literal, mode="bm25", k=20).ids if literal else []
        assert got == expected
        assert len(client.search(text, mode="hybrid", k=5).hits) == 5

    def test_long_empty_and_non_latin_text(self, client):
        long_text = ("ship iceberg " * 900)[:10240]
        assert client.search(long_text, mode="bm25", k=3).ids[0] == TITANIC
        assert client.search(long_text, mode="hybrid", k=3).hits
        assert client.search("", mode="hybrid").hits == []
        assert client.search("   ", mode="bm25").hits == []
        for text in ("泰坦尼克号 冰山", "Титаник айсберг", "تايتانيك", "타이타닉"):
            assert len(client.search(text, mode="knn", k=5).hits) == 5

    def test_native_hybrid_or_clear_refusal(self, client, store):
        if "native_hybrid" in store.capabilities():
            result = client.search("ship sinks after hitting an iceberg", mode="hybrid", fusion="native", k=5)
            assert result.ids[0] == TITANIC
        else:
            with pytest.raises(CapabilityError):
                client.search("iceberg", mode="hybrid", fusion="native")
            result = client.search("ship sinks after hitting an iceberg", mode="hybrid", fusion="native", allow_fallback=True, k=5)
            assert result.ids[0] == TITANIC and "fell back" in result.note


class ServerConformance(StoreConformance):
    """What the servers must also do: agree with the embedded engine's exact kNN and its BM25."""

    @pytest.fixture(scope="class")
    @classmethod
    def reference(cls, encoder, tmp_path_factory, films_index):
        """The embedded engine over the same documents: the yardstick for the others."""
        store = EmbeddedStore(path=tmp_path_factory.mktemp("reference"))
        run_indexer(store, encoder, tmp_path_factory.mktemp("ref-state"), "ref", films_records())
        return SearchClient(store=store, index="ref", encoder=encoder)

    def test_bm25_matches_the_reference_ranking(self, client, reference):
        for query in ("ship iceberg", "a shark terrorizes a beach town", "space station astronauts moon", "war in vietnam"):
            mine = client.search(query, mode="bm25", k=10).ids
            assert mine == reference.search(query, mode="bm25", k=10).ids, query

    def test_knn_matches_exact_search(self, client, reference):
        for query in ("a pig who wants to be a sheepdog", "robots", "a mafia family"):
            mine = client.search(query, mode="knn", k=10).ids
            exact = reference.search(query, mode="knn", k=10).ids
            assert len(set(mine) & set(exact)) >= 9, query
