import bz2

import pytest

from neural_search.errors import SourceFormatError
from neural_search.sources import (
    detect_format,
    read_dbpedia,
    read_jsonl,
    read_qrels,
    read_source,
    unescape_literal,
)

from .conftest import DATASETS

NORDLYS = DATASETS / "dbpedia-2015-10-sample-nordlys"


def test_jsonl_reports_each_bad_line_with_file_and_line(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_bytes(
        b'{"_id": "1", "title": "A", "text": "alpha"}\n'
        b"{broken\n"
        b"\n"
        b'{"_id": 7, "text": "numeric id"}\n'
        b'{"title": "no id"}\n'
        b'{"_id": "x", "text": ["not", "a", "string"]}\n'
        b'{"_id": "bad-bytes", "text": "\xff"}\n'
    )
    records = list(read_jsonl(path))
    assert [r.position for r in records] == [1, 2, 3, 4, 5, 6]
    assert records[0].document.id == "1" and records[0].location == f"{path}:1"
    assert "malformed JSON" in records[1].error and records[1].location.endswith(":2")
    assert records[2].document.id == "7"
    assert records[3].error == "missing or empty `_id`" and records[3].location.endswith(":5")
    assert "must be strings" in records[4].error
    assert "UTF-8" in records[5].error and records[5].location.endswith(":7")


def test_dbpedia_slice_matches_the_jsonl_version():
    records = list(read_source(NORDLYS, "dbpedia"))
    reference = {r.document.id: r.document for r in read_jsonl(NORDLYS / "corpus.jsonl")}
    assert len(records) == len(reference) == 97
    for record in records:
        expected = reference[record.document.id]
        assert (record.document.title, record.document.text) == (expected.title, expected.text)


def test_dbpedia_reads_bz2_streams_skips_comments_and_reports_bad_triples(tmp_path):
    abstracts = tmp_path / "long_abstracts_en.ttl.bz2"
    labels = tmp_path / "labels_en.ttl.bz2"
    lines = [
        "# started 2015-10-01",
        '<http://dbpedia.org/resource/Caf%C3%A9_Rouge> <http://dbpedia.org/ontology/abstract> "A \\"caf\\u00E9\\" chain.\\nSecond line."@en .',
        "<http://dbpedia.org/resource/Broken> <http://dbpedia.org/ontology/abstract> no literal here .",
        '<http://dbpedia.org/resource/AC_DC> <http://dbpedia.org/ontology/abstract> "Rock band."@en .',
    ]
    abstracts.write_bytes(bz2.compress(("\n".join(lines) + "\n").encode()))
    labels.write_bytes(bz2.compress('<http://dbpedia.org/resource/AC_DC> <http://www.w3.org/2000/01/rdf-schema#label> "AC/DC"@en .\n'.encode()))
    records = list(read_source(tmp_path))
    assert detect_format(tmp_path) == "dbpedia"
    assert [r.position for r in records] == [1, 2, 3]
    first = records[0].document
    assert first.id == "<dbpedia:Caf%C3%A9_Rouge>" and first.title == "Café Rouge"
    assert first.text == 'A "café" chain.\nSecond line.'
    assert records[1].error.startswith("unparsable triple") and records[1].location.endswith(":3")
    assert records[2].document.title == "AC/DC"  # the label wins over the URI


def test_read_dbpedia_is_lazy(tmp_path):
    # A generator: nothing is read before iteration, so a 5M-line dump is streamed.
    iterator = read_dbpedia(tmp_path / "missing.ttl")
    with pytest.raises(FileNotFoundError):
        next(iterator)


def test_unescape_literal():
    assert unescape_literal(r"a\tb\u00e9\U0001F600\\") == "a\tbé😀\\"
    with pytest.raises(ValueError):
        unescape_literal(r"\q")


def test_detect_format_and_missing_source(tmp_path):
    (tmp_path / "corpus.jsonl").write_text("")
    assert detect_format(tmp_path) == "beir"
    assert detect_format(tmp_path / "x.jsonl.gz") == "jsonl"
    with pytest.raises(SourceFormatError, match="does not exist"):
        read_source(tmp_path / "nope")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SourceFormatError, match="corpus.jsonl"):
        read_source(empty)


def test_qrels(tmp_path):
    path = tmp_path / "test.tsv"
    path.write_text("query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t0\n")
    assert read_qrels(path) == {"q1": {"d1": 2, "d2": 0}}
    path.write_text("query-id\tcorpus-id\tscore\nq1\td1\n")
    with pytest.raises(SourceFormatError, match=":2"):
        read_qrels(path)
