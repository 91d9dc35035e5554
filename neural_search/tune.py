"""`neural-search tune`: choose a hybrid setting (fusion, leg weights, RRF constant, candidate
depth, BM25 fields) on judged tuning queries, then score it once on the test split.

Each leg runs once per query at the deepest depth tried; every setting is then the library's own
fusion (fusion.py, the maths every engine plugin follows) over those legs cut to its depth, scored
with ir-measures. A leg at depth d is the first d hits of the deeper leg (ties are in id order on
every engine), so this equals searching each setting (on an approximate kNN engine, deeper
searches can find slightly better neighbours). The test split never takes part in choosing."""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from .compare.settings import index_name
from .engines.base import DEFAULT_ANALYZER, TextFields
from .errors import ConfigurationError
from .evaluation import RunScorer, load_collection, paired_test
from .fusion import FusionSpec, ranked
from .profiles import SearchProfile

METRIC = "ndcg@10"
DEFAULT_FUSIONS = ("rrf:10", "rrf:20", "rrf:40", "rrf:60", "rrf:100", "linear:minmax", "linear:zscore", "linear:l2")
DEFAULT_BM25_WEIGHTS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
DEFAULT_DEPTHS = (50, 100, 200)
# What `compare` runs when given no profile: the settings a tuned profile has to beat.
DEFAULTS = (("rrf", 0.5, 100), ("linear:minmax", 0.5, 100))


@dataclass(frozen=True)
class Setting:
    fusion: str
    bm25_weight: float  # knn weight = 1 - bm25_weight (only the ratio matters to every fusion)
    depth: int
    fields: str

    @property
    def weights(self) -> dict[str, float]:
        return {"bm25": self.bm25_weight, "knn": round(1.0 - self.bm25_weight, 6)}

    def label(self) -> str:
        return f"{self.fusion:<14} bm25 {self.bm25_weight:.1f} : knn {1 - self.bm25_weight:.1f}  depth {self.depth:<4} fields {self.fields}"


