#!/usr/bin/env python3
"""The DBpedia dump path at full size: peak and growing RSS, and lines/s, over a synthetic
`long_abstracts_en.ttl.bz2` of --lines lines in the real format (the shipped nordlys slice's real
lines under distinct URIs, tests/synthetic_dbpedia.py), read by `neural_search.sources` and run
through the indexer's batching (--min-tokens 21) with the hash stand-in for the model, into the
embedded engine (--index embedded) or into nothing (--index none: reading, parsing, batching and
the distinct-id count alone). RSS is sampled from /proc/self/status every 10,000 lines.

    python3 benchmarks/bench_dbpedia_dump.py --lines 1000000 --index none
    python3 benchmarks/bench_dbpedia_dump.py --lines 200000 --index embedded
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

sys.path.insert(0, str(C.ROOT))
from tests.hash_encoder import HashEncoder  # noqa: E402
from tests.synthetic_dbpedia import write_dump  # noqa: E402

from neural_search.bulk import DistinctIds, batches  # noqa: E402
from neural_search.engines.embedded import EmbeddedStore  # noqa: E402
from neural_search.indexing import Indexer  # noqa: E402
from neural_search.sources import read_source  # noqa: E402


def rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--lines", type=int, default=1_000_000)
    p.add_argument("--index", choices=("none", "embedded"), default="none")
    p.add_argument("--dump", type=Path, default=None, help="reuse this synthetic dump (default: generate one in a temporary folder)")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-dump-") as tmp:
        path = args.dump or Path(tmp) / "long_abstracts_en.ttl.bz2"
        if not path.exists():
            t0 = time.perf_counter()
            write_dump(path, args.lines, bad_every=100_003)
            print(f"wrote {path} ({path.stat().st_size / 2**20:.0f} MiB bz2) in {time.perf_counter() - t0:.0f} s")
        samples: list[tuple[int, int]] = []

        def sampled(records):
            for n, record in enumerate(records, start=1):
                if n % 10_000 == 0:
                    samples.append((n, rss()))
                yield record

        start_rss = rss()
        t0 = time.perf_counter()
        reader = read_source(path)
        if args.index == "none":
            ids, counts = DistinctIds(), {"read": 0, "documents": 0, "skipped": 0, "failed": 0}
            for batch in batches(sampled(reader), 256, min_tokens=21):
                ids.update(d.id for d in batch.documents)
                counts["read"] += batch.records
                counts["documents"] += len(batch.documents)
                counts["skipped"] += len(batch.skipped)
                counts["failed"] += len(batch.unreadable)
            counts["distinct_ids"] = len(ids)
        else:
            store = EmbeddedStore(path=Path(tmp) / "engine")
            summary = Indexer(store, HashEncoder(), state_dir=Path(tmp) / "state", min_tokens=21, progress=False).run(
                sampled(reader), name="dbpedia", source={"dump": str(path)})
            counts = {k: summary.to_dict()[k] for k in ("read", "indexed", "skipped", "failed", "skipped_by_cause")}
        seconds = time.perf_counter() - t0
    first = next((r for n, r in samples if n >= len(samples) * 10_000 // 10), start_rss)
    peak = max((r for _, r in samples), default=start_rss)
    result = {
        "lines": args.lines, "index": args.index, "seconds": round(seconds, 1), "lines_per_s": round(args.lines / seconds),
        "rss_start_mib": round(start_rss / 2**20, 1), "rss_at_10pct_mib": round(first / 2**20, 1), "rss_peak_mib": round(peak / 2**20, 1),
        "growth_after_10pct_mib": round((peak - first) / 2**20, 1), "counts": counts,
    }
    for key, value in result.items():
        print(f"{key:>24}: {value}")
    out = args.out or C.RESULTS_DIR / f"dbpedia-dump-{time.strftime('%Y%m%d-%H%M%S')}.json"
    C.write_json(out, {"benchmark": "bench_dbpedia_dump", "when": C.timestamp(), "command": C.command_line(), "git": C.git_commit(),
                       "result": result, "samples": samples})
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
