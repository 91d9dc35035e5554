"""Readers for document collections: BEIR folders, JSONL files and DBpedia abstract dumps.

Every reader streams: the full DBpedia dump has 5M+ abstracts and is never held in memory
(memory stays flat however long the dump: benchmarks/bench_dbpedia_dump.py measures it).
Unreadable entries are yielded as error records (with file and line), never dropped.
`read_source` answers a SourceReader, which also says how far into the file it has read (in
compressed bytes for .bz2/.gz), for a progress bar with an ETA.
"""

from __future__ import annotations

import bz2
import gzip
import io
import json
import re
from pathlib import Path
from typing import BinaryIO, Iterator
from urllib.parse import unquote

from .documents import Document, SourceRecord
from .errors import SourceFormatError

FORMATS = ("auto", "beir", "jsonl", "dbpedia")


def open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".bz2":
        return io.TextIOWrapper(bz2.open(path, "rb"), encoding="utf-8", errors="strict", newline="\n")
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", errors="strict", newline="\n")
    return open(path, encoding="utf-8", newline="\n")


def first_existing(folder: Path, stem: str) -> Path | None:
    """`folder/stem`, or its .bz2 / .gz version, whichever exists first."""
    for suffix in ("", ".bz2", ".gz"):
        candidate = folder / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def detect_format(path: Path) -> str:
    if path.is_dir():
        if first_existing(path, "corpus.jsonl"):
            return "beir"
        if first_existing(path, "long_abstracts_en.ttl"):
            return "dbpedia"
        raise SourceFormatError(
            f"{path} holds neither corpus.jsonl (a BEIR collection) nor long_abstracts_en.ttl[.bz2] "
            "(a DBpedia dump); point --source at one of those"
        )
    name = path.name.removesuffix(".bz2").removesuffix(".gz")
    if name.endswith((".jsonl", ".json", ".ndjson")):
        return "jsonl"
    if name.endswith((".ttl", ".nt")):
        return "dbpedia"
    raise SourceFormatError(f"cannot tell the format of {path}; pass --format beir|jsonl|dbpedia")


class ReadMeter:
    """How many bytes of the file being read (compressed bytes for .bz2/.gz) have been consumed."""

    def __init__(self) -> None:
        self._raw: BinaryIO | None = None
        self._last = 0

    def attach(self, raw: BinaryIO) -> None:
        self._raw = raw

    def detach(self) -> None:
        """The file is about to be closed: its final position stands from now on."""
        self.bytes_read()
        self._raw = None

    def bytes_read(self) -> int:
        raw = self._raw
        if raw is not None and not raw.closed:
            try:
                self._last = raw.tell()
            except (OSError, ValueError):  # closed meanwhile: the last value stands
                pass
        return self._last


class SourceReader:
    """The records of a source (an iterator, as the readers are), with its size in bytes and how
    far the reader has got: sizes are of the file as stored, so a .bz2 dump's bar moves with
    the compressed bytes decompressed so far."""

    def __init__(self, records: Iterator[SourceRecord], *, total_bytes: int, meter: ReadMeter):
        self._records = records
        self.total_bytes = total_bytes
        self._meter = meter

    def __iter__(self) -> "SourceReader":
        return self

    def __next__(self) -> SourceRecord:
        return next(self._records)

    def bytes_read(self) -> int:
        return self._meter.bytes_read()


def read_source(path: str | Path, fmt: str = "auto") -> SourceReader:
    path = Path(path)
    if not path.exists():
        raise SourceFormatError(f"source {path} does not exist")
    if fmt not in FORMATS:
        raise SourceFormatError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "auto":
        fmt = detect_format(path)
    meter = ReadMeter()
    if fmt == "beir":
        corpus = first_existing(path, "corpus.jsonl") if path.is_dir() else path
        if corpus is None:
            raise SourceFormatError(f"{path} has no corpus.jsonl")
        return SourceReader(read_jsonl(corpus, meter=meter), total_bytes=corpus.stat().st_size, meter=meter)
    if fmt == "jsonl":
        return SourceReader(read_jsonl(path, meter=meter), total_bytes=path.stat().st_size, meter=meter)
    if path.is_dir():
        abstracts = first_existing(path, "long_abstracts_en.ttl")
        if abstracts is None:
            raise SourceFormatError(f"{path} has no long_abstracts_en.ttl[.bz2]")
        labels = first_existing(path, "labels_en.ttl")
    else:
        abstracts, labels = path, first_existing(path.parent, "labels_en.ttl")
    return SourceReader(read_dbpedia(abstracts, labels, meter=meter), total_bytes=abstracts.stat().st_size, meter=meter)


