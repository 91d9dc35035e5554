"""`neural-search serve` over real HTTP: the API against the embedded engine and a real server
engine, every error status (400, 401, 403, 404, 409, 503) as JSON with the library's message,
many parallel requests, and the CLI verb started as a process."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from neural_search.engines import TextFields, open_store
from neural_search.indexing import Indexer
from neural_search.profiles import SearchProfile
from neural_search.search import SearchClient
from neural_search.serve.app import create_app
from neural_search.serve.command import BackgroundServer, ensure_demo_index
from neural_search.serve.service import Service, Target
from neural_search.sources import read_jsonl

from .conftest import FILMS, REPO
from .hash_encoder import HashEncoder

TITANIC = "<dbpedia:Titanic_(1997_film)>"
ERROR_KEYS = {"status", "type", "message"}


def closed_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build(store, encoder, name: str, state_dir, source=FILMS) -> None:
    summary = Indexer(store, encoder, state_dir=state_dir, progress=False).run(read_jsonl(source), name=name, source={"serve-test": str(source)})
    assert summary.failed == 0 and summary.indexed > 0


def error_of(response: requests.Response, status: int) -> dict:
    """The JSON error body, checked: the status asked for, JSON (never a stack trace), the three keys."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert "Traceback" not in response.text
    error = response.json()["error"]
    assert ERROR_KEYS <= set(error) and error["status"] == status
    return error


TUNED = SearchProfile(name="films-tuned", fusion="linear:l2", weights={"bm25": 0.3, "knn": 0.7}, candidates=40, fields=TextFields.parse("title^2,text", 0.3))


@pytest.fixture(scope="module")
def embedded(tmp_path_factory, encoder):
    """An embedded engine folder holding the films (real model) and a films copy built with another model."""
    path = tmp_path_factory.mktemp("serve-embedded")
    state = tmp_path_factory.mktemp("serve-state")
    store = open_store("embedded", path=str(path))
    build(store, encoder, "serve-films", state)
    build(store, HashEncoder(), "serve-hashed", state)
    return path


@pytest.fixture(scope="module")
def server(embedded, encoder):
    """serve on the embedded engine, plus Elasticsearch configured at a port where nothing listens."""
    dead = f"http://127.0.0.1:{closed_port()}"

    def opener(engine):
        return open_store("embedded", path=str(embedded)) if engine == "embedded" else open_store(engine, url=dead, timeout=2)

    service = Service(
        targets=[Target("embedded", "serve-films"), Target("embedded", "serve-hashed"), Target("embedded", "serve-missing"), Target("elasticsearch", "serve-films")],
        open_store=opener, encoder=encoder, profiles=[TUNED],
    )
    service.warm_up()
    with BackgroundServer(create_app(service)) as running:
        running.dead_url = dead
        yield running
    service.close()


def search(server, **body) -> requests.Response:
    return requests.post(server.url + "/search", json=body, timeout=60)


def test_search_returns_hits_with_legs_and_timings(server, embedded, encoder):
    response = search(server, q="ship sinks after hitting an iceberg", index="serve-films", mode="hybrid", k=5, explain=True)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["engine"] == "embedded" and body["mode"] == "hybrid" and body["fusion"] == "rrf" and body["fusion_at"] == "client"
    assert body["hits"][0]["id"] == TITANIC
    assert [h["rank"] for h in body["hits"]] == [1, 2, 3, 4, 5]
    assert {"encode_ms", "engine_ms", "total_ms", "service_ms"} <= set(body["timings_ms"])
    titanic = body["hits"][0]
    assert set(titanic["legs"]) == {"bm25", "knn"} and titanic["legs"]["bm25"]["rank"] == 1
    assert re.match(r"bm25: #1 raw [\d.]+ -> [\d.]+; knn: #\d+ raw", titanic["explain"])
    # The same search through the library directly: the same ranking and scores.
    with SearchClient(store=open_store("embedded", path=str(embedded)), index="serve-films", encoder=encoder) as client:
        direct = client.search("ship sinks after hitting an iceberg", mode="hybrid", k=5, explain=True)
    assert [h["id"] for h in body["hits"]] == direct.ids
    assert [h["score"] for h in body["hits"]] == pytest.approx([h.score for h in direct.hits])