def _floats(text: str, name: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ConfigurationError(f"--{name} takes comma-separated numbers, got {text!r}") from None
    if not values or not all(0.0 < v < 1.0 for v in values):
        raise ConfigurationError(f"--{name}: each weight must be between 0 and 1 (the kNN leg gets 1 minus it), got {text!r}")
    return values


def _ints(text: str, name: str) -> tuple[int, ...]:
    try:
        values = tuple(sorted({int(v) for v in text.split(",") if v.strip()}))
    except ValueError:
        raise ConfigurationError(f"--{name} takes comma-separated whole numbers, got {text!r}") from None
    if not values or not all(10 <= v <= 1000 for v in values):
        raise ConfigurationError(f"--{name}: depths must be in 10..1000, got {text!r}")
    return values


def _ties(text: str | None) -> tuple[float | None, ...]:
    if text is None:
        return (None,)
    try:
        values = tuple(dict.fromkeys(float(v) for v in str(text).split(",") if v.strip()))
    except ValueError:
        raise ConfigurationError(f"--tie-breaker takes comma-separated numbers from 0 to 1, got {text!r}") from None
    if not values or not all(0.0 <= v <= 1.0 for v in values):
        raise ConfigurationError(f"--tie-breaker: each tie breaker must be from 0 to 1, got {text!r}")
    return values


class Legs:
    """Each query's BM25 and kNN legs, run once at the deepest depth, and the split's judgments."""

    def __init__(
        self, store, physical: str, encoder, queries: dict[str, str], qrels, depth: int, fields: Sequence[TextFields], say: Callable[[str], None],
    ):
        started = time.perf_counter()
        self.scorer = RunScorer(qrels, (METRIC,))
        qids = list(queries)
        vectors = encoder.encode_texts([queries[q] for q in qids])
        self.knn = {q: ranked([(h.id, h.score) for h in store.knn(physical, v, k=depth, num_candidates=depth, ids_only=True)]) for q, v in zip(qids, vectors)}
        self.bm25 = {
            str(f): {q: ranked([(h.id, h.score) for h in store.bm25(physical, queries[q], k=depth, ids_only=True, fields=f)]) for q in qids}
            for f in fields
        }
        say(f"  ran both legs {depth} deep for {len(qids)} queries ({len(fields)} BM25 field setting(s)) in {time.perf_counter() - started:.1f} s")

    def run(self, setting: Setting, top: int = 10) -> list:
        import ir_measures

        spec = FusionSpec.parse(setting.fusion)
        out = []
        for q, knn in self.knn.items():
            legs = {"bm25": self.bm25[setting.fields][q][: setting.depth], "knn": knn[: setting.depth]}
            for hit in spec.fuse(legs, setting.weights, top=top):
                out.append(ir_measures.ScoredDoc(q, hit.id, float(hit.score)))
        return out


def score(legs: Legs, setting: Setting):
    return legs.scorer.score(legs.run(setting))


def cmd_tune(args: argparse.Namespace, open_store: Callable[[argparse.Namespace], object], make_encoder: Callable[[argparse.Namespace], object]) -> int:
    if args.split == "test":
        raise ConfigurationError("--split test: the test split only scores the chosen setting; tune on train or dev")
    say = (lambda m: None) if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True))
    fusions = tuple(dict.fromkeys(str(FusionSpec.parse(f)) for f in args.fusions.split(",") if f.strip()))
    if any(FusionSpec.parse(f).method == "rawsum" for f in fusions):
        raise ConfigurationError("--fusions: rawsum has no settings to tune")
    weights = _floats(args.bm25_weights, "bm25-weights")
    depths = _ints(args.depths, "depths")
    ties = _ties(args.tie_breaker)
    fields = tuple(dict.fromkeys(
        TextFields.parse(f, tie) for f in (args.fields or ["content"]) for tie in (ties if len(TextFields.parse(f).fields) > 1 else (None,))
    ))
    tuning = load_collection(args.dataset, args.split, max_queries=args.max_queries, seed=args.seed)
    testing = load_collection(args.dataset, args.test_split)
    overlap = set(tuning.queries) & set(testing.queries)
    if overlap:
        raise ConfigurationError(f"{len(overlap)} queries are judged in both {args.split} and {args.test_split}; tuning on them would leak the test split")

    store = open_store(args)
    index = args.index or index_name("cmp", tuning.name, args.analyzer or DEFAULT_ANALYZER)
    physical = store.resolve(index)
    if physical is None:
        raise ConfigurationError(
            f"index {index!r} does not exist on {store.engine}; build it first, e.g. neural-search index --engine {store.engine} "
            f"--source {args.dataset} --index {index}" + (f" --analyzer {args.analyzer}" if args.analyzer else "")
        )
    analyzer = store.index_options(physical).analyzer
    if args.analyzer and analyzer != args.analyzer:
        raise ConfigurationError(f"index {index!r} was built with the {analyzer} analyzer, not {args.analyzer}; pass its name or rebuild it")
    encoder = make_encoder(args)
    say(f"tuning on {tuning.name} {tuning.split}: {len(tuning.queries)} judged queries; {store.engine}:{index} ({analyzer} analysis)")
    legs = Legs(store, physical, encoder, tuning.queries, tuning.qrels, max(depths), fields, say)
    settings = [Setting(f, w, d, str(x)) for f, w, d, x in itertools.product(fusions, weights, depths, fields)]
    started = time.perf_counter()
    scored = [(score(legs, s).means[METRIC], s) for s in settings]
    say(f"  scored {len(settings)} settings in {time.perf_counter() - started:.1f} s")
    # Best first; among equals, the shallower and the more even (cheaper and less surprising).
    scored.sort(key=lambda item: (-round(item[0], 6), item[1].depth, abs(item[1].bm25_weight - 0.5)))
    best_score, best = scored[0]

    defaults = [Setting(str(FusionSpec.parse(f)), w, d, str(fields[0])) for f, w, d in DEFAULTS]
    default_tuning = {d: score(legs, d).means[METRIC] for d in defaults}
    say(f"scoring on {testing.name} {testing.split}: {len(testing.queries)} judged queries")
    test_legs = Legs(store, physical, encoder, testing.queries, testing.qrels, max(depths), fields, say)
    chosen_test = score(test_legs, best)
    default_test = {d: score(test_legs, d) for d in defaults}

    print(f"\nTop settings on {tuning.name} {tuning.split} ({len(tuning.queries)} queries), {METRIC}:")
    for value, setting in scored[: args.show]:
        print(f"  {value:.4f}  {setting.label()}")
    print(f"  ({len(settings)} settings tried; defaults: " + ", ".join(f"{d.fusion} {default_tuning[d]:.4f}" for d in defaults) + ")")
    print(f"\nChosen: {best.label()}  ({METRIC} {best_score:.4f} on {tuning.split})")
    print(f"\nOn {testing.split} ({len(testing.queries)} queries), never used for choosing:")
    print(f"  tuned          {chosen_test.means[METRIC]:.4f}")
    comparisons = {}
    for d in defaults:
        test = paired_test(chosen_test.per_query[METRIC], default_test[d].per_query[METRIC])
        comparisons[f"{d.fusion} 1:1 depth {d.depth}"] = {"score": round(default_test[d].means[METRIC], 6), "delta": round(test["delta"], 6), "p": round(test["p"], 6)}
        print(f"  default {d.fusion:<14} {default_test[d].means[METRIC]:.4f}   tuned - default {test['delta']:+.4f} (paired t-test p = {test['p']:.3g})")

    name = args.name or f"{tuning.name}-{tuning.split}-{store.engine}"
    profile = SearchProfile(
        name=name, fusion=best.fusion, weights=best.weights, candidates=best.depth, fields=next(f for f in fields if str(f) == best.fields),
        tuned={
            "dataset": tuning.name, "split": tuning.split, "queries": len(tuning.queries), "engine": store.engine, "index": index,
            "analyzer": analyzer, "metric": METRIC, "score": round(best_score, 6), "settings_tried": len(settings),
            "test": {"split": testing.split, "queries": len(testing.queries), "score": round(chosen_test.means[METRIC], 6), "defaults": comparisons},
            "model": encoder.fingerprint.id, "command": " ".join(sys.argv[1:]) if sys.argv else None,
        },
    )
    out = Path(args.out or f"profiles/{name}.json")
    profile.save(out)
    print(f"\nWrote {out}: neural-search search --profile {out} ...; compare --profile {out}")
    if not args.quiet:
        print("\nThe same setting for each engine's own API:")
        print(json.dumps(profile.engine_configurations(), indent=1))
    return 0


