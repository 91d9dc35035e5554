"""The embedded engine's analyzers against Lucene's.

Unit tests: the `standard` and `english` chains on tricky cases; the expected tokens are what
Lucene 10.5.1's StandardAnalyzer (no stop words) and EnglishAnalyzer give for the same text.
Integration tests: every distinct whitespace-separated word of the shared collections (titles and
texts), analysed by each engine's own analyzer (`_analyze` on Elasticsearch and OpenSearch, the
field-analysis handler on Solr), must give exactly the Python analyzer's tokens.
"""

from __future__ import annotations

import bisect
import json
import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from neural_search import analysis
from neural_search.analysis import ANALYZERS, analyzer_for, english_tokenize, tokenize
from neural_search.errors import ConfigurationError

from .conftest import DATASETS, FILMS

# (text, standard tokens, english tokens), from Lucene 10.5.1.
CASES = [
    ("John's dog", ["john's", "dog"], ["john", "dog"]),
    ("JOHN'S DOG", ["john's", "dog"], ["john", "dog"]),  # 'S comes off before lowercasing
    ("The runners\u2019s running", ["the", "runners\u2019s", "running"], ["runner", "run"]),
    ("the dog\uff07s bone", ["the", "dog\uff07s", "bone"], ["dog", "bone"]),
    ("dogs' bones", ["dogs", "bones"], ["dog", "bone"]),
    ("O'Neil's", ["o'neil's"], ["o'neil"]),
    ("it's", ["it's"], []),  # possessive off, then "it" is a stop word
    ("That's it", ["that's", "it"], []),
    ("The cat is on the mat", ["the", "cat", "is", "on", "the", "mat"], ["cat", "mat"]),
    ("To be or not to be", ["to", "be", "or", "not", "to", "be"], []),
    ("3.5 1,000 1990s 2nd 10:30 3's", ["3.5", "1,000", "1990s", "2nd", "10", "30", "3", "s"],
     ["3.5", "1,000", "1990", "2nd", "10", "30", "3", "s"]),
    ("1983.It 90's", ["1983", "it", "90", "s"], ["1983", "90", "s"]),
    ("U.S.A. don't title:titanic", ["u.s.a", "don't", "title:titanic"], ["u.s.a", "don't", "title:titan"]),
    ("東京タワーに行きます", ["東", "京", "タワー", "に", "行", "き", "ま", "す"],
     ["東", "京", "タワー", "に", "行", "き", "ま", "す"]),
    ("한국어 텍스트", ["한국어", "텍스트"], ["한국어", "텍스트"]),
    ("RUNNING Runners", ["running", "runners"], ["run", "runner"]),
    ("İstanbul ΟΔΟΣ", ["istanbul", "οδοσ"], ["istanbul", "οδοσ"]),  # Java's one-code-point lowercase
    ("caresses ponies sky generalization hopping", ["caresses", "ponies", "sky", "generalization", "hopping"],
     ["caress", "poni", "sky", "gener", "hop"]),
    ("e-mail co-operate x_y", ["e", "mail", "co", "operate", "x_y"], ["e", "mail", "co", "oper", "x_y"]),
    ("analogy probably accessibly", ["analogy", "probably", "accessibly"], ["analog", "probabl", "access"]),
    ("as is us 1s", ["as", "is", "us", "1s"], ["us", "1s"]),  # two letters: never stemmed
    ("\U0001F600 hi\U0001F44D\U0001F3FB Nutrition\u00ae", ["\U0001F600", "hi", "\U0001F44D\U0001F3FB", "nutrition", "\u00ae"],
     ["\U0001F600", "hi", "\U0001F44D\U0001F3FB", "nutrit", "\u00ae"]),
    ("naïve café Мару\u0301ся", ["naïve", "café", "мару\u0301ся"], ["naïv", "café", "мару\u0301ся"]),
    ("مصر\u200e) ˈvɛu̯t͡ʂ] ராமன்", ["مصر\u200e", "ˈvɛu̯t͡ʂ", "ராமன்"], ["مصر\u200e", "ˈvɛu̯t͡ʂ", "ராமன்"]),
]


@pytest.mark.parametrize("text, standard, english", CASES, ids=[c[0][:24] for c in CASES])
def test_chains_give_lucenes_tokens(text, standard, english):
    assert tokenize(text) == standard
    assert english_tokenize(text) == english