def test_bm25_fields_pass_through(server, embedded, encoder):
    body = search(server, q="titanic", index="serve-films", mode="bm25", k=5, fields="title^2,text").json()
    with SearchClient(store=open_store("embedded", path=str(embedded)), index="serve-films", encoder=encoder) as client:
        direct = client.search("titanic", mode="bm25", k=5, fields="title^2,text")
    assert body["fields"] == direct.fields and [h["id"] for h in body["hits"]] == direct.ids and direct.ids


def test_a_profile_gives_its_settings_and_the_request_wins(server, embedded, encoder):
    text = "robots take over the world"
    body = search(server, q=text, index="serve-films", k=5, explain=True, profile="films-tuned").json()
    with SearchClient(store=open_store("embedded", path=str(embedded)), index="serve-films", encoder=encoder) as client:
        direct = client.search(text, k=5, explain=True, **TUNED.search_settings())
    assert body["fusion"] == "linear:l2" and body["fields"] == "title^2,text (tie 0.3)" and body["candidates"] == 40
    assert [h["id"] for h in body["hits"]] == direct.ids
    assert [h["score"] for h in body["hits"]] == pytest.approx([h.score for h in direct.hits])
    mine = search(server, q=text, index="serve-films", k=5, profile="films-tuned", fusion="rrf:20").json()
    assert mine["fusion"] == "rrf:20" and mine["fields"] == "title^2,text (tie 0.3)"
    error = error_of(search(server, q=text, index="serve-films", profile="nope"), 400)
    assert "unknown search profile 'nope'; this server has: films-tuned" in error["message"]


def test_get_search_with_cli_filters(server):
    response = requests.get(server.url + "/search", params={"q": "war", "mode": "bm25", "k": 10, "filter": ["year>=1990", "year<2000"]}, timeout=30)
    assert response.status_code == 200, response.text
    years = [h["metadata"]["year"] for h in response.json()["hits"]]
    assert years and all(1990 <= y < 2000 for y in years)
    # The JSON body takes the same filter as an object.
    body = search(server, q="war", mode="bm25", k=10, filters={"year": {"gte": 1990, "lt": 2000}}).json()
    assert [h["id"] for h in body["hits"]] == [h["id"] for h in response.json()["hits"]]


@pytest.mark.parametrize(
    "body, cause",
    [
        ({"q": "x", "mode": "fuzzy"}, "unknown mode 'fuzzy'; choose one of bm25, knn, hybrid"),
        ({"q": "x", "fusion": "borda"}, "unknown fusion 'borda'"),
        ({"q": "x", "fusion_at": "somewhere"}, "fusion_at must be one of engine, client"),
        ({"q": "x", "k": 0}, "k must be a positive integer, got 0"),
        ({"q": "x", "k": 10**12}, "goes past the candidate depth 100"),
        ({"q": "x", "offset": -1}, "offset must be an integer >= 0"),
        ({"q": "x", "filters": {"no such-field": 1}}, "invalid filter field 'no such-field'"),
        ({"q": "x", "filters": {"year": {"about": 1990}}}, "range filter on 'year' takes only gt, gte, lt, lte"),
        ({"q": "x", "filters": ["year~1990"]}, "filter 'year~1990': use FIELD=VALUE"),
        ({"q": "x", "weights": {"bm25": -1}}, "weight of leg 'bm25' must be a finite number >= 0"),
        ({"q": "x", "k": "ten"}, "k: Input should be a valid integer"),
        ({"q": "x", "colour": "red"}, "unknown field 'colour'"),
        ({"k": 3}, "q: Field required"),
        ({"q": "x", "engine": "lucene"}, "unknown engine 'lucene'"),
        ({"q": "x", "qid": "1"}, "qid needs judgments: start serve with --dataset"),
        ({"q": "x", "mode": "bm25", "fields": "bogus"}, "cannot read BM25 field 'bogus'"),
    ],
)
def test_bad_input_is_a_400_naming_the_cause(server, body, cause):
    error = error_of(search(server, index="serve-films", **body), 400)
    assert cause in error["message"]


def test_malformed_or_missing_json_is_a_400(server):
    error = error_of(requests.post(server.url + "/search", data='{"q": "x",', headers={"Content-Type": "application/json"}, timeout=10), 400)
    assert "not valid JSON" in error["message"]
    error = error_of(requests.post(server.url + "/search", timeout=10), 400)
    assert "no JSON body" in error["message"]
    error = error_of(requests.post(server.url + "/search", data="[1, 2]", headers={"Content-Type": "application/json"}, timeout=10), 400)
    assert error["message"]