def add_tune_parser(subparsers, *, add_engine_arguments: Callable, add_model_arguments: Callable, open_store: Callable, make_encoder: Callable) -> None:
    p = subparsers.add_parser("tune", help="choose fusion, weights, RRF constant, depth and BM25 fields on judged tuning queries; writes a profile")
    p.add_argument("--dataset", required=True, help="BEIR-style folder with qrels/<split>.tsv for the tuning split and the test split")
    p.add_argument("--split", default="train", help="tuning split (train or dev; default train)")
    p.add_argument("--test-split", default="test", help="split that only scores the chosen setting (default test)")
    p.add_argument("--index", default=None, help="index to tune on (default cmp-<dataset>[-<analyzer>], what `compare` builds)")
    p.add_argument("--fusions", default=",".join(DEFAULT_FUSIONS), help=f"fusions tried (default {','.join(DEFAULT_FUSIONS)})")
    p.add_argument("--bm25-weights", default=",".join(map(str, DEFAULT_BM25_WEIGHTS)), help="BM25 leg weights tried; the kNN leg gets 1 minus each")
    p.add_argument("--depths", default=",".join(map(str, DEFAULT_DEPTHS)), help=f"candidate depths tried (default {','.join(map(str, DEFAULT_DEPTHS))})")
    p.add_argument("--fields", action="append", default=None, help="BM25 field setting tried (repeatable, e.g. --fields content --fields 'title^2,text'); default content")
    p.add_argument("--tie-breaker", default=None, help="tie breakers tried with each multi-field setting, comma-separated (default 0)")
    p.add_argument("--analyzer", default=None, help="the analysis the index must have")
    p.add_argument("--max-queries", type=int, default=None, help="tune on a seeded sample of this many judged queries")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--show", type=int, default=15, help="rows of the table printed (default 15)")
    p.add_argument("--name", default=None, help="profile name (default <dataset>-<split>-<engine>)")
    p.add_argument("--out", default=None, help="profile file (default profiles/<name>.json)")
    p.add_argument("--quiet", action="store_true")
    add_model_arguments(p)
    add_engine_arguments(p)
    p.set_defaults(func=lambda args: cmd_tune(args, open_store, make_encoder))
