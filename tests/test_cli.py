import json
import socket
import subprocess
import sys

import pytest

from neural_search.cli import main, parse_filters

from .conftest import DATASETS, REPO


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("NEURAL_SEARCH_HOME", str(tmp_path / "home"))
    return tmp_path


def test_parse_filters():
    assert parse_filters(["genre=drama", "genre=comedy", "year>=1990", "year<2000", "flag=true", "score=0.5"]) == {
        "genre": ["drama", "comedy"], "year": {"gte": 1990, "lt": 2000}, "flag": True, "score": 0.5,
    }


def test_index_then_search_on_the_embedded_engine(home, capsys):
    source = DATASETS / "dbpedia-2015-10-sample-nordlys"
    assert main(["index", "--source", str(source), "--format", "dbpedia", "--index", "airlines", "--quiet", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert (summary["read"], summary["indexed"], summary["failed"], summary["skipped"]) == (97, 97, 0, 0)
    assert main(["search", "--index", "airlines", "--mode", "hybrid", "--explain", "--k", "3", "--json", "Dutch airline"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["hits"][0]["id"] == "<dbpedia:KLM>"
    assert set(result["hits"][0]["legs"]) == {"bm25", "knn"}
    assert main(["search", "--index", "airlines", "--mode", "bm25", "--k", "2", "KLM"]) == 0
    assert "<dbpedia:KLM>" in capsys.readouterr().out


def test_clear_errors(home, capsys):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code = main(["search", "--engine", "elasticsearch", "--url", f"http://127.0.0.1:{port}", "--index", "x", "--mode", "bm25", "q"])
    err = capsys.readouterr().err
    assert code == 2 and f"127.0.0.1:{port}" in err and "cannot be reached" in err
    assert main(["index", "--source", str(home / "missing"), "--index", "x"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["search", "--index", "Bad Name", "q"]) == 2
    assert "invalid index name" in capsys.readouterr().err
    assert main(["search", "--index", "never-built", "--mode", "bm25", "q"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_engines_up_refuses_a_port_held_by_something_else(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        env = {"PATH": "/usr/bin:/bin", "NEURAL_SEARCH_ENGINES_DIR": str(tmp_path), "NEURAL_SEARCH_SOLR_PORT": str(port)}
        result = subprocess.run([sys.executable, str(REPO / "servers" / "manage.py"), "up", "solr"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert f"port {port} is already in use" in result.stderr


def test_secret_flags_name_variables_that_must_be_set(home, capsys, monkeypatch):
    monkeypatch.delenv("NS_TEST_UNSET_PASSWORD", raising=False)
    code = main(["search", "--engine", "solr", "--username", "u", "--password-env", "NS_TEST_UNSET_PASSWORD", "--index", "x", "q"])
    assert code == 2 and "NS_TEST_UNSET_PASSWORD, which is not set" in capsys.readouterr().err
