"""The DBpedia dump at full size: a bz2 `long_abstracts_en.ttl` in the real format, streamed in flat
memory, with a progress bar over the compressed bytes, --min-tokens, the skipped documents
counted by cause, read = indexed + skipped + failed, and a resume after a crash.

The dumps are synthetic (tests/synthetic_dbpedia.py: the real lines of the shipped nordlys slice,
repeated under distinct URIs); benchmarks/bench_dbpedia_dump.py runs the same at 1M lines. The
model is the hash stand-in: what is tested is the reading and the write path, not the vectors.
"""

from __future__ import annotations

import json
import subprocess
import sys
from itertools import islice
from pathlib import Path

import pytest

from neural_search.engines.embedded import EmbeddedStore
from neural_search.indexing import Indexer, _progress
from neural_search.sources import read_source

from .conftest import REPO
from .crashing import FAST_RETRY, Crash, DyingEmbeddedStore
from .hash_encoder import HashEncoder
from .synthetic_dbpedia import NORDLYS, write_dump

LINES = 20_000


@pytest.fixture(scope="module")
def dump(tmp_path_factory):
    if not (NORDLYS / "long_abstracts_en.ttl").exists():
        pytest.skip(f"the nordlys slice is not at {NORDLYS}")
    return write_dump(tmp_path_factory.mktemp("dump") / "long_abstracts_en.ttl.bz2", LINES, bad_every=997, min_tokens=(21,))


# Runs in a fresh interpreter so its RSS is this run's alone; samples VmRSS as the records stream.
_RUN = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from neural_search.engines.embedded import EmbeddedStore
from neural_search.indexing import Indexer
from neural_search.sources import read_source
from tests.hash_encoder import HashEncoder

def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024

samples = []
def sampled(records):
    for n, record in enumerate(records, start=1):
        if n % 1000 == 0:
            samples.append((n, rss()))
        yield record