def source_identity(path: str | Path) -> dict:
    """What a checkpoint remembers about a source to notice that it changed since."""
    path = Path(path).resolve()
    files = sorted(p for p in path.iterdir() if p.is_file()) if path.is_dir() else [path]
    return {"path": str(path), "files": {p.name: p.stat().st_size for p in files}}


def _lines(path: Path, meter: ReadMeter | None = None) -> Iterator[tuple[int, str | None, str | None]]:
    """Yields (line number, line, decode error) so a bad byte costs one line, not the file.
    Line by line from a buffered stream: memory does not grow with the file."""
    path = Path(path)
    with open(path, "rb") as raw:
        if meter is not None:
            meter.attach(raw)
        handle = bz2.BZ2File(raw) if path.suffix == ".bz2" else gzip.GzipFile(fileobj=raw) if path.suffix == ".gz" else raw
        with handle:
            try:
                yield from _numbered(handle)
            finally:
                if meter is not None:
                    meter.detach()


def _numbered(handle: BinaryIO) -> Iterator[tuple[int, str | None, str | None]]:
    for number, raw in enumerate(handle, start=1):
        try:
            yield number, raw.decode("utf-8").rstrip("\r\n"), None
        except UnicodeDecodeError as exc:
            yield number, None, f"not valid UTF-8 ({exc.reason} at byte {exc.start})"


def read_jsonl(path: str | Path, *, meter: ReadMeter | None = None) -> Iterator[SourceRecord]:
    path = Path(path)
    position = 0
    for number, line, decode_error in _lines(path, meter):
        if line is not None and not line.strip():
            continue
        position += 1
        location = f"{path}:{number}"
        if decode_error:
            yield SourceRecord(position, location, error=decode_error)
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            yield SourceRecord(position, location, error=f"malformed JSON: {exc.msg} at column {exc.colno}", raw=line)
            continue
        if not isinstance(obj, dict):
            yield SourceRecord(position, location, error="a line must hold a JSON object", raw=line)
            continue
        doc_id = obj.get("_id", obj.get("id"))
        if isinstance(doc_id, (int, float)) and not isinstance(doc_id, bool):
            doc_id = str(doc_id)
        if not isinstance(doc_id, str) or not doc_id.strip():
            yield SourceRecord(position, location, error="missing or empty `_id`", raw=line)
            continue
        title, text, metadata = obj.get("title") or "", obj.get("text") or "", obj.get("metadata") or {}
        if not isinstance(title, str) or not isinstance(text, str) or not isinstance(metadata, dict):
            yield SourceRecord(
                position, location, error="`title` and `text` must be strings, `metadata` an object", raw=line
            )
            continue
        yield SourceRecord(position, location, Document(id=doc_id, title=title, text=text, metadata=metadata))


# One N-Triples statement whose object is a literal: <s> <p> "literal"(@lang|^^<type>)? .
# The literal is matched as an "unrolled loop" (runs of plain characters between escapes): eight
# times faster than one character per step on abstracts of 1-2 KB, and, unlike a nested
# `(?:[^"\\]+|\\.)*`, it fails in linear time on a damaged line with no closing quote.
_TRIPLE = re.compile(r'^<([^>]+)>\s+<([^>]+)>\s+"([^"\\]*(?:\\.[^"\\]*)*)"(?:@[A-Za-z-]+|\^\^<[^>]+>)?\s*\.\s*$')
_ESCAPE = re.compile(r'\\(?:u([0-9A-Fa-f]{4})|U([0-9A-Fa-f]{8})|(.))', re.DOTALL)
_SIMPLE_ESCAPES = {"t": "\t", "b": "\b", "n": "\n", "r": "\r", "f": "\f", '"': '"', "'": "'", "\\": "\\"}
DBPEDIA_RESOURCE = "http://dbpedia.org/resource/"


