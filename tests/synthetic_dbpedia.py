"""A synthetic DBpedia `long_abstracts_en.ttl[.bz2]` of any length, in the real dump's format: the
real lines of the shipped nordlys slice (a slice of the 2015-10 dump), repeated with a distinct
resource URI per line, between the dump's `# started` / `# completed` comment lines. Every
`bad_every`-th line is an unparsable triple, as a damaged dump would have.

Used by tests/test_dbpedia_dump.py (streaming, memory, --min-tokens) and
benchmarks/bench_dbpedia_dump.py (1M lines, RSS and docs/s).
"""

from __future__ import annotations

import bz2
import re
from dataclasses import dataclass
from pathlib import Path

NORDLYS = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "dbpedia-2015-10-sample-nordlys"
_SUBJECT = re.compile(r"^<http://dbpedia\.org/resource/([^>]+)>")
_LITERAL = re.compile(r'"((?:[^"\\]|\\.)*)"@en \.$')


@dataclass(frozen=True)
class Dump:
    path: Path
    lines: int  # triples, the comment lines not counted
    bad: int
    short: dict[int, int]  # min_tokens -> how many of the good lines have fewer tokens than that


def template_lines(slice_dir: Path = NORDLYS) -> list[str]:
    return [line for line in (slice_dir / "long_abstracts_en.ttl").read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]


def literal_tokens(line: str) -> int:
    """Whitespace tokens of the abstract of one line of the slice (0 for a line without one)."""
    match = _LITERAL.search(line)
    return len(match.group(1).replace("\\n", " ").split()) if match else 0


def write_dump(path: Path, lines: int, *, bad_every: int = 0, min_tokens: tuple[int, ...] = (21,), compresslevel: int = 1) -> Dump:
    """Writes `lines` triples to `path` (bz2-compressed when it ends with .bz2)."""
    templates = template_lines()
    tokens = [literal_tokens(line) for line in templates]
    short = dict.fromkeys(min_tokens, 0)
    bad = 0
    opener = (lambda p: bz2.open(p, "wt", encoding="utf-8", compresslevel=compresslevel)) if path.suffix == ".bz2" else (
        lambda p: open(p, "w", encoding="utf-8"))
    with opener(path) as out:
        out.write("# started 2015-11-01T00:00:00Z\n")
        buffer = []
        for i in range(lines):
            if bad_every and (i + 1) % bad_every == 0:
                buffer.append(f"<http://dbpedia.org/resource/Broken_{i}> <http://dbpedia.org/ontology/abstract> \"no closing quote@en .\n")
                bad += 1
            else:
                k = i % len(templates)
                buffer.append(_SUBJECT.sub(lambda m: f"<http://dbpedia.org/resource/{m.group(1)}_{i}>", templates[k], count=1) + "\n")
                for n in short:
                    short[n] += tokens[k] < n
            if len(buffer) >= 4096:
                out.write("".join(buffer))
                buffer.clear()
        out.write("".join(buffer))
        out.write("# completed 2015-11-01T01:00:00Z\n")
    return Dump(path, lines, bad, short)
