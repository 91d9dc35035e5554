"""`neural-search`: index collections, search them, run the demo, compare engines."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
from pathlib import Path

from .compare import add_compare_parser
from .serve import add_serve_parser
from .config import EngineConfig
from .errors import ConfigurationError, NeuralSearchError
from .registry import ENGINES

log = logging.getLogger("neural_search")


def default_state_dir() -> Path:
    base = os.environ.get("NEURAL_SEARCH_HOME") or os.path.join(
        os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share"), "neural-search"
    )
    return Path(base) / "state"


def add_engine_arguments(parser: argparse.ArgumentParser, *, default: str = "embedded") -> None:
    group = parser.add_argument_group("engine connection (flags win over NEURAL_SEARCH_<ENGINE>_* variables)")
    group.add_argument("--engine", choices=ENGINES, default=os.environ.get("NEURAL_SEARCH_ENGINE", default))
    group.add_argument(
        "--url", help="engine URL, e.g. http://127.0.0.1:9200; several nodes comma-separated (default: NEURAL_SEARCH_<ENGINE>_URL or the local port)",
    )
    group.add_argument("--username", help="basic-auth user (NEURAL_SEARCH_<ENGINE>_USERNAME)")
    group.add_argument("--password-env", metavar="VAR", help="name of the environment variable holding the password (default NEURAL_SEARCH_<ENGINE>_PASSWORD); never pass secrets as flags")
    group.add_argument("--api-key-env", metavar="VAR", help="name of the environment variable holding an API key (Elasticsearch/OpenSearch)")
    group.add_argument("--ca-certs", help="CA bundle for TLS (verification is on by default)")
    group.add_argument("--insecure", action="store_true", help="do not verify TLS certificates (not for production)")
    group.add_argument("--timeout", type=float, default=None, help="seconds per engine request (default 30, or NEURAL_SEARCH_<ENGINE>_TIMEOUT)")
    group.add_argument("--data-dir", help="embedded engine's directory (default $NEURAL_SEARCH_HOME/embedded)")


def open_store_from_args(args: argparse.Namespace, engine: str | None = None):
    from .engines import open_store

    engine = engine or args.engine
    layout = _layout(args)
    options = _options(args)
    if engine == "embedded":
        # compare (no --engine) opens the embedded engine as one of several: it stays in one piece
        # there, and exact (the reference), whatever vector index the server engines are given.
        if args.engine != "embedded" and options is not None and options.vector is not None:
            options = dataclasses.replace(options, vector=None)
        return open_store("embedded", path=args.data_dir, layout=layout if args.engine == "embedded" else None, options=options)
    overrides = {"url": args.url, "username": args.username, "ca_certs": args.ca_certs, "timeout": args.timeout}
    for flag, key in (("password_env", "password"), ("api_key_env", "api_key")):
        variable = getattr(args, flag)
        if variable:
            if not os.environ.get(variable):
                raise ConfigurationError(f"--{flag.replace('_', '-')} names {variable}, which is not set (or empty)")
            overrides[key] = os.environ[variable]
    if args.insecure:
        overrides["verify_certs"] = False
    return open_store(engine, config=EngineConfig.from_env(engine, **overrides), options=options, **({"layout": layout} if layout else {}))


def _layout(args: argparse.Namespace):
    """The IndexLayout that --shards/--replicas ask for, or None when neither was given."""
    from .engines.base import IndexLayout

    shards, replicas = getattr(args, "shards", None), getattr(args, "replicas", None)
    if shards is None and replicas is None:
        return None
    return IndexLayout(1 if shards is None else shards, replicas)


def _options(args: argparse.Namespace):
    """The IndexOptions that the index options flags ask for, or None when none was given (then a
    new index gets the defaults and an existing one is taken as it is)."""
    from .engines.base import DEFAULT_ANALYZER, IndexOptions
    from .engines.vector_index import VectorIndexOptions

    analyzer = getattr(args, "analyzer", None)
    kind, m, ef = (getattr(args, name, None) for name in ("vector_index", "hnsw_m", "hnsw_ef_construction"))
    vector = None if kind is None and m is None and ef is None else VectorIndexOptions(type=kind or "hnsw", m=m, ef_construction=ef)
    if analyzer is None and vector is None:
        return None
    return IndexOptions(analyzer=analyzer or DEFAULT_ANALYZER, vector=vector)


def add_index_options_arguments(p: argparse.ArgumentParser) -> None:
    from .analysis import ANALYZERS

    p.add_argument(
        "--analyzer", choices=ANALYZERS, default=None,
        help="text analysis of a new index: english (words lowercased, possessives, stop words and Porter stems; the "
        "default: higher BM25 on every English collection measured, docs/relevance.md) or standard (words lowercased; for "
        "other languages). An existing index with another one is refused (use --recreate)",
    )
    from .engines.vector_index import ALL_TYPES, ENGINE_TYPES

    per_engine = "; ".join(f"{engine}: {', '.join(types)}" for engine, types in ENGINE_TYPES.items())
    p.add_argument(
        "--vector-index", choices=ALL_TYPES, default=None, metavar="TYPE",
        help=f"ANN index of the vector field of a new index (default hnsw, float, m 16, ef_construction 100). {per_engine}. "
        "See docs/ann.md",
    )
    p.add_argument("--hnsw-m", type=int, default=None, metavar="N", help="HNSW connections per node of a new index (default 16)")
    p.add_argument("--hnsw-ef-construction", type=int, default=None, metavar="N", help="HNSW build beam width of a new index (default 100)")


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2", help="sentence-transformers model name or local path")
    p.add_argument(
        "--query-prompt", default=None,
        help="text put before every query for models that need it (e5: 'query: '; bge: its instruction); part of the model fingerprint. "
        "Default: the model's own query prompt, if its configuration names one",
    )
    p.add_argument(
        "--document-prompt", default=None,
        help="text put before every document (e5: 'passage: '); part of the model fingerprint",
    )


def add_fields_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--fields", default=None,
        help="BM25 fields: content (title and text as one field, the default) or several with weights, e.g. 'title^2,text': "
        "each field scored on its own, the best plus --tie-breaker times the others (Elasticsearch's best_fields)",
    )
    p.add_argument("--tie-breaker", type=float, default=None, help="with several --fields: weight of the fields other than the best (0 to 1; default 0)")


def _add_compare_engine_arguments(p: argparse.ArgumentParser) -> None:
    add_engine_arguments(p)
    add_layout_arguments(p)
    add_index_options_arguments(p)


def add_layout_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--shards", type=int, default=None, help="primary shards of a new index (default 1; Elasticsearch, OpenSearch, SolrCloud)")
    p.add_argument(
        "--replicas", type=int, default=None,
        help="copies of each shard besides the primary (default: the engine's, 1 on Elasticsearch/OpenSearch, 0 on SolrCloud)",
    )


def _encoder(args: argparse.Namespace):
    from .embedding_cache import EmbeddingCache
    from .encoding import Encoder

    cache = False if getattr(args, "no_cache", False) else EmbeddingCache(getattr(args, "cache", None))
    return Encoder(
        model=args.model, device=getattr(args, "device", None), batch_size=getattr(args, "encode_batch_size", 32), cache=cache,
        query_prompt=getattr(args, "query_prompt", None), document_prompt=getattr(args, "document_prompt", None),
        precision="float16" if getattr(args, "fp16", False) else "float32",
    )


def _ray_encoder(args: argparse.Namespace):
    from .embedding_cache import EmbeddingCache
    from .ray_encoding import RayEncoder

    if getattr(args, "device", None):
        raise ConfigurationError("--device and --ray do not go together: on Ray each actor gets a GPU of the cluster (or a CPU)")
    cache = False if args.no_cache else EmbeddingCache(args.cache)
    return RayEncoder(
        address=args.ray, model=args.model, actors=args.ray_actors, batch_size=args.encode_batch_size, cache=cache,
        query_prompt=getattr(args, "query_prompt", None), document_prompt=getattr(args, "document_prompt", None),
        precision="float16" if getattr(args, "fp16", False) else "float32",
    )


def cmd_index(args: argparse.Namespace) -> int:
    from .indexing import Indexer, RetryPolicy
    from .sources import read_source, source_identity

    store = open_store_from_args(args)
    encoder = _ray_encoder(args) if getattr(args, "ray", None) else _encoder(args)
    records = read_source(args.source, args.format)
    if args.limit is not None:
        from itertools import islice

        records = islice(records, args.limit)
    indexer = Indexer(
        store,
        encoder,
        state_dir=args.state_dir,
        batch_size=args.batch_size,
        max_chunk_docs=args.chunk_docs,
        max_chunk_bytes=args.chunk_bytes,
        retry=RetryPolicy(budget_seconds=args.retry_budget),
        layout=_layout(args),
        options=_options(args),
        parallel_bulk=args.parallel_bulk,
        min_tokens=args.min_tokens,
        progress=not args.quiet,
    )
    identity = {**source_identity(args.source), "format": args.format, "limit": args.limit}
    if args.min_tokens:  # only when given, so checkpoints of earlier runs still match
        identity["min_tokens"] = args.min_tokens
    try:
        summary = indexer.run(records, name=args.index, source=identity, recreate=args.recreate, restart=args.restart)
    finally:
        encoder.close()  # the worker processes of --device a,b and the actors of --ray
    if args.json:
        print(json.dumps(summary.to_dict(), indent=1))
    else:
        print(summary.render())
    return 0


def parse_filters(values: list[str]) -> dict:
    """FIELD=VALUE (repeat a field for any-of), FIELD>=N, FIELD<=N, FIELD>N, FIELD<N."""
    filters: dict = {}
    for raw in values:
        for op, key in ((">=", "gte"), ("<=", "lte"), (">", "gt"), ("<", "lt")):
            if op in raw:
                field, value = raw.split(op, 1)
                filters.setdefault(field, {})[key] = _scalar(value)
                break
        else:
            if "=" not in raw:
                raise NeuralSearchError(f"--filter {raw!r}: use FIELD=VALUE, FIELD>=N, FIELD<=N, FIELD>N or FIELD<N")
            field, value = raw.split("=", 1)
            if field in filters:
                previous = filters[field]
                filters[field] = (previous if isinstance(previous, list) else [previous]) + [_scalar(value)]
            else:
                filters[field] = _scalar(value)
    return filters


def _scalar(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if text in ("true", "false"):
        return text == "true"
    return text


def cmd_search(args: argparse.Namespace) -> int:
    from .search import SearchClient

    from .profiles import SearchProfile

    profile = SearchProfile.load(args.profile) if args.profile else None
    store = open_store_from_args(args)
    encoder = _encoder(args) if args.mode != "bm25" else None
    settings = profile.search_settings() if profile else {}
    weights = {"bm25": args.bm25_weight, "knn": args.knn_weight} if args.bm25_weight is not None or args.knn_weight is not None else None
    if weights:
        weights = {k: (1.0 if v is None else v) for k, v in weights.items()}
    # Flags given win over the profile's settings.
    explicit = {
        "fusion": args.fusion, "weights": weights, "candidates": args.candidates, "fields": args.fields, "tie_breaker": args.tie_breaker,
    }
    settings.update({key: value for key, value in explicit.items() if value is not None})
    settings.setdefault("fusion", "rrf")
    client = SearchClient(
        store=store, index=args.index, encoder=encoder, candidates=settings.pop("candidates", 100), analyzer=args.analyzer,
        fields=settings.pop("fields", None), tie_breaker=settings.pop("tie_breaker", None),
    )
    result = client.search(
        args.query, mode=args.mode, k=args.k, offset=args.offset, filters=parse_filters(args.filter),
        fusion_at=args.fusion_at, explain=True if args.explain else None, allow_fallback=args.allow_fallback, **settings,
    )
    if args.json:
        print(json.dumps(_result_json(result), indent=1, ensure_ascii=False))
        return 0
    header = f"{result.engine}:{result.index} mode={result.mode}" + (f" fusion={result.fusion}" if result.fusion else "")
    header += f" fields={result.fields}" if result.fields != "content" and result.mode != "knn" else ""
    header += f" fused in the {result.fusion_at}" if result.fusion_at else ""
    print(f"{header}  ({result.timings_ms['total_ms']:.0f} ms)")
    if result.note:
        print(f"note: {result.note}")
    for hit in result.hits:
        print(f"{hit.rank:>3}. {hit.score:10.4f}  {hit.id}  {hit.title[:80]}")
        if args.explain:
            print(f"      {hit.explain()}")
    if not result.hits:
        print("(no hits)")
    client.close()
    return 0


def _result_json(result) -> dict:
    return {
        "engine": result.engine, "index": result.index, "mode": result.mode, "fusion": result.fusion, "fusion_at": result.fusion_at,
        "fields": result.fields,
        "offset": result.offset, "k": result.k, "timings_ms": dict(result.timings_ms), "note": result.note,
        "hits": [
            {
                "rank": h.rank, "id": h.id, "title": h.title, "score": h.score, "metadata": dict(h.metadata),
                "legs": {leg: (None if d is None else {"score": d.score, "rank": d.rank, "normalized": d.normalized}) for leg, d in h.legs.items()},
            }
            for h in result.hits
        ],
    }


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(args, open_store_from_args(args), _encoder(args))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="neural-search", description="BM25, vector and hybrid search on Elasticsearch, OpenSearch, Solr and an embedded engine.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("index", help="encode a collection and write it to an engine")
    p.add_argument("--source", required=True, help="BEIR folder, JSONL file, or DBpedia long_abstracts_en.ttl[.bz2] (with labels_en.ttl beside it)")
    p.add_argument("--format", default="auto", choices=("auto", "beir", "jsonl", "dbpedia"))
    p.add_argument("--index", required=True, help="logical index name (an alias or core pointing at a versioned index)")
    add_model_arguments(p)
    p.add_argument(
        "--device", default=None,
        help="cpu, cuda, cuda:1 ..., or several comma-separated (cuda:0,cuda:1: a worker process per device); default: what sentence-transformers picks",
    )
    p.add_argument(
        "--fp16", action="store_true",
        help="run the model in half precision on the GPU(s) (--device cuda...; Ray actors on GPUs too): several times the throughput, the same fingerprint",
    )
    p.add_argument(
        "--ray", default=None, metavar="auto|local|ADDRESS",
        help="encode on a Ray cluster's actors (auto: the cluster this machine belongs to; local: start one here); needs neural-search[ray]",
    )
    p.add_argument("--ray-actors", type=int, default=None, help="encoder actors on Ray (default: one per GPU of the cluster, else 1)")
    p.add_argument("--batch-size", type=int, default=256, help="documents encoded per batch (default 256)")
    p.add_argument("--encode-batch-size", type=int, default=32, help="model forward-pass batch (default 32)")
    p.add_argument("--chunk-docs", type=int, default=500, help="documents per bulk request, at most")
    p.add_argument("--chunk-bytes", type=int, default=8 * 1024 * 1024, help="bytes per bulk request, at most")
    p.add_argument("--retry-budget", type=float, default=120.0, help="seconds to ride out an unavailable engine before stopping (default 120)")
    p.add_argument("--recreate", action="store_true", help="build a fresh versioned index and switch the name to it when complete")
    p.add_argument("--restart", action="store_true", help="ignore an unfinished run's checkpoint and start over")
    p.add_argument("--limit", type=int, default=None, help="read only the first N records")
    p.add_argument(
        "--min-tokens", type=int, default=0,
        help="skip documents whose text has fewer than N whitespace tokens (the seed DBpedia system kept abstracts of more than 20: --min-tokens 21)",
    )
    p.add_argument(
        "--parallel-bulk", type=int, default=2,
        help="bulk requests in flight at once (default 2; halved automatically while the engine answers 429)",
    )
    add_layout_arguments(p)
    add_index_options_arguments(p)
    p.add_argument("--state-dir", type=Path, default=default_state_dir(), help="checkpoints and dead-letter files")
    p.add_argument("--cache", default=None, help="embedding cache file (default ~/.cache/neural-search/embeddings.sqlite)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the embedding cache")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_engine_arguments(p)
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("search", help="search an index")
    p.add_argument("query")
    p.add_argument("--index", required=True)
    p.add_argument("--mode", choices=("bm25", "knn", "hybrid"), default="hybrid")
    p.add_argument(
        "--fusion", default=None,
        help="rrf (default), rrf:K, linear:minmax|zscore|l2[:arithmetic|geometric|harmonic], or rawsum (the engine adds the raw scores, one request)",
    )
    p.add_argument("--profile", default=None, help="a search profile written by `neural-search tune` (fusion, weights, depth, fields); flags given win")
    p.add_argument(
        "--fusion-at", choices=("engine", "client"), default=None,
        help="where a hybrid search is fused: inside the engine by its plugin (one request) or here; default: the engine where its plugin is installed",
    )
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--offset", type=int, default=0)
    p.add_argument("--candidates", type=int, default=None, help="depth each leg retrieves (pagination goes this deep; default 100)")
    add_fields_arguments(p)
    p.add_argument("--analyzer", default=None, help="the analysis the index must have (refused if it was built with another); default: the index's own")
    p.add_argument("--bm25-weight", type=float, default=None)
    p.add_argument("--knn-weight", type=float, default=None)
    p.add_argument("--filter", action="append", default=[], help="FIELD=VALUE, FIELD>=N, FIELD<N ... on metadata (repeatable)")
    p.add_argument("--allow-fallback", action="store_true", help="fall back to client-side fusion when --fusion-at engine or --fusion rawsum is not available")
    p.add_argument("--explain", action="store_true", help="show each leg's raw and normalised score")
    add_model_arguments(p)
    p.add_argument("--json", action="store_true")
    add_engine_arguments(p)
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("demo", help="index the bundled DBpedia film abstracts and compare BM25, kNN and hybrid results")
    p.add_argument("--index", default="demo-films")
    p.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--query", action="append", default=[], help="queries to run (default: a few built-in ones)")
    p.add_argument("--state-dir", type=Path, default=default_state_dir())
    add_engine_arguments(p)
    p.set_defaults(func=cmd_demo)

    # compare never imports this module: it is handed what it needs from here.
    add_compare_parser(sub, add_engine_arguments=_add_compare_engine_arguments, state_dir=default_state_dir(), open_store=open_store_from_args)
    from .tune import add_tune_parser

    add_tune_parser(sub, add_engine_arguments=add_engine_arguments, add_model_arguments=add_model_arguments, open_store=open_store_from_args, make_encoder=_encoder)
    add_serve_parser(sub, add_engine_arguments=add_engine_arguments, state_dir=default_state_dir(), open_store=open_store_from_args)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.argv = list(argv) if argv is not None else sys.argv[1:]  # what `serve --workers` hands its workers
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        return args.func(args)
    except NeuralSearchError as exc:
        print(f"neural-search: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("neural-search: interrupted; run the same command again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
