#!/usr/bin/env python3
"""Encoding throughput on DBpedia abstracts: float32 and float16 side by side, on one device.

The abstracts are the real dump's (`--source long_abstracts_en.ttl.bz2`) or, by default, a
synthetic dump of `--docs` lines in the real format built from the shipped slice's real abstracts
(tests/synthetic_dbpedia.py), read through the indexer's own DBpedia reader, so the text lengths
are the dump's. Each precision encodes the same documents `--repeats` times after a warm-up
batch, with no embedding cache; docs/s is the median. The float16 vectors are checked against the
float32 ones (cosine per document), since an index built with one answers queries of the other.

    python3 benchmarks/bench_encode.py --device cuda --docs 200000           # a GPU machine
    python3 benchmarks/bench_encode.py --device cpu --docs 512 --repeats 1   # float32 only: half precision needs a GPU

Target (issue 15): float16 >= 10,000 docs/s on one H100/H200-class GPU.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

sys.path.insert(0, str(C.ROOT))
from tests.synthetic_dbpedia import write_dump  # noqa: E402

from neural_search.encoding import Encoder  # noqa: E402
from neural_search.sources import read_source  # noqa: E402

TARGET_DOCS_PER_S = 10_000


def documents(source: Path, limit: int) -> list:
    records = read_source(str(source), fmt="dbpedia")
    return [r.document for r in itertools.islice((r for r in records if r.document is not None and not r.document.is_empty), limit)]


def throughput(encoder: Encoder, docs: list, repeats: int) -> tuple[list[float], np.ndarray]:
    encoder.encode_documents(docs[: encoder.batch_size * 4])  # warm-up: model load, kernels, allocator
    rates, vectors = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        vectors = encoder.encode_documents(docs)
        _synchronise(encoder.device)
        rates.append(len(docs) / (time.perf_counter() - t0))
    return rates, vectors


def _synchronise(device: str | None) -> None:
    if device and device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda", help="one device: cuda, cuda:1, cpu (default cuda)")
    p.add_argument("--docs", type=int, default=200_000, help="abstracts encoded per repeat (default 200000)")
    p.add_argument("--source", type=Path, default=None, help="a real long_abstracts_en.ttl[.bz2] (default: a synthetic dump from the shipped slice)")
    p.add_argument("--encode-batch-size", type=int, default=256, help="model forward-pass batch (default 256; GPUs want large ones)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--out", type=Path, default=C.RESULTS_DIR / "bench_encode.json")
    args = p.parse_args()
    if "," in args.device:
        raise SystemExit("--device: one device (the multi-device pool is measured by running this once per device count)")
    if args.docs < 1 or args.repeats < 1:
        raise SystemExit("--docs and --repeats must be >= 1")
    on_gpu = args.device.startswith("cuda")
    if on_gpu:
        import torch

        if not torch.cuda.is_available():
            raise SystemExit(f"--device {args.device}: torch sees no CUDA device here; run on a GPU machine, or pass --device cpu (float32 only)")

    with tempfile.TemporaryDirectory(prefix="bench-encode-") as tmp:
        source = args.source
        if source is None:
            source = Path(tmp) / "long_abstracts_en.ttl"
            write_dump(source, args.docs)
        docs = documents(source, args.docs)
    if not docs:
        raise SystemExit(f"no abstracts read from {source}")
    lengths = [len((d.title or "") + " " + (d.text or "")) for d in docs]
    print(f"{len(docs)} abstracts, {np.mean(lengths):.0f} characters on average; device {args.device}", flush=True)

    results, vectors = {}, {}
    for precision in ("float32", "float16") if on_gpu else ("float32",):
        encoder = Encoder(device=args.device, batch_size=args.encode_batch_size, cache=False, precision=precision)
        rates, vectors[precision] = throughput(encoder, docs, args.repeats)
        results[precision] = {"docs_per_s": [round(r, 1) for r in rates], "median_docs_per_s": round(C.median(rates), 1)}
        print(f"  {precision}: {C.median(rates):,.0f} docs/s (median of {args.repeats})", flush=True)
    rows = [[precision, f"{r['median_docs_per_s']:,.0f}", f"{r['median_docs_per_s'] / results['float32']['median_docs_per_s']:.2f}"] for precision, r in results.items()]
    agreement = None
    if "float16" in vectors:
        cosines = np.einsum("ij,ij->i", vectors["float16"], vectors["float32"])
        agreement = {"mean_cosine": round(float(cosines.mean()), 6), "min_cosine": round(float(cosines.min()), 6)}
        met = results["float16"]["median_docs_per_s"] >= TARGET_DOCS_PER_S
        print(f"float16 against float32 vectors: mean cosine {agreement['mean_cosine']}, min {agreement['min_cosine']}")
        print(f"target float16 >= {TARGET_DOCS_PER_S:,} docs/s: {'met' if met else 'NOT met'}")
    else:
        print("float16 needs a GPU: only float32 was measured")
    print(C.table(["precision", "docs/s", "x float32"], rows))
    payload = {
        **C.run_header("bench_encode", C.machine(), encoder.fingerprint),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "docs": len(docs), "mean_characters": round(float(np.mean(lengths)), 1), "results": results, "float16_vs_float32": agreement,
    }
    print(f"results: {C.write_json(args.out, payload)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