def test_unknown_index_or_route_is_a_404(server):
    error = error_of(search(server, q="x", index="serve-nope"), 404)
    assert "index 'serve-nope' is not served on embedded" in error["message"] and "serve-films" in error["message"]
    # Served, but not built on the engine: the library's IndexNotFound, with the command that builds it.
    error = error_of(search(server, q="x", index="serve-missing"), 404)
    assert error["type"] == "IndexNotFound" and "neural-search index --engine embedded --index serve-missing" in error["message"]
    error = error_of(search(server, q="x", engine="opensearch"), 404)
    assert "engine 'opensearch' is not served here" in error["message"]
    error_of(requests.get(server.url + "/no/such/route", timeout=10), 404)


def test_model_mismatch_is_a_409(server):
    error = error_of(search(server, q="iceberg", index="serve-hashed", mode="knn"), 409)
    assert error["type"] == "ModelMismatch" and "was built with model hash" in error["message"]
    # BM25 does not use the model: the same index answers it.
    assert search(server, q="iceberg", index="serve-hashed", mode="bm25").status_code == 200


def test_engine_down_is_a_503_and_health_says_which(server):
    started = time.monotonic()
    error = error_of(search(server, q="iceberg", engine="elasticsearch", index="serve-films", mode="bm25"), 503)
    assert error["type"] == "EngineUnavailable" and server.dead_url in error["message"] and "make engines-up" in error["message"]
    assert time.monotonic() - started < 20
    response = requests.get(server.url + "/health", timeout=30)
    assert response.status_code == 503
    health = response.json()
    assert health["ok"] is False and health["engines"]["embedded"]["reachable"] is True
    assert health["engines"]["elasticsearch"]["reachable"] is False and server.dead_url in health["engines"]["elasticsearch"]["url"]
    assert health["model"]["state"] == "ready"


def test_indexes_lists_count_model_and_analyzer(server, encoder):
    entries = {(e["engine"], e["name"]): e for e in requests.get(server.url + "/indexes", timeout=30).json()["indexes"]}
    films = entries[("embedded", "serve-films")]
    assert films["exists"] is True and films["count"] == 300 and films["model"]["id"] == encoder.fingerprint.id
    assert films["analyzer"] == "english" and films["physical"].startswith("serve-films__v")
    assert entries[("embedded", "serve-hashed")]["model"]["id"] == "hash-encoder"
    assert entries[("embedded", "serve-missing")]["exists"] is False
    assert entries[("elasticsearch", "serve-films")]["exists"] is False and "cannot be reached" in entries[("elasticsearch", "serve-films")]["error"]


def test_openapi_schema_describes_the_api(server):
    schema = requests.get(server.url + "/openapi.json", timeout=10).json()
    assert {"/search", "/indexes", "/health"} <= set(schema["paths"])
    assert {"get", "post"} <= set(schema["paths"]["/search"])
    assert "SearchBody" in schema["components"]["schemas"]


def test_many_parallel_requests_all_answer_as_the_library_does(server, embedded, encoder):
    texts = ["ship sinks after hitting an iceberg", "a shark terrorizes a beach town", "toys come to life", "wizard school", "prison escape", "aliens invade earth"]
    modes = ["bm25", "knn", "hybrid"]
    with SearchClient(store=open_store("embedded", path=str(embedded)), index="serve-films", encoder=encoder) as client:
        expected = {(t, m): client.search(t, mode=m, k=10).ids for t in texts for m in modes}
    jobs = [(t, m) for t in texts for m in modes] * 6  # 108 requests
    session = requests.Session()
    session.mount("http://", requests.adapters.HTTPAdapter(pool_maxsize=32))

    def one(job):
        text, mode = job
        response = session.post(server.url + "/search", json={"q": text, "mode": mode, "index": "serve-films", "k": 10}, timeout=120)
        return job, response.status_code, response.json()

    with ThreadPoolExecutor(32) as pool:
        answers = list(pool.map(one, jobs))
    assert [status for _, status, _ in answers] == [200] * len(jobs)
    for job, _, body in answers:
        assert [h["id"] for h in body["hits"]] == expected[job], job


