"""The conformance suite every engine passes unchanged (Haystack-style).

Each engine's test module subclasses `StoreConformance` and provides a `store` fixture; the
tests below then run, identically, against the embedded engine and the real Elasticsearch,
OpenSearch and Solr servers, with vectors from the real all-MiniLM-L6-v2 model.
"""

from __future__ import annotations

import json
import uuid

import pytest

from neural_search import registry
from neural_search.documents import Document
from neural_search.engines.base import matches, normalize_filters
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


def assert_same_ranking(mine, reference, what="", rel=1e-5):
    """`mine` ranks as `reference` (a deeper list; scores may differ by a constant scale): ids rank
    by rank, except inside a run of equal scores, whose order is each engine's own (and on several
    shards no longer the one-shard order); a run cut off by the page may hold any of the tied ids."""
    mine_ids, ref_ids = [h.id for h in mine], [h.id for h in reference]
    assert len(reference) >= len(mine), what
    i = 0
    while i < len(mine):
        j = i
        while j + 1 < len(mine) and mine[j + 1].score == pytest.approx(mine[i].score, rel=rel):
            j += 1
        run = set(mine_ids[i : j + 1])
        if j < len(mine) - 1:
            assert run == set(ref_ids[i : j + 1]), (what, i, mine_ids, ref_ids)
        else:
            tied = {h.id for h in reference[i:] if h.score == pytest.approx(reference[i].score, rel=rel)}
            assert run <= tied | set(ref_ids[i : j + 1]), (what, i, mine_ids, ref_ids)
        i = j + 1