def test_long_tokens_are_cut_at_255_utf16_units():
    assert tokenize("a" * 300) == ["a" * 255, "a" * 45]
    assert tokenize("ab" * 130) == ["ab" * 127 + "a", "babab"]
    # JFlex sees 255 units at a time: the "." at unit 255 cannot join, and is dropped.
    assert tokenize("a" * 254 + ".bcc") == ["a" * 254, "bcc"]
    assert tokenize("\u0430" * 254 + ".\u0431\u0432") == ["\u0430" * 254, "\u0431\u0432"]
    assert english_tokenize("A" * 600) == ["a" * 255, "a" * 255, "a" * 90]
    # A supplementary character is two UTF-16 units: 127 of them fill 254 units, the 128th does not fit.
    assert [len(t) for t in tokenize("\U00010400" * 130)] == [127, 3]


# Representatives of every class of the grammar: letters, digits, ExtendNumLet, the mid classes,
# Hebrew and its quotes, katakana, hiragana, Han, Thai, Hangul, Extend/Format/ZWJ, emoji parts.
FUZZ_ALPHABET = list("aZ09_:.',;\"#*- ") + [
    "\u05d0", "\u05d1", "\u05f3", "\u05f4", "\u30a2", "\u30fc", "\u3042", "\u6771", "\u0e01", "\u0e31",
    "\u0301", "\u200d", "\u200e", "\ufe0f", "\u20e3", "\U0001F600", "\U0001F44D", "\U0001F3FB", "\U0001F1FA",
    "\u00b7", "\u2019", "\uff07", "\u202f", "\uac00", "\u24c2", "\u00a9", "\u0660", "\uff10", "\u2024",
    "\ufe52", "\U000E0067", "\U000E007F", "\u0600", "\u02e5", "\u00e9", "\u2066", "\u2063",
]


@pytest.mark.parametrize("alphabet", [FUZZ_ALPHABET, list("aZ09_:.',;\"#*-! ")], ids=["unicode", "ascii"])
def test_scanner_agrees_with_the_literal_grammar(alphabet):
    """The fast scanner against literal_grammar(), the jflex rules transcribed one for one and searched
    leftmost-longest (too slow to tokenize with, exact on short strings)."""
    rng, grammar = random.Random(7), analysis.literal_grammar()
    for _ in range(20000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 10)))
        assert list(analysis._chunk_tokens(text)) == [m.group() for m in grammar.finditer(text)], repr(text)


def test_analyzer_for():
    assert ANALYZERS == ("standard", "english")
    assert analyzer_for("standard") is tokenize
    assert analyzer_for("english")("The Runners") == ["runner"]
    with pytest.raises(ConfigurationError, match="unknown analyzer 'snowball': use one of standard, english"):
        analyzer_for("snowball")


def test_stop_words_are_lucenes_33():
    assert len(analysis.ENGLISH_STOP_WORDS) == 33
    assert {"the", "a", "will", "with", "such"} <= analysis.ENGLISH_STOP_WORDS
    assert "have" not in analysis.ENGLISH_STOP_WORDS


# --- Integration: the whole vocabulary against the engines. ------------------------------------

COLLECTIONS = ("nfcorpus", "cranfield", "cisi", "medline", "adi", "cacm", "dbpedia14-abstracts-notitle",
               "dbpedia-abstracts-ml1m-movies")
BATCH_TOKENS = 9000  # under index.analyze.max_token_count (10000)
BATCH_CHARS = 200_000


@pytest.fixture(scope="module")
def vocabulary() -> list[str]:
    paths = [DATASETS / name / "corpus.jsonl" for name in COLLECTIONS]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        pytest.skip(f"shared collections missing: {', '.join(missing)} (set NEURAL_SEARCH_DATASETS)")
    words: set[str] = set()
    for path in [*paths, FILMS]:
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                doc = json.loads(line)
                for field in ("title", "text"):
                    words.update((doc.get(field) or "").split())
    return sorted(words)


def _batches(words: list[str]):
    batch, tokens, chars = [], 0, 0
    for word in words:
        count = len(tokenize(word)) + 1
        if batch and (tokens + count > BATCH_TOKENS or chars + len(word) > BATCH_CHARS):
            yield batch
            batch, tokens, chars = [], 0, 0
        batch.append(word)
        tokens += count
        chars += len(word) + 1
    if batch:
        yield batch


def _utf16_starts(batch: list[str]) -> list[int]:
    """Where each word starts in "\\n".join(batch), in the UTF-16 units that Lucene's offsets count."""
    starts, at = [], 0
    for word in batch:
        starts.append(at)
        at += len(word.encode("utf-16-le")) // 2 + 1
    return starts