@pytest.fixture(scope="module")
def keyed(embedded, encoder):
    service = Service(targets=[Target("embedded", "serve-films")], open_store=lambda engine: open_store("embedded", path=str(embedded)), encoder=encoder)
    with BackgroundServer(create_app(service, api_key="s3cret-serve-key"), access_log=True) as running:
        yield running
    service.close()


class Collect(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record):
        self.lines.append(self.format(record))


def test_api_key_401_without_403_wrong_200_right_never_echoed_or_logged(keyed, caplog):
    caplog.set_level(logging.DEBUG)
    collect = Collect()  # uvicorn's loggers do not propagate to caplog's
    for name in ("uvicorn.access", "uvicorn.error", "neural_search"):
        logging.getLogger(name).addHandler(collect)
    body = {"q": "a shark terrorizes a beach town", "mode": "bm25"}
    error = error_of(requests.post(keyed.url + "/search", json=body, timeout=10), 401)
    assert "X-API-Key" in error["message"]
    error = error_of(requests.post(keyed.url + "/search", json=body, headers={"X-API-Key": "guess"}, timeout=10), 403)
    error_of(requests.get(keyed.url + "/indexes", headers={"X-API-Key": "s3cret-serve-keyX"}, timeout=10), 403)
    right = requests.post(keyed.url + "/search", json=body, headers={"X-API-Key": "s3cret-serve-key"}, timeout=10)
    assert right.status_code == 200 and right.json()["hits"]
    cookie = requests.get(keyed.url + "/indexes", cookies={"neural_search_api_key": "s3cret-serve-key"}, timeout=10)
    assert cookie.status_code == 200
    assert requests.get(keyed.url + "/", timeout=10).status_code == 200  # the page itself is public; its calls are not
    for name in ("uvicorn.access", "uvicorn.error", "neural_search"):
        logging.getLogger(name).removeHandler(collect)
    assert any("POST /search" in line and "403" in line for line in collect.lines)  # the access log ran
    for text in [error["message"], right.text, cookie.text, caplog.text, *collect.lines]:
        assert "s3cret-serve-key" not in text


def test_no_cors_unless_configured(server, embedded, encoder):
    origin = {"Origin": "http://elsewhere.example"}
    response = requests.get(server.url + "/indexes", headers=origin, timeout=10)
    assert "access-control-allow-origin" not in response.headers
    service = Service(targets=[Target("embedded", "serve-films")], open_store=lambda engine: open_store("embedded", path=str(embedded)), encoder=encoder)
    with BackgroundServer(create_app(service, cors_origins=("http://elsewhere.example",))) as running:
        response = requests.get(running.url + "/indexes", headers=origin, timeout=10)
        assert response.headers["access-control-allow-origin"] == "http://elsewhere.example"
        other = requests.get(running.url + "/indexes", headers={"Origin": "http://evil.example"}, timeout=10)
        assert "access-control-allow-origin" not in other.headers
    service.close()


def test_judged_queries_labels_and_ndcg(serve_adi, encoder):
    """ADI: a judged query's hits carry their qrels labels, and nDCG@10 is ir-measures' for that ranking."""
    from neural_search.evaluation import evaluate_run, load_collection
    from neural_search.serve.service import Judgments

    import ir_measures

    path, adi = serve_adi
    collection = load_collection(adi, "test")
    service = Service(targets=[Target("embedded", "serve-adi")], open_store=lambda e: open_store("embedded", path=str(path)), encoder=encoder, judgments=Judgments.load(adi, "test"))
    with SearchClient(store=open_store("embedded", path=str(path)), index="serve-adi", encoder=encoder) as client:
        tops = {q: client.search(t, mode="hybrid", k=10).hits for q, t in collection.queries.items()}
    # A query with relevant documents in its top 10 and some outside (so nDCG@10 is strictly between 0 and 1).
    qid = next(q for q, hits in tops.items() if 0 < sum(collection.qrels[q].get(h.id, 0) > 0 for h in hits) < sum(g > 0 for g in collection.qrels[q].values()))
    text = collection.queries[qid]
    with BackgroundServer(create_app(service)) as running:
        listing = requests.get(running.url + "/judged", timeout=10).json()
        assert listing["collection"] == "adi" and len(listing["queries"]) == len(collection.queries)
        for k in (10, 5):  # k 5: the page is not the whole top 10, which is scored all the same
            body = search(running, q=text, qid=qid, mode="hybrid", k=k).json()
            for hit in body["hits"]:
                assert hit["label"] == collection.qrels[qid].get(hit["id"])
            expected = evaluate_run({qid: collection.qrels[qid]}, [ir_measures.ScoredDoc(qid, h.id, h.score) for h in tops[qid]], metrics=("ndcg@10",))
            assert body["judged"]["ndcg@10"] == pytest.approx(expected.means["ndcg@10"])
            assert 0 < body["judged"]["ndcg@10"] < 1
            assert [h["id"] for h in body["hits"]] == [h.id for h in tops[qid][:k]]
        error_of(search(running, q=text, qid="no-such-query"), 404)
    service.close()


