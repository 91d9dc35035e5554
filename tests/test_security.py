"""Credentials, TLS and user-supplied names.

- Secrets (passwords, API keys) never appear in reprs, error messages, logs (at DEBUG), the
  command's output or its state files.
- A real Solr with authentication switched on (BasicAuthPlugin + RuleBasedAuthorizationPlugin,
  started by this module on a free loopback port): index and search with the right credentials,
  from environment variables or flags; wrong or missing ones give a clear error naming the URL.
- TLS: a TLS-terminating proxy with a throw-away CA in front of each real engine; verification
  is on by default, a CA bundle makes it pass.
- Elasticsearch and OpenSearch run with security off, so a proxy checks that the credentials
  reach the wire in the right form (basic auth, API key).
- Index names are validated before anything touches an engine or the state directory.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import time
import uuid
from pathlib import Path

import pytest

from neural_search.cli import build_parser, main, open_store_from_args
from neural_search.config import EngineConfig, strip_credentials
from neural_search.engines import open_store
from neural_search.errors import AuthenticationError, ConfigurationError, EngineUnavailable
from neural_search.indexing import Indexer
from neural_search.search import SearchClient
from neural_search.sources import read_jsonl

from .conftest import FILMS, unavailable
from .faults import HttpFaultProxy, SecuredSolr, TcpProxy, free_port, make_test_ca, server_tls_context

SECRET = "s3cr3t-Pa55:w@rd/%"  # characters that need quoting in a URL
API_KEY = "VnVhQ2ZHY0JDZGJrUW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="
TITANIC = "<dbpedia:Titanic_(1997_film)>"
from neural_search.registry import SERVER_ENGINES  # noqa: E402


def forms_of(secret: str) -> list[str]:
    """The secret as it could leak: plain, URL-quoted, inside a basic-auth header."""
    from urllib.parse import quote

    return [secret, quote(secret, safe=""), base64.b64encode(f"indexer:{secret}".encode()).decode()]


def assert_no_secret(text: str, *secrets: str) -> None:
    for secret in secrets:
        for form in forms_of(secret):
            assert form not in text, f"secret leaked: ...{text[max(0, text.find(form) - 80): text.find(form) + 80]}..."


def closed_port() -> int:
    return free_port()


# -- configuration ---------------------------------------------------------------------------------


def test_config_masks_secrets_everywhere():
    config = EngineConfig(engine="elasticsearch", url="https://es.example:9200", api_key=API_KEY)
    basic = EngineConfig(engine="solr", url="http://solr.example:8983/solr", username="indexer", password=SECRET)
    for text in (repr(config), str(config), json.dumps(config.redacted()), config.auth, repr(basic), str(basic),
                 json.dumps(basic.redacted()), basic.auth, repr(dataclasses.replace(basic, timeout=5))):
        assert_no_secret(text, SECRET, API_KEY)
    assert basic.auth == "basic (indexer)" and config.auth == "api key"
    assert basic.redacted()["password"] == "***" and config.redacted()["api_key"] == "***"
    assert basic.password == SECRET and config.api_key == API_KEY  # still usable by the clients


def test_credentials_inside_a_url_are_taken_out_of_it():
    from urllib.parse import quote

    url = f"http://indexer:{quote(SECRET, safe='')}@127.0.0.1:8983/solr/"
    config = EngineConfig.from_env("solr", url=url)
    assert (config.username, config.password, config.url) == ("indexer", SECRET, "http://127.0.0.1:8983/solr")
    assert strip_credentials(url) == "http://127.0.0.1:8983/solr/"
    assert strip_credentials("https://u:p@[::1]:9200/x") == "https://[::1]:9200/x"
    with pytest.raises(ConfigurationError, match="not both"):
        EngineConfig(engine="solr", url=url, username="other", password="x")


QUOTED = __import__("urllib.parse").parse.quote(SECRET, safe="")


@pytest.mark.parametrize("url", [f"ftp://indexer:{QUOTED}@host:21", f"http://indexer:{QUOTED}@host:notaport", f"indexer:{QUOTED}@host",
                                 f"indexer:{QUOTED}@host:9200/x", f"http://indexer:{QUOTED}@/x"])
def test_configuration_errors_do_not_repeat_the_secret(url):
    with pytest.raises(ConfigurationError) as info:
        EngineConfig(engine="elasticsearch", url=url)
    assert_no_secret(str(info.value), SECRET)


def test_environment_variables_and_their_precedence(monkeypatch, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("not checked here")
    monkeypatch.setenv("NEURAL_SEARCH_ELASTICSEARCH_URL", "https://es.example:9200")
    monkeypatch.setenv("NEURAL_SEARCH_ELASTICSEARCH_USERNAME", "indexer")
    monkeypatch.setenv("NEURAL_SEARCH_ELASTICSEARCH_PASSWORD", SECRET)
    monkeypatch.setenv("NEURAL_SEARCH_ELASTICSEARCH_CA_CERTS", str(ca))
    monkeypatch.setenv("NEURAL_SEARCH_ELASTICSEARCH_TIMEOUT", "7.5")
    config = EngineConfig.from_env("elasticsearch")
    assert (config.url, config.username, config.password, config.ca_certs, config.verify_certs, config.timeout) == (
        "https://es.example:9200", "indexer", SECRET, str(ca), True, 7.5)
    # An API key argument replaces the environment's username/password (one way to authenticate).
    keyed = EngineConfig.from_env("elasticsearch", api_key=API_KEY)
    assert keyed.api_key == API_KEY and keyed.username is None and keyed.password is None
    # Arguments win over the environment.
    assert EngineConfig.from_env("elasticsearch", url="http://other:9200", username="u2", password="p2").username == "u2"
    monkeypatch.setenv("NEURAL_SEARCH_ELASTICSEARCH_VERIFY_CERTS", "false")
    assert EngineConfig.from_env("elasticsearch").verify_certs is False
    monkeypatch.setenv("NEURAL_SEARCH_ELASTICSEARCH_VERIFY_CERTS", "perhaps")
    with pytest.raises(ConfigurationError, match="VERIFY_CERTS"):
        EngineConfig.from_env("elasticsearch")
    monkeypatch.delenv("NEURAL_SEARCH_ELASTICSEARCH_VERIFY_CERTS")
    monkeypatch.setenv("NEURAL_SEARCH_ELASTICSEARCH_TIMEOUT", "soon")
    with pytest.raises(ConfigurationError, match="TIMEOUT"):
        EngineConfig.from_env("elasticsearch")


def test_invalid_credential_combinations_are_refused(tmp_path):
    with pytest.raises(ConfigurationError, match="both a username and a password"):
        EngineConfig(engine="elasticsearch", url="http://h:9200", username="indexer")
    with pytest.raises(ConfigurationError, match="not API keys"):
        EngineConfig(engine="solr", url="http://h:8983/solr", api_key=API_KEY)
    with pytest.raises(ConfigurationError, match="either an API key or a username"):
        EngineConfig(engine="opensearch", url="http://h:9200", api_key=API_KEY, username="u", password="p")
    with pytest.raises(ConfigurationError, match="does not exist"):
        EngineConfig(engine="opensearch", url="https://h:9200", ca_certs=str(tmp_path / "missing.pem"))
    assert EngineConfig(engine="opensearch", url="https://h:9200").verify_certs is True  # on by default


def test_cli_flags_build_the_connection(monkeypatch, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    monkeypatch.setenv("MY_ES_PASSWORD", SECRET)
    monkeypatch.setenv("MY_ES_KEY", API_KEY)
    parser = build_parser()
    args = parser.parse_args(["search", "q", "--index", "films", "--engine", "elasticsearch", "--url", "https://es.example:9200",
                              "--username", "indexer", "--password-env", "MY_ES_PASSWORD", "--ca-certs", str(ca)])
    store = open_store_from_args(args)
    assert (store.config.username, store.config.password, store.config.ca_certs, store.config.verify_certs) == ("indexer", SECRET, str(ca), True)
    assert_no_secret(repr(store) + repr(args), SECRET)
    args = parser.parse_args(["search", "q", "--index", "films", "--engine", "opensearch", "--url", "https://os.example:9200",
                              "--api-key-env", "MY_ES_KEY", "--insecure"])
    store = open_store_from_args(args)
    assert store.config.api_key == API_KEY and store.config.verify_certs is False
    args = parser.parse_args(["search", "q", "--index", "films", "--engine", "solr", "--url", "http://solr.example:8983/solr",
                              "--username", "indexer", "--password-env", "MY_ES_PASSWORD"])
    store = open_store_from_args(args)
    assert (store.config.username, store.config.password) == ("indexer", SECRET)
    client = SearchClient(store=store, index="films")
    assert_no_secret(repr(client) + repr(store) + str(store.config), SECRET)


@pytest.mark.parametrize("engine", SERVER_ENGINES)
def test_unreachable_engine_error_names_the_url_but_not_the_password(engine, capsys, caplog, tmp_path, monkeypatch):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("NEURAL_SEARCH_HOME", str(tmp_path))
    from urllib.parse import quote

    port = closed_port()
    suffix = "/solr" if engine == "solr" else ""
    url = f"http://indexer:{quote(SECRET, safe='')}@127.0.0.1:{port}{suffix}"
    store = open_store(engine, url=url, timeout=2)
    with pytest.raises(EngineUnavailable) as info:
        store.describe()
    assert f"http://127.0.0.1:{port}{suffix}" in str(info.value)
    assert main(["search", "--engine", engine, "--url", url, "--index", "films", "--mode", "bm25", "q"]) == 2
    captured = capsys.readouterr()
    assert f"http://127.0.0.1:{port}{suffix}" in captured.err and "cannot be reached" in captured.err
    assert_no_secret(str(info.value) + repr(info.value) + captured.out + captured.err + caplog.text, SECRET)


BAD_NAMES = ["Films", "../etc", "a/b", "films__v1", "", "-films", "_all", "x" * 101, "films*", "films,other", "films name", "films\n", "фильмы"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_the_cli_refuses_bad_index_names_before_touching_anything(name, capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("NEURAL_SEARCH_HOME", str(tmp_path / "home"))
    state = tmp_path / "state"
    # A closed port: a name that got as far as the engine would fail differently.
    url = f"http://127.0.0.1:{closed_port()}"
    from neural_search.engines.base import validate_index_name

    with pytest.raises(ConfigurationError):
        validate_index_name(name)
    assert main(["index", "--engine", "elasticsearch", "--url", url, "--source", str(FILMS), f"--index={name}",
                 "--state-dir", str(state), "--quiet"]) == 2
    assert "invalid index name" in capsys.readouterr().err
    assert not state.exists(), "nothing may be written for a refused name"
    assert main(["search", "--engine", "solr", "--url", url + "/solr", f"--index={name}", "--mode", "bm25", "q"]) == 2
    assert "invalid index name" in capsys.readouterr().err
    assert main(["search", f"--index={name}", "--mode", "bm25", "q"]) == 2  # embedded
    assert "invalid index name" in capsys.readouterr().err
    assert not (tmp_path / "home").exists()
    with pytest.raises(ConfigurationError, match="invalid index name"):
        SearchClient(store=open_store("embedded", path=tmp_path / "e"), index=name)


def test_good_index_names_pass_validation():
    from neural_search.engines.base import validate_index_name

    for name in ("films", "films-2024", "a", "x" * 100, "beir_scifact", "0day"):
        assert validate_index_name(name) == name


# -- a Solr with authentication switched on --------------------------------------------------------

INDEXER_PASSWORD = SECRET
READER_PASSWORD = "r3ader-" + uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def secured_solr(engine_url, tmp_path_factory):
    engine_url("solr")  # the local Solr install must be there (prepared by `make engines-up`)
    solr = SecuredSolr(tmp_path_factory.mktemp("secured-solr") / "home",
                       {"indexer": (INDEXER_PASSWORD, ["admin"]), "reader": (READER_PASSWORD, ["reader"])})
    if not solr.prepared():
        message = f"no prepared Solr install at {solr.home}; run `make engines-up` first"
        unavailable(message)
    solr.start()
    yield solr
    solr.stop()


@pytest.fixture(scope="module")
def secured_index(secured_solr, encoder, tmp_path_factory):
    """The films, indexed into the secured Solr with the library and the right credentials."""
    store = open_store("solr", url=secured_solr.url, username="indexer", password=INDEXER_PASSWORD)
    name = f"t-secure-{uuid.uuid4().hex[:8]}"
    summary = Indexer(store, encoder, state_dir=tmp_path_factory.mktemp("secure-state"), progress=False).run(
        read_jsonl(FILMS), name=name, source={"films": 1})
    assert summary.indexed == 300
    yield name
    store.drop(store.resolve(name))
    store.close()


def _solr_env(monkeypatch, url, user=None, password=None):
    monkeypatch.setenv("NEURAL_SEARCH_SOLR_URL", url)
    for key, value in (("USERNAME", user), ("PASSWORD", password)):
        if value is None:
            monkeypatch.delenv(f"NEURAL_SEARCH_SOLR_{key}", raising=False)
        else:
            monkeypatch.setenv(f"NEURAL_SEARCH_SOLR_{key}", value)


@pytest.mark.integration
def test_secured_solr_refuses_requests_without_credentials(secured_solr):
    assert secured_solr._status(None, None) == 401
    assert secured_solr._status("indexer", "wrong") == 401
    assert secured_solr._status("indexer", INDEXER_PASSWORD) == 200


@pytest.mark.integration
def test_index_and_search_with_credentials_from_the_environment(secured_solr, monkeypatch, tmp_path, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    _solr_env(monkeypatch, secured_solr.url, "indexer", INDEXER_PASSWORD)
    name = f"t-secure-cli-{uuid.uuid4().hex[:8]}"
    source = tmp_path / "films.jsonl"
    source.write_text("\n".join(FILMS.read_text(encoding="utf-8").splitlines()[:60]) + "\n{broken\n", encoding="utf-8")
    state = tmp_path / "state"
    try:
        assert main(["index", "--engine", "solr", "--source", str(source), "--index", name, "--state-dir", str(state), "--quiet", "--json"]) == 0
        summary = json.loads(capsys.readouterr().out)
        assert (summary["indexed"], summary["failed"]) == (60, 1)
        assert main(["search", "--engine", "solr", "--index", name, "--mode", "hybrid", "--json", "--k", "3",
                     "ship sinks after hitting an iceberg"]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["hits"][0]["id"] == TITANIC
        store = open_store("solr")  # from the environment
        assert store.count(store.resolve(name)) == 60
        files = "".join(p.read_text(errors="replace") for p in state.rglob("*") if p.is_file())
        captured = capsys.readouterr()
        assert_no_secret(captured.out + captured.err + caplog.text + files + json.dumps(summary) + json.dumps(result), INDEXER_PASSWORD)
    finally:
        store = open_store("solr", url=secured_solr.url, username="indexer", password=INDEXER_PASSWORD)
        if store.resolve(name):
            store.drop(store.resolve(name))


@pytest.mark.integration
def test_search_with_credentials_from_flags_and_from_the_url(secured_solr, secured_index, monkeypatch, capsys):
    from urllib.parse import quote

    _solr_env(monkeypatch, secured_solr.url)
    monkeypatch.setenv("SOLR_READER_PASSWORD", READER_PASSWORD)
    assert main(["search", "--engine", "solr", "--index", secured_index, "--mode", "bm25", "--json", "--k", "3",
                 "--username", "reader", "--password-env", "SOLR_READER_PASSWORD", "iceberg ship"]) == 0
    assert json.loads(capsys.readouterr().out)["hits"][0]["id"] == TITANIC
    with_credentials = secured_solr.url.replace("http://", f"http://reader:{quote(READER_PASSWORD, safe='')}@")
    client = SearchClient.connect("solr", index=secured_index, url=with_credentials)
    assert client.search("ship sinks after hitting an iceberg", mode="hybrid", k=3).ids[0] == TITANIC
    assert_no_secret(repr(client) + repr(client.store) + str(client.store.config), READER_PASSWORD)
    client.close()


@pytest.mark.integration
@pytest.mark.parametrize("who", ["wrong password", "no credentials", "unknown user"])
def test_wrong_or_missing_credentials_are_a_clear_error(secured_solr, secured_index, who, monkeypatch, capsys, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    user, password = {"wrong password": ("indexer", "not-" + INDEXER_PASSWORD), "no credentials": (None, None),
                      "unknown user": ("mallory", INDEXER_PASSWORD)}[who]
    _solr_env(monkeypatch, secured_solr.url, user, password)
    assert main(["search", "--engine", "solr", "--index", secured_index, "--mode", "bm25", "q"]) == 2
    err = capsys.readouterr().err
    assert secured_solr.url in err and "authentication failed (401)" in err
    started = time.monotonic()
    assert main(["index", "--engine", "solr", "--source", str(FILMS), "--index", secured_index, "--state-dir", str(tmp_path),
                 "--quiet", "--retry-budget", "60"]) == 2
    assert time.monotonic() - started < 30, "an authentication failure is not retried"
    err += capsys.readouterr().err
    assert secured_solr.url in err and "401" in err
    store = open_store("solr", url=secured_solr.url, username=user, password=password)
    with pytest.raises(AuthenticationError, match="authentication failed") as info:
        SearchClient(store=store, index=secured_index).search("iceberg", mode="bm25")
    assert not isinstance(info.value, EngineUnavailable), "refused credentials are not an outage"
    assert secured_solr.url in str(info.value)
    assert_no_secret(err + str(info.value) + caplog.text, INDEXER_PASSWORD, "not-" + INDEXER_PASSWORD)


@pytest.mark.integration
def test_a_read_only_user_can_search_but_not_write(secured_solr, secured_index, encoder, tmp_path):
    store = open_store("solr", url=secured_solr.url, username="reader", password=READER_PASSWORD)
    assert SearchClient(store=store, index=secured_index, encoder=encoder).search("iceberg ship", mode="bm25", k=1).ids == [TITANIC]
    indexer = Indexer(store, encoder, state_dir=tmp_path, progress=False)
    try:
        with pytest.raises(AuthenticationError) as info:
            indexer.run(list(read_jsonl(FILMS))[:5], name=f"t-reader-{uuid.uuid4().hex[:6]}", source={"x": 1})
    finally:
        admin = open_store("solr", url=secured_solr.url, username="indexer", password=INDEXER_PASSWORD)
        assert admin.count(admin.resolve(secured_index)) == 300  # nothing changed
    assert info.value.status == 403
    assert "403" in str(info.value) and secured_solr.url in str(info.value)


# -- TLS, with a throw-away CA ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def test_ca(tmp_path_factory):
    made = make_test_ca(tmp_path_factory.mktemp("ca"))
    if made is None:
        pytest.skip("the openssl command is not installed")
    return made


@pytest.mark.integration
@pytest.mark.parametrize("engine", SERVER_ENGINES)
def test_tls_is_verified_by_default_and_a_ca_bundle_makes_it_pass(engine, engine_url, test_ca, monkeypatch, caplog):
    ca, cert, key = test_ca
    # (requests lets these variables override a session's CA bundle; the next test covers that)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    with TcpProxy(engine_url(engine), tls=server_tls_context(cert, key)) as proxy:
        assert proxy.url.startswith("https://127.0.0.1:")
        with pytest.raises(EngineUnavailable) as info:
            open_store(engine, url=proxy.url, timeout=5).describe()
        assert proxy.url in str(info.value)
        assert open_store(engine, url=proxy.url, ca_certs=str(ca), timeout=5).describe()["version"]
        monkeypatch.setenv(f"NEURAL_SEARCH_{engine.upper()}_CA_CERTS", str(ca))
        assert open_store(engine, url=proxy.url, timeout=5).describe()["version"]
        monkeypatch.delenv(f"NEURAL_SEARCH_{engine.upper()}_CA_CERTS")
        with caplog.at_level(logging.WARNING, logger="neural_search.config"):
            insecure = open_store(engine, url=proxy.url, verify_certs=False, timeout=5)
        assert "verification is off" in caplog.text
        assert insecure.describe()["version"]


@pytest.mark.integration
def test_solr_ca_bundle_and_insecure_win_over_requests_environment_variables(engine_url, test_ca, monkeypatch):
    """REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE are common in containers; --ca-certs and --insecure
    must still be what decides."""
    ca, cert, key = test_ca
    system_bundle = next((p for p in ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt") if Path(p).exists()), None)
    if system_bundle is None:
        pytest.skip("no system CA bundle to point REQUESTS_CA_BUNDLE at")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", system_bundle)
    with TcpProxy(engine_url("solr"), tls=server_tls_context(cert, key)) as proxy:
        open_store("solr", url=proxy.url, ca_certs=str(ca), timeout=5).describe()
        with pytest.raises(EngineUnavailable):
            open_store("solr", url=proxy.url, timeout=5).describe()


# -- Elasticsearch and OpenSearch: the credentials reach the wire --------------------------------------


@pytest.mark.integration
@pytest.mark.parametrize("engine", ["elasticsearch", "opensearch"])
@pytest.mark.parametrize("scheme", ["basic", "api key"])
def test_credentials_are_sent_and_a_401_is_a_clear_error(engine, scheme, engine_url, caplog):
    caplog.set_level(logging.DEBUG)
    expected = ("Basic " + base64.b64encode(f"indexer:{SECRET}".encode()).decode()) if scheme == "basic" else f"ApiKey {API_KEY}"
    seen: list[str | None] = []

    def decide(method, path, headers, body):
        header = next((v for k, v in headers.items() if k.lower() == "authorization"), None)
        seen.append(header)
        if header != expected:
            return 401, {"error": {"type": "security_exception", "reason": "unable to authenticate"}, "status": 401}
        return None

    good = {"username": "indexer", "password": SECRET} if scheme == "basic" else {"api_key": API_KEY}
    bad = {"username": "indexer", "password": "wrong"} if scheme == "basic" else {"api_key": "wrong-key"}
    with HttpFaultProxy(engine_url(engine), decide) as proxy:
        assert open_store(engine, url=proxy.url, **good).describe()["version"]
        assert seen and all(h == expected for h in seen)
        for credentials in (bad, {}):
            with pytest.raises(AuthenticationError, match=r"authentication failed \(401\)") as info:
                open_store(engine, url=proxy.url, **credentials).describe()
            assert proxy.url in str(info.value)
            assert_no_secret(str(info.value), SECRET, API_KEY)
    assert_no_secret(caplog.text, SECRET, API_KEY)
