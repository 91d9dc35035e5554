# neural-search: the two set-up commands are `make demo` and `make test` (see README).
PYTHON ?= python3
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false
DATASETS ?= ../shared/datasets

.PHONY: install plugins demo test unit engines-up engines-down engines-status bench bench-index bench-search report report-cluster clean

install:
	$(PYTHON) -m pip install -q -e '.[test]'

demo: install
	neural-search demo

# The engine plugins (plugins/: the fusion core, Elasticsearch and Solr), built from source with
# their Java unit tests (Maven Surefire); servers/*/prepare.sh installs what this builds.
PLUGINS_LOG ?= plugins/build.log
plugins:
	@echo "building the engine plugins (mvn -f plugins/pom.xml verify; log in $(PLUGINS_LOG))"
	@mvn -B -ntp -Dstyle.color=never -f plugins/pom.xml verify > $(PLUGINS_LOG) 2>&1 || { tail -n 80 $(PLUGINS_LOG); exit 1; }
	@grep -E "^\[INFO\] (Tests run:|Building neural-search|BUILD)|Tests run: .*, Fail" $(PLUGINS_LOG) | grep -v " -- in " || true

engines-up:
	$(PYTHON) servers/manage.py up

engines-down:
	$(PYTHON) servers/manage.py down

engines-status:
	$(PYTHON) servers/manage.py status

# Local multi-node clusters beside the single nodes (servers/cluster.py, servers/CONTRACT.md):
# Elasticsearch 9220-9222, OpenSearch 9230-9232, SolrCloud 8990-8991. One node: servers/cluster.py up|down ENGINE --node N
.PHONY: cluster-up cluster-down cluster-status
cluster-up:
	$(PYTHON) servers/cluster.py up

cluster-down:
	$(PYTHON) servers/cluster.py down

cluster-status:
	$(PYTHON) servers/cluster.py status

# The whole suite: unit tests, and integration tests against the real engines and clusters (all
# started here; `make cluster-down engines-down` stops them).
test: install plugins engines-up cluster-up
	$(PYTHON) -m pytest -ra

# Engine comparison on the clusters: a 2-shard, 1-replica index per engine, every node's URL given.
CLUSTER_REPORT_OUT ?= reports/nfcorpus-cluster
report-cluster: install engines-up cluster-up
	neural-search compare --dataset $(DATASETS)/nfcorpus --split test --modes all --cluster --shards 2 --replicas 1 \
		--index-prefix cluster --out $(CLUSTER_REPORT_OUT)

unit: install
	$(PYTHON) -m pytest -ra -m "not integration"

