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

bench: bench-index bench-search

# Engine comparison on NFCorpus (test split): every engine, every mode; relevance, latency,
# throughput and size side by side (docs/compare.md). `make report REPORT_OUT=reports/example`
# regenerates the committed example; `make report-check` checks relevance against it.
REPORT_OUT ?= reports/nfcorpus
report: install engines-up
	neural-search compare --dataset $(DATASETS)/nfcorpus --split test --modes all --out $(REPORT_OUT)

.PHONY: report-check
report-check: install engines-up
	neural-search compare --dataset $(DATASETS)/nfcorpus --split test --modes all --concurrency 1 --warmup 0 \
		--out reports/nfcorpus-check --expect reports/example/results.json