def unescape_literal(value: str) -> str:
    def replace(match: re.Match) -> str:
        short, long, simple = match.groups()
        if short or long:
            return chr(int(short or long, 16))
        if simple in _SIMPLE_ESCAPES:
            return _SIMPLE_ESCAPES[simple]
        raise ValueError(f"unknown escape \\{simple}")

    return _ESCAPE.sub(replace, value)


def dbpedia_id(uri: str) -> str:
    """`http://dbpedia.org/resource/Rome` -> `<dbpedia:Rome>`, the id convention of DBpedia-Entity/BEIR."""
    if uri.startswith(DBPEDIA_RESOURCE):
        return f"<dbpedia:{uri[len(DBPEDIA_RESOURCE):]}>"
    return f"<{uri}>"


def title_from_uri(uri: str) -> str:
    return unquote(uri.rsplit("/", 1)[-1]).replace("_", " ")


def _parse_triple(line: str) -> tuple[str, str, str]:
    match = _TRIPLE.match(line)
    if not match:
        raise ValueError("not an N-Triples statement with a literal object")
    subject, predicate, literal = match.groups()
    return subject, predicate, unescape_literal(literal)


def read_labels(path: Path) -> dict[str, str]:
    """Labels that differ from the title derived from the URI.

    Nearly every DBpedia label equals its URI with underscores as spaces, so only the
    exceptions are kept: the full labels dump (12M lines) then fits in little memory.
    """
    exceptions: dict[str, str] = {}
    for _number, line, _error in _lines(path):
        if not line or line.startswith("#"):
            continue
        try:
            subject, _predicate, label = _parse_triple(line)
        except ValueError:
            continue
        if label != title_from_uri(subject):
            exceptions[subject] = label
    return exceptions


def read_dbpedia(abstracts: str | Path, labels: str | Path | None = None, *, meter: ReadMeter | None = None) -> Iterator[SourceRecord]:
    abstracts = Path(abstracts)
    label_exceptions = read_labels(labels) if labels else {}
    position = 0
    for number, line, decode_error in _lines(abstracts, meter):
        if line is not None and (not line.strip() or line.startswith("#")):
            continue
        position += 1
        location = f"{abstracts}:{number}"
        if decode_error:
            yield SourceRecord(position, location, error=decode_error)
            continue
        try:
            subject, predicate, abstract = _parse_triple(line)
        except ValueError as exc:
            yield SourceRecord(position, location, error=f"unparsable triple: {exc}", raw=line)
            continue
        title = label_exceptions.get(subject) or title_from_uri(subject)
        document = Document(id=dbpedia_id(subject), title=title, text=abstract, metadata={"uri": subject})
        yield SourceRecord(position, location, document)


def read_queries(path: Path) -> dict[str, str]:
    queries: dict[str, str] = {}
    for record in read_jsonl(path):
        if record.error or record.document is None:
            raise SourceFormatError(f"{record.location}: {record.error}")
        queries[record.document.id] = record.document.text or record.document.title
    return queries


def read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    with open_text(path) as handle:
        for number, line in enumerate(handle, start=1):
            parts = line.rstrip("\n").split("\t")
            if number == 1 and parts[0] == "query-id":
                continue
            if not line.strip():
                continue
            if len(parts) != 3:
                raise SourceFormatError(f"{path}:{number}: expected query-id<TAB>corpus-id<TAB>score")
            try:
                score = int(parts[2])
            except ValueError:
                raise SourceFormatError(f"{path}:{number}: score {parts[2]!r} is not an integer") from None
            qrels.setdefault(parts[0], {})[parts[1]] = score
    return qrels