def _engine_tokens(batch: list[str], analyse) -> list[list[str]]:
    """Each word's tokens, from one engine request over the whole batch (a token belongs to the
    word its start offset falls in: no token spans the newlines between words)."""
    starts = _utf16_starts(batch)
    out: list[list[str]] = [[] for _ in batch]
    for term, start in analyse("\n".join(batch)):
        out[bisect.bisect_right(starts, start) - 1].append(term)
    return out


def _compare(words: list[str], analyse, python) -> tuple[int, list[tuple[str, list[str], list[str]]]]:
    differences, checked = [], 0
    batches = list(_batches(words))
    # Two requests in flight: the engine analyses one batch while this process reads the other.
    with ThreadPoolExecutor(max_workers=2) as pool:
        for batch, tokens in zip(batches, pool.map(lambda b: _engine_tokens(b, analyse), batches)):
            for word, theirs in zip(batch, tokens):
                checked += 1
                ours = python(word)
                if ours != theirs:
                    differences.append((word, theirs, ours))
    return checked, differences


def _es_family(url: str, analyzer: str):
    import requests

    def analyse(text: str):
        response = requests.post(f"{url}/_analyze", json={"analyzer": analyzer, "text": text}, timeout=120)
        if response.status_code != 200:
            raise AssertionError(f"{url}/_analyze with analyzer {analyzer!r}: HTTP {response.status_code} {response.text[:500]}")
        return [(t["token"], t["start_offset"]) for t in response.json()["tokens"]]

    return analyse


def _solr(url: str, core: str, field_type: str):
    import requests

    def analyse(text: str):
        response = requests.post(
            f"{url}/{core}/analysis/field",
            data={"analysis.fieldtype": field_type, "analysis.fieldvalue": text, "wt": "json", "indent": "false"},
            timeout=120,
        )
        if response.status_code != 200:
            raise AssertionError(
                f"Solr field analysis of {field_type}: HTTP {response.status_code} {response.text[:500]} "
                f"(an old configset? Solr refreshes it from mappings/solr at start: restart Solr)"
            )
        stages = response.json()["analysis"]["field_types"][field_type]["index"]
        return [(t["text"], t["start"]) for t in stages[-1]]  # [class, tokens, class, tokens, ...]: the last stage

    return analyse


@pytest.fixture(scope="module")
def solr_core(engine_url):
    import requests

    url = engine_url("solr")
    core = f"ana-{uuid.uuid4().hex[:10]}"
    response = requests.get(
        f"{url}/admin/cores",
        params={"action": "CREATE", "name": core, "instanceDir": f"{core}__dir", "configSet": "neural_search", "wt": "json"},
        timeout=120,
    )
    assert response.status_code == 200, response.text[:500]
    yield url, core
    requests.get(f"{url}/admin/cores", params={"action": "UNLOAD", "core": core, "deleteInstanceDir": "true"}, timeout=120)


def _report(engine: str, analyzer: str, checked: int, differences, seconds: float) -> None:
    print(f"\n{engine} {analyzer}: {checked} words, {len(differences)} differ, {seconds:.1f} s")
    assert checked > 0
    assert not differences, (
        f"{len(differences)} of {checked} words analysed differently by {engine}'s {analyzer} analyzer "
        f"(word, engine, python); first: {differences[:20]}"
    )


@pytest.mark.integration
@pytest.mark.parametrize("engine", ["elasticsearch", "opensearch"])
@pytest.mark.parametrize("analyzer", ANALYZERS)
def test_es_family_analyzers_match_on_the_vocabulary(engine, analyzer, engine_url, vocabulary):
    started = time.perf_counter()
    checked, differences = _compare(vocabulary, _es_family(engine_url(engine), analyzer), analyzer_for(analyzer))
    _report(engine, analyzer, checked, differences, time.perf_counter() - started)


@pytest.mark.integration
def test_solr_text_standard_matches_on_the_vocabulary(solr_core, vocabulary):
    url, core = solr_core
    started = time.perf_counter()
    checked, differences = _compare(vocabulary, _solr(url, core, "text_standard"), tokenize)
    _report("solr", "standard", checked, differences, time.perf_counter() - started)


@pytest.mark.integration
def test_solr_text_english_matches_on_the_vocabulary_tokens(solr_core, vocabulary):
    """The english chain per distinct StandardTokenizer token of the vocabulary (110k, half the
    words' 225k tokens: Solr's field analysis answers with every stage, 5 here, and is slow). The
    test above checks the same tokenizer on every word; the filters act on one token at a time."""
    url, core = solr_core
    words = sorted({token for word in vocabulary for token in analysis.raw_tokens(word)})
    started = time.perf_counter()
    checked, differences = _compare(words, _solr(url, core, "text_english"), english_tokenize)
    _report("solr", "english", checked, differences, time.perf_counter() - started)