class StoreConformance:
    engine: str

    # Pinned in neural_search/registry.py, not detected: an engine whose plugin must fuse hybrid
    # searches itself fails here when the plugin is missing, instead of passing on client-side
    # fusion; losing a capability fails test_offers_what_it_must.
    @property
    def engine_fusion(self) -> bool:
        return registry.spec(self.engine).engine_fusion

    @property
    def required_capabilities(self) -> frozenset:
        return registry.spec(self.engine).capabilities
    # Where a hybrid search fuses when fusion_at is not given (on the one-shard test indexes).
    engine_fusion_default: bool = False
    # Solr rebuilds by core SWAP: the logical name stays a core, its data changes.
    publishes_by_swap: bool = False
    # The legs an engine-side hybrid search runs exactly as the client's own searches. OpenSearch's
    # hybrid query scores BM25 with per-shard statistics on several shards (docs/fusion.md).
    exact_engine_legs: tuple[str, ...] = ("bm25", "knn")
    # Engine-side legs whose equal scores come in the engine's own order, not by id as the client's
    # legs: OpenSearch's hybrid sub-queries (docs/fusion.md). Ranks then agree up to ties.
    engine_ties_own_order: bool = False

    @pytest.fixture(params=["client", "engine"])
    def side(self, request):
        return request.param

    def physical_versions(self, store, name: str) -> list[str]:
        """The versioned physical indexes of `name` left on the engine (engines that publish by swap)."""
        raise NotImplementedError(f"{type(self).__name__} publishes by swap: list its versioned indexes")

    def hybrid(self, client, text, side, **kwargs):
        """A hybrid search fused on `side`. On an engine without engine-side fusion, checks the
        clear refusal and returns None."""
        if side == "engine" and not self.engine_fusion:
            with pytest.raises(CapabilityError, match="plugin"):
                client.search(text, mode="hybrid", fusion_at="engine", **kwargs)
            return None
        result = client.search(text, mode="hybrid", fusion_at=side, **kwargs)
        assert result.fusion_at == side
        return result

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
        # The version that served before is gone.
        assert (after == before) == self.publishes_by_swap
        if self.publishes_by_swap:
            # The name stays; the core that received the old data in the swap was unloaded.
            assert self.physical_versions(store, fresh) == []
            assert any("previous version was removed" in m for m in summary.messages), summary.messages
        else:
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
        for mode in ("knn", "bm25"):
            result = client.search("a film about love", mode=mode, k=10, filters={"year": {"gte": 1990, "lt": 1995}})
            years = [h.metadata["year"] for h in result.hits]
            assert all(1990 <= y < 1995 for y in years), (mode, years)
            if mode != "bm25":
                assert len(result.hits) == 10, mode
        rare = client.search("space", mode="knn", k=10, filters={"year": 1997, "movielens_id": films[0].metadata["movielens_id"]})
        assert rare.ids == [films[0].id]

    def test_offers_what_it_must(self, store):
        assert self.required_capabilities <= store.capabilities(), sorted(self.required_capabilities - store.capabilities())

    @pytest.fixture(scope="class")
    @classmethod
    def tagged(cls, store, encoder, tmp_path_factory):
        """60 films with a list-valued field (tags) and a string field for ranges (decade)."""
        records = films_records()[:60]
        docs = []
        for record in records:
            d = record.document
            words = set(d.text.lower().split())
            tags = ["film"] + [t for t in ("war", "love", "space", "comedy", "drama", "family") if t in words]
            metadata = {**d.metadata, "tags": tags, "decade": f"{d.metadata['year'] // 10 * 10}s"}
            docs.append(Document(id=d.id, text=d.text, title=d.title, metadata=metadata))
        source = tmp_path_factory.mktemp("tagged") / "tagged.jsonl"
        source.write_text("".join(json.dumps({"_id": d.id, "title": d.title, "text": d.text, "metadata": dict(d.metadata)}) + "\n" for d in docs))
        name = f"conf-tagged-{uuid.uuid4().hex[:8]}"
        assert run_indexer(store, encoder, tmp_path_factory.mktemp("tagged-state"), name, read_jsonl(source)).indexed == 60
        yield name, docs
        store.drop(store.resolve(name))

    FILTERS = (
        {"year": 1997},
        {"year": {"gt": 1985, "lte": 1995}},
        {"decade": {"gte": "1980s", "lt": "2000s"}},
        {"tags": "war"},
        {"tags": ["space", "comedy"]},
        {"decade": ["1950s", "1960s", "1970s"]},
        {"year": [1994, 1997, 1999], "tags": "love"},
        {"tags": "no-such-tag"},
    )

    @pytest.mark.parametrize("filters", FILTERS, ids=lambda f: json.dumps(f))
    def test_filters_match_the_plain_python_oracle(self, store, encoder, tagged, filters):
        """Term, any-of, numeric and string ranges, list-valued fields, several clauses: each engine
        returns exactly the documents engines/base.matches() selects."""
        name, docs = tagged
        clauses = normalize_filters(filters)
        expected = {d.id for d in docs if all(matches(d.metadata, c) for c in clauses)}
        client = SearchClient(store=store, index=name, encoder=encoder, candidates=len(docs))
        # kNN over every document: all that pass the filter, whatever their similarity.
        assert set(client.search("a story", mode="knn", k=len(docs), filters=filters).ids) == expected
        every = set(client.search("the", mode="bm25", k=len(docs)).ids)
        assert set(client.search("the", mode="bm25", k=len(docs), filters=filters).ids) == expected & every
        for side in ("client", "engine") if self.engine_fusion else ("client",):
            hybrid = client.search("a story", mode="hybrid", k=len(docs), filters=filters, fusion_at=side)
            assert set(hybrid.ids) == expected, side

    def test_hybrid_filters_apply_inside_both_legs(self, client, side):
        window = {"year": {"gte": 1990, "lt": 1995}}
        result = self.hybrid(client, "a film about love", side, k=10, filters=window)
        if result is None:
            return
        years = [h.metadata["year"] for h in result.hits]
        assert len(years) == 10 and all(1990 <= y < 1995 for y in years), years
        # Inside, not after: every hit of each filtered leg is in the window, so none was lost to a post-filter.
        inside = {h.id for h in client.search("a film about love", mode="knn", k=100, filters=window).hits}
        inside |= {h.id for h in client.search("a film about love", mode="bm25", k=100, filters=window).hits}
        assert set(result.ids) <= inside

    def test_hybrid_pages_are_stable_and_gapless(self, client, side):
        whole = self.hybrid(client, "adventure at sea", side, k=40, candidates=40)
        if whole is None:
            return
        pages = []
        for offset in range(0, 40, 10):
            pages += self.hybrid(client, "adventure at sea", side, k=10, offset=offset, candidates=40).ids
        assert pages == whole.ids and len(set(pages)) == 40
        with pytest.raises(PaginationError):
            client.search("adventure at sea", mode="hybrid", k=10, offset=35, candidates=40, fusion_at=side)

    def test_hybrid_explains_each_leg(self, client, side):
        text = "ship sinks after hitting an iceberg"
        result = self.hybrid(client, text, side, k=10, fusion="rrf", explain=True)
        if result is None:
            return
        assert result.hits[0].id == TITANIC
        legs = {leg: client.search(text, mode=leg, k=100).hits for leg in ("bm25", "knn")}
        for hit in result.hits:
            assert set(hit.legs) == {"bm25", "knn"}
            for leg, detail in hit.legs.items():
                if side == "engine" and leg not in self.exact_engine_legs:
                    assert detail is None or detail.normalized == pytest.approx(1 / (60 + detail.rank), rel=1e-6), (hit.id, leg)
                    continue
                position = next((i for i, h in enumerate(legs[leg], start=1) if h.id == hit.id), None)
                if detail is None:
                    assert position is None, (hit.id, leg)
                    continue
                if side == "engine" and self.engine_ties_own_order:
                    # At most a permutation within a tie: the score at the engine's rank is the hit's own.
                    assert position is not None and legs[leg][detail.rank - 1].score == pytest.approx(detail.score, rel=1e-5), (hit.id, leg)
                    position = detail.rank
                assert detail.rank == position, (hit.id, leg)
                assert detail.score == pytest.approx(legs[leg][position - 1].score, rel=1e-5)
                assert detail.normalized == pytest.approx(1 / (60 + position), rel=1e-6)
            assert hit.score == pytest.approx(sum(d.normalized for d in hit.legs.values() if d), rel=1e-6)
        linear = self.hybrid(client, text, side, k=10, fusion="linear:minmax", explain=True)
        top = linear.hits[0]
        assert top.id == TITANIC
        assert top.score == pytest.approx((top.legs["bm25"].normalized + top.legs["knn"].normalized) / 2, rel=1e-5)

    @pytest.mark.parametrize("text", HOSTILE)
    def test_user_text_is_never_query_syntax(self, client, text, side):
        from neural_search.analysis import tokenize

        literal = " ".join(tokenize(text))
        if side == "client":
            got = client.search(text, mode="bm25", k=20).ids
            expected = client.search(literal, mode="bm25", k=20).ids if literal else []
            assert got == expected
        result = self.hybrid(client, text, side, k=5)
        if result is not None and side == "engine":
            # The plugin got the raw text and escaped it itself: its RRF scores (ranks in both legs)
            # are the client's, so its lexical leg matched exactly what the client's did. Where its
            # BM25 leg is its own (per-shard statistics), they are those of the literal words.
            if "bm25" in self.exact_engine_legs and not self.engine_ties_own_order:
                mine = client.search(text, mode="hybrid", k=5, fusion_at="client")
                assert [h.score for h in result.hits] == pytest.approx([h.score for h in mine.hits], rel=1e-6)
            elif literal:
                # Its own BM25 leg: with the same query vector, the raw text ranks as its literal words.
                from neural_search.fusion import FusionSpec

                physical, vector = client.store.resolve(client.index), client.encoder.encode_query(text)
                run = lambda words: client.store.engine_hybrid(  # noqa: E731
                    physical, words, vector, k=5, offset=0, depth=100, filters=(), fusion=FusionSpec.parse("rrf"), weights=(1.0, 1.0),
                    explain=False,
                )
                assert [h.id for h in run(text)] == [h.id for h in run(literal)]
        if result is not None:
            assert len(result.hits) == 5

    def test_long_empty_and_non_latin_text(self, client, side):
        long_text = ("ship iceberg " * 900)[:10240]
        if side == "client":
            assert client.search(long_text, mode="bm25", k=3).ids[0] == TITANIC
            assert client.search("", mode="hybrid").hits == []
            assert client.search("   ", mode="bm25").hits == []
            for text in ("泰坦尼克号 冰山", "Титаник айсберг", "تايتانيك", "타이타닉"):
                assert len(client.search(text, mode="knn", k=5).hits) == 5
        result = self.hybrid(client, long_text, side, k=3)
        if result is not None:
            assert result.ids[0] == TITANIC
            assert len(self.hybrid(client, "Титаник айсберг", side, k=5).hits) == 5

    def test_rawsum_hybrid_or_clear_refusal(self, client, store):
        if self.engine_fusion:  # every server adds raw scores in one request
            result = client.search("ship sinks after hitting an iceberg", mode="hybrid", fusion="rawsum", k=5)
            assert result.ids[0] == TITANIC and result.fusion_at == "engine" and result.hits[0].legs == {}
        else:
            with pytest.raises(CapabilityError):
                client.search("iceberg", mode="hybrid", fusion="rawsum")
            result = client.search("ship sinks after hitting an iceberg", mode="hybrid", fusion="rawsum", allow_fallback=True, k=5)
            assert result.ids[0] == TITANIC and "fell back" in result.note

    def test_default_side_is_the_cheaper_one(self, client):
        result = client.search("ship sinks after hitting an iceberg", mode="hybrid", k=5)
        assert result.fusion_at == ("engine" if self.engine_fusion_default else "client")
        assert result.ids[0] == TITANIC

    def test_model_fingerprint_is_checked_on_the_engine_side_too(self, store, encoder, tmp_path, fresh):
        other = {**encoder.fingerprint.to_dict(), "weights_sha256": "0" * 64, "id": "someothermodel01"}
        physical = f"{fresh}__v1"
        store.create_physical(physical, fingerprint=other)
        store.publish(fresh, physical)
        for side in ("engine", "client"):
            with pytest.raises(ModelMismatch):
                SearchClient(store=store, index=fresh, encoder=encoder).search("dinosaurs", mode="hybrid", fusion_at=side)


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
            mine, ref = client.search(query, mode="bm25", k=10).hits, reference.search(query, mode="bm25", k=20).hits
            assert len(mine) == min(10, len(ref)) and mine, query
            assert_same_ranking(mine, ref, query)

    def test_knn_matches_exact_search(self, client, reference):
        for query in ("a pig who wants to be a sheepdog", "robots", "a mafia family"):
            mine = client.search(query, mode="knn", k=10).ids
            exact = reference.search(query, mode="knn", k=10).ids
            assert len(set(mine) & set(exact)) >= 9, query