def test_report_view_renders_the_markdown_and_serves_its_plots(embedded, encoder):
    report = REPO / "reports" / "example"
    service = Service(targets=[Target("embedded", "serve-films")], open_store=lambda e: open_store("embedded", path=str(embedded)), encoder=encoder, report_dir=report)
    with BackgroundServer(create_app(service)) as running:
        page = requests.get(running.url + "/report", timeout=10)
        assert page.status_code == 200 and "<table>" in page.text and "<h1" in page.text and "nDCG@10" in page.text
        plot = re.search(r'<img[^>]+src="([^"]+)"', page.text).group(1)
        image = requests.get(running.url + "/report-files/" + plot, timeout=10)
        assert image.status_code == 200 and image.content[:8] == b"\x89PNG\r\n\x1a\n"
        error_of(requests.get(running.url + "/report-files/../../../etc/passwd", timeout=10), 404)
        error_of(requests.get(running.url + "/report-files/%2e%2e/%2e%2e/pyproject.toml", timeout=10), 404)
    service.close()


def test_cli_serves_the_demo_and_stops_on_ctrl_c(tmp_path, encoder):
    """`neural-search serve --demo` as a process: prints its URL, answers, refuses a busy port."""
    data = tmp_path / "embedded"
    ensure_demo_index(open_store("embedded", path=str(data)), encoder, state_dir=tmp_path / "state", say=lambda _: None)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NEURAL_SEARCH_HOME": str(tmp_path)}
    command = [sys.executable, "-m", "neural_search.cli", "serve", "--demo", "--port", "0", "--data-dir", str(data)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", line).group(0)
        health = requests.get(url + "/health", timeout=30).json()
        assert health["engines"]["embedded"]["reachable"] is True
        body = requests.get(url + "/search", params={"q": "a shark terrorizes a beach town", "mode": "bm25", "k": 3}, timeout=60).json()
        with SearchClient(store=open_store("embedded", path=str(data)), index="demo-films") as client:
            expected = client.search("a shark terrorizes a beach town", mode="bm25", k=3).ids
        assert body["index"] == "demo-films" and [h["id"] for h in body["hits"]] == expected and len(expected) == 3
        port = int(url.rsplit(":", 1)[1])
        busy = subprocess.run(command[:-4] + ["--port", str(port), "--data-dir", str(data)], env=env, capture_output=True, text=True, timeout=60)
        assert busy.returncode == 2 and f"cannot listen on 127.0.0.1:{port}" in busy.stderr and "Traceback" not in busy.stderr
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "Traceback" not in err


def _spawned_workers(parent: int) -> list[int]:
    """The worker processes uvicorn's supervisor spawned under `parent` (not its resource tracker)."""
    workers = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and b"spawn_main" in cmdline:
            workers.append(int(entry.name))
    return workers


def test_cli_workers_share_the_port_and_stop_together(tmp_path, encoder):
    """`serve --workers 2`: two processes answer on the one port with the library's results, and
    Ctrl-C to the parent stops them both."""
    data = tmp_path / "embedded"
    ensure_demo_index(open_store("embedded", path=str(data)), encoder, state_dir=tmp_path / "state", say=lambda _: None)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "NEURAL_SEARCH_HOME": str(tmp_path)}
    command = [sys.executable, "-m", "neural_search.cli", "serve", "--demo", "--workers", "2", "--port", "0", "--data-dir", str(data)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    workers: list[int] = []
    try:
        line = process.stdout.readline()
        assert "2 worker processes" in line, line + process.stderr.read()
        url = re.search(r"http://127\.0\.0\.1:\d+", line).group(0)
        with SearchClient(store=open_store("embedded", path=str(data)), index="demo-films") as client:
            expected = client.search("a shark terrorizes a beach town", mode="bm25", k=3).ids
        deadline = time.monotonic() + 120
        answered = 0
        while time.monotonic() < deadline and answered < 20:
            try:
                # A new connection each time: the kernel hands connections, not requests, to the workers.
                body = requests.get(url + "/search", params={"q": "a shark terrorizes a beach town", "mode": "bm25", "k": 3}, timeout=60).json()
            except requests.ConnectionError:
                time.sleep(0.2)  # the workers are still starting
                continue
            assert [h["id"] for h in body["hits"]] == expected
            answered += 1
        assert answered == 20
        workers = _spawned_workers(process.pid)
        assert len(workers) == 2
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "Traceback" not in err and "stopped" in out
    assert not [w for w in workers if Path(f"/proc/{w}").exists()]


def test_cli_refuses_a_missing_api_key_variable(tmp_path):
    env = {**os.environ, "NEURAL_SEARCH_HOME": str(tmp_path)}
    env.pop("SERVE_TEST_UNSET_KEY", None)
    done = subprocess.run(
        [sys.executable, "-m", "neural_search.cli", "serve", "--index", "x", "--http-api-key-env", "SERVE_TEST_UNSET_KEY", "--port", "0"],
        env=env, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 2 and "SERVE_TEST_UNSET_KEY, which is not set" in done.stderr


# -- a real server engine ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def on_opensearch(engine_url, encoder, tmp_path_factory):
    url = engine_url("opensearch")
    store = open_store("opensearch", url=url)
    name = f"serve-films-{uuid.uuid4().hex[:8]}"
    build(store, encoder, name, tmp_path_factory.mktemp("serve-os-state"))
    service = Service(targets=[Target("opensearch", name)], open_store=lambda engine: open_store("opensearch", url=url), encoder=encoder)
    service.warm_up()
    try:
        with BackgroundServer(create_app(service)) as running:
            running.index = name
            yield running
    finally:
        service.close()
        physical = store.resolve(name)
        if physical:
            store.drop(physical)
        store.close()


@pytest.mark.integration
def test_server_engine_search_health_indexes_and_errors(on_opensearch, encoder):
    s = on_opensearch
    body = search(s, q="ship sinks after hitting an iceberg", engine="opensearch", index=s.index, mode="hybrid", k=5, explain=True).json()
    assert body["engine"] == "opensearch" and body["hits"][0]["id"] == TITANIC
    assert all(set(h["legs"]) == {"bm25", "knn"} for h in body["hits"])
    assert search(s, q="iceberg", engine="opensearch", index=s.index, mode="bm25", fusion_at="engine").status_code == 200
    health = requests.get(s.url + "/health", timeout=30)
    assert health.status_code == 200 and health.json()["engines"]["opensearch"]["version"].startswith("2.")
    entry = requests.get(s.url + "/indexes", timeout=30).json()["indexes"][0]
    assert entry["count"] == 300 and entry["model"]["id"] == encoder.fingerprint.id and entry["analyzer"]
    error = error_of(search(s, q="x", engine="opensearch", index=s.index, k=0), 400)
    assert "k must be a positive integer" in error["message"]
    error_of(search(s, q="x", engine="opensearch", index="serve-nope"), 404)


@pytest.mark.integration
def test_server_engine_under_parallel_requests(on_opensearch):
    s = on_opensearch
    texts = ["ship sinks after hitting an iceberg", "a shark terrorizes a beach town", "toys come to life", "wizard school"]
    jobs = [(t, m) for t in texts for m in ("bm25", "knn", "hybrid")] * 8  # 96 requests

    def one(job):
        text, mode = job
        response = requests.post(s.url + "/search", json={"q": text, "engine": "opensearch", "index": s.index, "mode": mode, "k": 10}, timeout=120)
        return job, response.status_code, response.json()

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(one, jobs))
    assert [status for _, status, _ in answers] == [200] * len(jobs)
    by_job: dict = {}
    for job, _, body in answers:  # every repeat of a search answers the same ranking
        by_job.setdefault(job, set()).add(json.dumps([h["id"] for h in body["hits"]]))
    assert all(len(rankings) == 1 for rankings in by_job.values())