store = EmbeddedStore(path=sys.argv[3] + "/engine")
indexer = Indexer(store, HashEncoder(), state_dir=sys.argv[3] + "/state", batch_size=256, parallel_bulk=2, min_tokens=21, progress=False)
summary = indexer.run(sampled(read_source(sys.argv[2])), name="dbpedia", source={"dump": sys.argv[2]})
print(json.dumps({"summary": summary.to_dict(), "samples": samples}))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmRSS from /proc")
def test_the_dump_streams_in_flat_memory_and_every_line_is_accounted_for(dump, tmp_path):
    out = subprocess.run([sys.executable, "-c", _RUN, str(REPO), str(dump.path), str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout)
    summary, samples = result["summary"], result["samples"]
    assert summary["read"] == LINES
    assert summary["read"] == summary["indexed"] + summary["skipped"] + summary["failed"]
    assert summary["failed"] == dump.bad > 0
    assert summary["skipped_by_cause"] == {"min_tokens": dump.short[21]} and dump.short[21] > 0
    assert summary["count_in_engine"] == summary["indexed"] == LINES - dump.bad - dump.short[21]
    # Flat: what is held after a quarter of the dump is all that is ever held, give or take the
    # allocator; holding the documents read would add ~1 KB of text (and its objects) per line.
    quarter = next(r for n, r in samples if n >= LINES // 4)
    growth = max(r for _, r in samples) - quarter
    assert growth < 12 * 2**20, f"RSS grew by {growth / 2**20:.1f} MiB over {LINES * 3 // 4} lines: {samples[::4]}"
    dead = [json.loads(line) for line in Path(summary["dead_letter"]).read_text(encoding="utf-8").splitlines()]
    assert len(dead) == summary["skipped"] + summary["failed"]
    short = [e for e in dead if e["kind"] == "skipped"]
    assert all(e["cause"] == "min_tokens" and "fewer than --min-tokens 21" in e["reason"] for e in short)
    assert all(e["reason"].startswith("unparsable triple") for e in dead if e["kind"] == "failed")


def test_progress_follows_the_compressed_bytes(dump):
    reader = read_source(dump.path)
    size = dump.path.stat().st_size
    assert reader.total_bytes == size
    bar = _progress(True, "dbpedia", 0, reader)
    try:
        assert bar.bar.total == size and bar.bar.unit == "B"
        seen = []
        for n, _record in enumerate(reader, start=1):
            if n % 5000 == 0:
                bar.update(5000)
                seen.append(bar.bar.n)
        bar.update(0)
    finally:
        bar.close()
    assert seen == sorted(seen) and 0 < seen[0] < size / 2
    assert bar.bar.n == size, "at the end every compressed byte has been read"


def test_a_crashed_run_over_the_dump_resumes_exactly_once(dump, tmp_path):
    def run(store):
        indexer = Indexer(store, HashEncoder(), state_dir=tmp_path / "state", batch_size=64, max_chunk_docs=32, parallel_bulk=3,
                          min_tokens=21, progress=False, retry=FAST_RETRY)
        return indexer.run(islice(read_source(dump.path), 3000), name="dbpedia", source={"dump": str(dump.path), "limit": 3000})

    with pytest.raises(Crash):
        run(DyingEmbeddedStore(path=tmp_path / "engine", die_at=9))
    summary = run(EmbeddedStore(path=tmp_path / "engine"))
    assert summary.resumed_from > 0
    assert summary.read == 3000 == summary.indexed + summary.skipped + summary.failed
    store = EmbeddedStore(path=tmp_path / "engine")
    physical = store.resolve("dbpedia")
    assert store.count(physical) == summary.indexed == len(store.ids(physical))
    dead = Path(summary.dead_letter).read_text(encoding="utf-8").splitlines()
    assert len(dead) == summary.skipped + summary.failed
    assert summary.skipped == summary.skipped_by_cause["min_tokens"]


def test_the_command_skips_short_abstracts_and_refuses_a_changed_rule_on_resume(tmp_path, monkeypatch, capsys):
    """`neural-search index` on the real slice, with the real model: --min-tokens 21 as the seed
    system, --parallel-bulk 3, the skipped counted by cause; a checkpoint written under one
    --min-tokens is not resumed under another (the source identity includes it)."""
    from neural_search.checkpoints import Checkpoint, CheckpointFile
    from neural_search.cli import main
    from neural_search.sources import source_identity

    from .synthetic_dbpedia import literal_tokens, template_lines

    monkeypatch.setenv("NEURAL_SEARCH_HOME", str(tmp_path / "home"))
    short = sum(1 for line in template_lines() if literal_tokens(line) < 21)
    assert short > 0
    common = ["index", "--source", str(NORDLYS), "--format", "dbpedia", "--index", "scale-airlines", "--quiet", "--json",
              "--state-dir", str(tmp_path / "state"), "--data-dir", str(tmp_path / "engine")]
    assert main([*common, "--min-tokens", "21", "--parallel-bulk", "3", "--batch-size", "16"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["read"], summary["skipped"], summary["failed"]) == (97, short, 0)
    assert summary["skipped_by_cause"] == {"min_tokens": short} and summary["indexed"] == summary["count_in_engine"] == 97 - short
    store = EmbeddedStore(path=tmp_path / "engine")
    model_id = store.get_fingerprint(store.resolve("scale-airlines"))["id"]

    def unfinished(min_tokens: int) -> None:
        identity = {**source_identity(NORDLYS), "format": "dbpedia", "limit": None, "min_tokens": min_tokens}
        CheckpointFile(tmp_path / "state" / "embedded" / "scale-airlines.checkpoint.json").save(Checkpoint(
            engine="embedded", index="scale-airlines", physical="scale-airlines__v1", publish=True, previous=None, source=identity,
            model_id=model_id, position=10))

    unfinished(30)  # a run under --min-tokens 30 was killed: the command with 21 must not take it over
    assert main([*common, "--min-tokens", "21"]) == 2
    assert "another source or model" in capsys.readouterr().err
    unfinished(21)  # the same rule: taken over (and refused only because its index is gone)
    assert main([*common, "--min-tokens", "21"]) == 2
    assert "no longer exists" in capsys.readouterr().err