clean:
	rm -rf build dist *.egg-info .pytest_cache plugins/*/target plugins/build.log

# Performance benchmarks (see benchmarks/README.md for the figures and the exact commands).
# Scale up with e.g. `make bench-index BENCH_INDEX_ARGS="--docs 2000 --repeats 5"`.
BENCH_INDEX_ARGS ?=
BENCH_SEARCH_ARGS ?=

bench-index: install engines-up
	$(PYTHON) benchmarks/bench_index.py --source $(DATASETS)/nfcorpus $(BENCH_INDEX_ARGS)

bench-search: install engines-up
	$(PYTHON) benchmarks/bench_search.py --source $(DATASETS)/nfcorpus $(BENCH_SEARCH_ARGS)

# neural-search serve under 16 clients: what HTTP adds over the library call, side by side (benchmarks/README.md, section 3).
BENCH_SERVE_ARGS ?=
.PHONY: bench-serve
bench-serve: install engines-up
	$(PYTHON) benchmarks/bench_serve.py $(BENCH_SERVE_ARGS)

# Warm-cache indexing vs the engine's own bulk ceiling (benchmarks/bench_write_ceiling.py), and the
# DBpedia dump path at 1M synthetic lines: RSS and lines/s (benchmarks/bench_dbpedia_dump.py).
BENCH_WRITE_ARGS ?=
BENCH_DUMP_ARGS ?= --lines 1000000 --index none
.PHONY: bench-write bench-dump
bench-write: install engines-up
	$(PYTHON) benchmarks/bench_write_ceiling.py --source $(DATASETS)/nfcorpus $(BENCH_WRITE_ARGS)

bench-dump: install
	$(PYTHON) benchmarks/bench_dbpedia_dump.py $(BENCH_DUMP_ARGS)

# The embedded engine at 1M synthetic 384-d vectors: exact vs faiss HNSW, build time, p50, RSS,
# recall@10 (benchmarks/README.md, section 6; BENCH_EMBEDDED_ARGS="--vectors 50000" for a quick try).
BENCH_EMBEDDED_ARGS ?= --vectors 1000000
.PHONY: bench-embedded
bench-embedded: install
	$(PYTHON) benchmarks/bench_embedded_scale.py $(BENCH_EMBEDDED_ARGS)

bench: bench-index bench-search

# Engine comparison on NFCorpus (test split): every engine, every mode; relevance, latency,
# throughput and size side by side (docs/compare.md), with the default (english) analysis.
# `make report REPORT_OUT=reports/example REPORT_ARGS="--analyzer standard"` regenerates the
# committed standard-analysis example (`make report-check` checks relevance against it);
# `make report-english` the committed english + best_fields + tuned-profile one (docs/relevance.md).
REPORT_OUT ?= reports/nfcorpus
REPORT_ARGS ?=
report: install engines-up
	neural-search compare --dataset $(DATASETS)/nfcorpus --split test --modes all $(REPORT_ARGS) --out $(REPORT_OUT)

.PHONY: report-english tune
report-english: install engines-up
	neural-search compare --dataset $(DATASETS)/nfcorpus --split test --modes all,hybrid:profile,hybrid:profile@engine \
		--analyzer english --fields title,text --tie-breaker 0.5 --profile profiles/nfcorpus-english.json \
		--concurrency 1 --warmup 5 --out reports/example-english

# The committed profile profiles/nfcorpus-english.json (docs/relevance.md): chosen on the train split only.
tune: install
	neural-search index --source $(DATASETS)/nfcorpus --index cmp-nfcorpus-english --analyzer english --quiet
	neural-search tune --dataset $(DATASETS)/nfcorpus --split train --analyzer english \
		--fields content --fields title,text --fields 'title^2,text' --fields 'title^0.5,text' --tie-breaker 0,0.3,0.5 \
		--fusions rrf:10,rrf:20,rrf:60,rrf:100,linear:minmax,linear:zscore,linear:l2 \
		--bm25-weights 0.2,0.3,0.4,0.5,0.6,0.7,0.8 --depths 100,200 --show 20 --name nfcorpus-english --out profiles/nfcorpus-english.json

# ANN trade-offs (docs/ann.md): per engine and vector index option, recall@10 against exact kNN,
# latency and QPS over a sweep of the query depth; `make sweep-synthetic` does the same on 100k
# generated vectors. Both write where the committed examples are (reports/sweep-*).
SWEEP_OUT ?= reports/sweep-dbpedia14
SWEEP_ARGS ?=
.PHONY: sweep sweep-synthetic
sweep: install engines-up
	neural-search compare --sweep --dataset $(DATASETS)/dbpedia14-abstracts-notitle --index-prefix ann-sweep --out $(SWEEP_OUT) $(SWEEP_ARGS)

sweep-synthetic: install engines-up
	$(PYTHON) benchmarks/ann_synthetic.py --vectors 100000 --depths 10,25,64,160,400 --prefix ann-syn \
		--options "elasticsearch=hnsw,int8_hnsw;opensearch=hnsw,int8_hnsw;solr=hnsw,byte_hnsw" --out reports/sweep-synthetic-100k $(SWEEP_ARGS)

.PHONY: report-check
report-check: install engines-up
	neural-search compare --dataset $(DATASETS)/nfcorpus --split test --modes all --analyzer standard --concurrency 1 --warmup 0 \
		--out reports/nfcorpus-check --expect reports/example/results.json
