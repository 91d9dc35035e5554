#!/usr/bin/env bash
# A wheel that works: build it, install it (not editable) into a fresh virtual environment, and
# from outside the repository index and search on the embedded engine and load the OpenSearch
# pipeline bodies (package data that an editable install would find in the work tree anyway).
# The project's dependencies come from this machine's site-packages (--system-site-packages);
# neural-search itself only from the wheel, which the check below makes sure of.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

python3 -m pip wheel -q --no-deps -w "$WORK/dist" "$REPO" >"$WORK/wheel.log" 2>&1 || { cat "$WORK/wheel.log"; exit 1; }
WHEEL="$(ls "$WORK"/dist/neural_search-*.whl)"
python3 -m venv --system-site-packages "$WORK/venv"
"$WORK/venv/bin/python" -m pip install -q --no-deps --no-index --force-reinstall "$WHEEL"

head -n 20 "$REPO/neural_search/data/films/corpus.jsonl" >"$WORK/films20.jsonl"
cd "$WORK"
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false NEURAL_SEARCH_HOME="$WORK/home"
"$WORK/venv/bin/python" - "$WORK" <<'PY'
import json, subprocess, sys
from pathlib import Path

work = Path(sys.argv[1])
import neural_search
from neural_search.engines.opensearch import OpenSearchStore
from neural_search.fusion import FusionSpec

where = Path(neural_search.__file__).resolve()
if not str(where).startswith(str(work / "venv")):
    sys.exit(f"neural_search was imported from {where}, not from the wheel installed in {work / 'venv'}")
rrf = OpenSearchStore.pipeline_body(FusionSpec.parse("rrf:20"), (1.0, 1.0))
assert rrf["phase_results_processors"][0]["score-ranker-processor"]["combination"]["rank_constant"] == 20, rrf
linear = OpenSearchStore.pipeline_body(FusionSpec.parse("linear:l2:harmonic"), (1.0, 3.0))
assert linear["phase_results_processors"][0]["normalization-processor"]["combination"]["parameters"]["weights"] == [0.25, 0.75], linear

cli = str(work / "venv" / "bin" / "neural-search")
state = str(work / "state")
subprocess.run([cli, "index", "--source", str(work / "films20.jsonl"), "--index", "smoke", "--engine", "embedded", "--state-dir", state, "--quiet"], check=True)
out = subprocess.run([cli, "search", "--index", "smoke", "--engine", "embedded", "--json", "--k", "3", "ship sinks after hitting an iceberg"],
                     check=True, capture_output=True, text=True).stdout
hits = json.loads(out)["hits"]
assert hits and hits[0]["id"] == "<dbpedia:Titanic_(1997_film)>", hits
print(f"wheel smoke test: {Path(sys.argv[1]).name}: {where.parent} ok; pipelines load; embedded index + hybrid search ok (top hit {hits[0]['title']})")
PY
