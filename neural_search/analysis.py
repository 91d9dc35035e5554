"""Text analysis for the embedded engine: Lucene's `standard` and `english` analyzers, token for token.

Elasticsearch, OpenSearch and the project's Solr schema analyse text with Lucene's
StandardTokenizer, whose grammar (StandardTokenizerImpl.jflex, UAX #29 word breaks for Unicode 9)
is reproduced here rule by rule with the Unicode properties of the `regex` module:

- `standard` (`tokenize`): StandardTokenizer (maxTokenLength 255), then LowerCaseFilter.
- `english` (`english_tokenize`): Lucene's EnglishAnalyzer, which Elasticsearch and OpenSearch
  call `english` and the Solr schema `text_english`: StandardTokenizer, EnglishPossessiveFilter,
  LowerCaseFilter, StopFilter (EnglishAnalyzer.ENGLISH_STOP_WORDS_SET), PorterStemFilter.

tests/test_analysis_english.py compares both with the engines' own output on every distinct word
of the shared collections (192,660 words, no difference). Known limit: characters assigned after
Unicode 9 (2016; new scripts and letters) have newer properties here, so text in them may split
otherwise than in Lucene; none occurs in those collections.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Callable

import regex

from .errors import ConfigurationError

ANALYZERS = ("standard", "english")
MAX_TOKEN_LENGTH = 255  # StandardAnalyzer.DEFAULT_MAX_TOKEN_LENGTH, counted in UTF-16 code units

# --- StandardTokenizerImpl.jflex, macro for macro. ------------------------------------------------
# The `regex` module's tables are newer than Lucene's Unicode 9; the classes below are put back as
# Unicode 9 had them. Since Unicode 11 the skin-tone modifiers are WB=Extend (in 9: E_Modifier).
_MOD = r"\p{Emoji_Modifier}"
# Found by running Lucene 10.5.1 on every code point that Unicode 3.2 already had: characters that
# Unicode 9 gives no word-break class that tokens are made of (cedilla, tone letters, Armenian
# punctuation; and two marks from Unicode 14) ...
_U9_OTHER = "\u00B8\u02E5-\u02EB\u055A\u055F\u058A\u0890\u0891"
# ... and the prepended concatenation marks, Format in Unicode 9, Numeric since.
_U9_FORMAT = "\u0600-\u0605\u06DD\u070F\u08E2\U000110BD"
_EXT_CLASS = rf"[[\p{{WB=Format}}\p{{WB=Extend}}\p{{WB=ZWJ}}{_U9_FORMAT}]--{_MOD}]"
_EXT = rf"{_EXT_CLASS}*"
_EXT_SANS_PRES_SEL = rf"[{_EXT_CLASS}--[\uFE0E\uFE0F]]*"

_KEYCAP_BASE = r"[0-9#*]"
_ACCIDENTAL_EMOJI = r"\u00A9\u00AE\u2122\u3030\u303D"  # (c) (r) TM, wavy dash, part alternation mark
_EMOJI_CHAR = rf"(?:\p{{Extended_Pictographic}}|[\p{{Emoji}}--[\p{{WB=Regional_Indicator}}0-9#*{_ACCIDENTAL_EMOJI}{_MOD}]])"
_EMOJI_SEQ = (
    rf"(?:\p{{WB=ZWJ}}*{_EMOJI_CHAR}{_EXT_SANS_PRES_SEL}\uFE0F?"
    rf"|(?:\p{{WB=ZWJ}}*\p{{Emoji_Modifier_Base}}{_EXT_SANS_PRES_SEL})?{_MOD}{_EXT_SANS_PRES_SEL})"
)
_EMOJI = (
    rf"{_EMOJI_SEQ}(?:(?:\p{{WB=ZWJ}}{_EMOJI_SEQ})*|[\U000E0020-\U000E007E]+\U000E007F)"
    rf"|{_KEYCAP_BASE}{_EXT_SANS_PRES_SEL}\uFE0F?\u20E3{_EXT_SANS_PRES_SEL}"
    rf"|(?:\p{{WB=Regional_Indicator}}{_EXT}){{2}}"
)

# Character classes, then each with its trailing Extend/Format/ZWJ (WB4), as the grammar's macros.
_C_AHLETTER = rf"[[\p{{WB=ALetter}}\p{{WB=Hebrew_Letter}}]--[{_U9_OTHER}{_U9_FORMAT}]]"
_C_HEBREW = r"\p{WB=Hebrew_Letter}"
_C_NUMERIC = rf"[[\p{{WB=Numeric}}[\p{{Block=HalfAndFullForms}}&&\p{{Nd}}]]--[{_U9_OTHER}{_U9_FORMAT}]]"
_C_KATAKANA = r"\p{WB=Katakana}"
_C_MID_LETTER = rf"[[\p{{WB=MidLetter}}\p{{WB=MidNumLet}}\p{{WB=Single_Quote}}]--[{_U9_OTHER}]]"
_C_MID_NUMERIC = rf"[[\p{{WB=MidNum}}\p{{WB=MidNumLet}}\p{{WB=Single_Quote}}]--[{_U9_OTHER}]]"
_C_EXTEND_NUM_LET = r"[\p{WB=ExtendNumLet}\u202F]"  # U+202F: ExtendNumLet in 9
_C_SINGLE_QUOTE = r"\p{WB=Single_Quote}"
_C_DOUBLE_QUOTE = r"\p{WB=Double_Quote}"
_C_COMPLEX_CONTEXT = r"\p{LB=Complex_Context}"

_HANGUL = rf"[\p{{Script=Hangul}}&&{_C_AHLETTER}]{_EXT}"
_AHLETTER = _C_AHLETTER + _EXT
_NUMERIC = _C_NUMERIC + _EXT
_KATAKANA = _C_KATAKANA + _EXT
_MID_LETTER = _C_MID_LETTER + _EXT
_MID_NUMERIC = _C_MID_NUMERIC + _EXT
_EXTEND_NUM_LET = _C_EXTEND_NUM_LET + _EXT
_HEBREW = _C_HEBREW + _EXT
_SINGLE_QUOTE = _C_SINGLE_QUOTE + _EXT
_DOUBLE_QUOTE = _C_DOUBLE_QUOTE + _EXT

_NUM = rf"(?:{_EXTEND_NUM_LET})*{_NUMERIC}(?:(?:(?:{_EXTEND_NUM_LET})*|{_MID_NUMERIC}){_NUMERIC})*(?:{_EXTEND_NUM_LET})*"
_WORD_BODY = (
    rf"(?:{_KATAKANA}(?:(?:{_EXTEND_NUM_LET})*{_KATAKANA})*"
    rf"|(?:{_HEBREW}(?:{_SINGLE_QUOTE}|{_DOUBLE_QUOTE}{_HEBREW})"
    rf"|{_NUMERIC}(?:(?:(?:{_EXTEND_NUM_LET})*|{_MID_NUMERIC}){_NUMERIC})*"
    rf"|{_AHLETTER}(?:(?:(?:{_EXTEND_NUM_LET})*|{_MID_LETTER}){_AHLETTER})*)+)"
)
_WORD = rf"(?:{_EXTEND_NUM_LET})*{_WORD_BODY}(?:(?:{_EXTEND_NUM_LET})+{_WORD_BODY})*(?:{_EXTEND_NUM_LET})*"
_TOKEN_RULES = [
    _EMOJI,
    _NUM,
    rf"(?:{_HANGUL})+",
    rf"(?:{_KATAKANA})+",
    _WORD,
    rf"(?:{_C_COMPLEX_CONTEXT}{_EXT})+",
    rf"\p{{Script=Han}}{_EXT}",
    rf"\p{{Script=Hiragana}}{_EXT}",
]
# JFlex takes the longest match of any rule (the type of the token does not matter here); a
# character no rule starts with is skipped, so the next token starts where some rule first matches:
# exactly a leftmost-longest (POSIX) search. literal_grammar() is that transcription; POSIX search
# takes cubic time in a token's length, so the tokenizer runs the equivalent scanner below, and the
# tests check the two agree.
@lru_cache(maxsize=1)
def literal_grammar() -> regex.Pattern:
    return regex.compile("|".join(f"(?:{rule})" for rule in _TOKEN_RULES), regex.POSIX | regex.V1)


def _utf16_len(token: str) -> int:
    return len(token.encode("utf-16-le")) // 2


# The scanner. WORD (which contains NUM, HANGUL and KATAKANA) is a run of elements (a class
# character with its Extend/Format/ZWJ), each allowed by what precedes it in the token, so the
# greedy match is the longest: letters and digits join each other, katakana join katakana,
# ExtendNumLet joins anything, a MidLetter joins two letters and a MidNum two digits. A Hebrew
# letter takes a single quote after it (WB7a) or a double quote and another Hebrew letter (WB7b/c)
# only where it starts a term of the grammar: not right after a MidLetter join or a double quote.
_X = _EXT_CLASS
_A, _H, _N, _K, _E = _C_AHLETTER, _C_HEBREW, _C_NUMERIC, _C_KATAKANA, _C_EXTEND_NUM_LET
_FREE_HEBREW = rf"(?<=(?:^|[^{_C_MID_LETTER}{_C_DOUBLE_QUOTE}{_X}]){_X}*(?:{_H}{_X}*{_C_SINGLE_QUOTE}{_X}*)*{_H}{_X}*)"
_WORD_SCAN = (
    rf"(?:{_E}{_X}*)*[{_A}{_N}{_K}]{_X}*"
    rf"(?:(?<!{_K}{_X}*)[{_A}{_N}]{_X}*"
    rf"|(?<=[{_K}{_E}]{_X}*){_K}{_X}*"
    rf"|{_E}{_X}*"
    rf"|(?<!{_H}{_X}*{_C_DOUBLE_QUOTE}{_X}*{_H}{_X}*)(?<={_A}{_X}*){_C_MID_LETTER}{_X}*(?={_A})"
    rf"|(?<={_N}{_X}*){_C_MID_NUMERIC}{_X}*(?={_N})"
    rf"|{_FREE_HEBREW}{_C_SINGLE_QUOTE}{_X}*"
    rf"|{_FREE_HEBREW}{_C_DOUBLE_QUOTE}{_X}*(?={_H}))*"
)
# The rules' first characters are disjoint (UAX #29 keeps complex-context, Han and Hiragana
# characters out of ALetter), except for emoji, which start with digits and a few letters too.
_SCAN = regex.compile(
    rf"{_WORD_SCAN}|(?:{_C_COMPLEX_CONTEXT}{_X}*)+|\p{{Script=Han}}{_X}*|\p{{Script=Hiragana}}{_X}*", regex.V1
)
_EMOJI_RULE = regex.compile(_EMOJI, regex.POSIX | regex.V1)
# Greedy search misses the longest emoji sequence (ZWJ may end one element or join the next) and
# POSIX search is slow on long runs of emoji, so it looks this far ahead only: the longest
# standard emoji sequences are 10 code points (kiss with skin tones), tag flags 7.
EMOJI_LOOKAHEAD = 16
_EMOJI_START = r"\p{WB=ZWJ}\p{Extended_Pictographic}\p{Emoji}\p{Emoji_Modifier}\p{WB=Regional_Indicator}"
_MAY_BE_EMOJI = regex.compile(rf"[[{_EMOJI_START}]--[0-9#*]]|\u20E3", regex.V1)  # \u20E3: keycaps
_STARTS = regex.compile(
    rf"[{_E}{_A}{_N}{_K}{_C_COMPLEX_CONTEXT}\p{{Script=Han}}\p{{Script=Hiragana}}{_EMOJI_START}]", regex.V1
)


# WORD restricted to ASCII, where no Hebrew, katakana or Extend characters occur: letters, digits
# and `_` join; `:` `.` `'` join two letters, `,` `;` `.` `'` two digits. Most chunks are ASCII,
# and this plain search is several times faster than the scanner.
_ASCII_TOKEN = regex.compile(
    r"_*[A-Za-z0-9](?:[A-Za-z0-9_]|(?<=[A-Za-z])[:.'](?=[A-Za-z])|(?<=[0-9])[,;.'](?=[0-9]))*"
)


def _window(chunk: str, pos: int) -> str:
    """What JFlex sees from `pos`: its buffer holds maxTokenLength UTF-16 units, so no token is
    longer, and none is chosen by looking further."""
    window = chunk[pos : pos + MAX_TOKEN_LENGTH]
    if len(window) > MAX_TOKEN_LENGTH // 2:
        while _utf16_len(window) > MAX_TOKEN_LENGTH:
            window = window[:-1]
    return window


def _matches(chunk: str):
    """Each token's (start, end), as JFlex finds them."""
    emoji = _MAY_BE_EMOJI.search(chunk) is not None
    pos = 0
    while (found := _STARTS.search(chunk, pos)) is not None:
        pos = found.start()
        window = _window(chunk, pos)  # a slice: lookbehinds stop at the token's start
        length = max(
            (m.end() for m in (_SCAN.match(window), _EMOJI_RULE.match(window[:EMOJI_LOOKAHEAD]) if emoji else None) if m),
            default=0,
        )
        if length:
            yield pos, pos + length
            pos += length
        else:
            pos += 1


@lru_cache(maxsize=1 << 18)
def _chunk_tokens(chunk: str) -> tuple[str, ...]:
    """The tokens of one whitespace-free stretch of text, as written (not lowercased).

    No token spans whitespace, so a text's tokens are those of its chunks; words repeat a lot,
    so caching per chunk keeps indexing fast."""
    if chunk.isascii():
        tokens = tuple(_ASCII_TOKEN.findall(chunk))
        if all(len(token) <= MAX_TOKEN_LENGTH for token in tokens):
            return tokens
    return tuple(chunk[start:end] for start, end in _matches(chunk))


def _lower(token: str) -> str:
    """LowerCaseFilter: Java's Character.toLowerCase, one code point at a time (simple case
    mapping). str.lower() differs only for U+0130 (İ -> i plus a combining dot) and final sigma."""
    if token.isascii():
        return token.lower()
    return "".join("i" if ch == "\u0130" else ch.lower() for ch in token)


# Whitespace, where text is cut into chunks: str.split()'s, less U+202F NARROW NO-BREAK SPACE,
# which Unicode 9 counts as ExtendNumLet, inside tokens (Mongolian).
_SPACES = regex.compile(r"[^\S\u202F]+")


def raw_tokens(text: str) -> list[str]:
    """StandardTokenizer's tokens, case kept."""
    chunks = _SPACES.split(text) if "\u202f" in text else text.split()
    return [token for chunk in chunks if chunk for token in _chunk_tokens(chunk)]


def tokenize(text: str) -> list[str]:
    """The `standard` analyzer: StandardTokenizer, then lowercase; no stop words, no stemming."""
    return [_lower(token) for token in raw_tokens(text)]


# EnglishAnalyzer.ENGLISH_STOP_WORDS_SET (Lucene's default English stop set, 33 words).
ENGLISH_STOP_WORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then "
    "there these they this to was will with".split()
)
# EnglishPossessiveFilter strips a trailing apostrophe (ASCII, U+2019, fullwidth U+FF07) plus s or
# S, before lowercasing.
_APOSTROPHES = ("'", "\u2019", "\uff07")


@lru_cache(maxsize=1)
def _porter() -> Callable[[str], str]:
    # nltk's MARTIN_EXTENSIONS mode is Martin Porter's own C/Java implementation, which Lucene's
    # PorterStemmer is a port of (its departures from the 1980 paper: "bli"->"ble", "logi"->"log",
    # words of one or two letters left alone); it gives Lucene's stem for every word of the shared
    # collections. The plain ORIGINAL_ALGORITHM and PyStemmer's `porter` do not.
    from nltk.stem.porter import PorterStemmer

    stemmer = PorterStemmer(PorterStemmer.MARTIN_EXTENSIONS)
    return lru_cache(maxsize=1 << 18)(lambda word: stemmer.stem(word, to_lowercase=False))


@lru_cache(maxsize=1 << 18)
def _english_token(token: str) -> str | None:
    if len(token) >= 2 and token[-2] in _APOSTROPHES and token[-1] in "sS":
        token = token[:-2]
    token = _lower(token)
    if token in ENGLISH_STOP_WORDS:
        return None
    return _porter()(token)


def english_tokenize(text: str) -> list[str]:
    """The `english` analyzer (Lucene's EnglishAnalyzer)."""
    out = []
    for token in raw_tokens(text):
        term = _english_token(token)
        if term is not None:
            out.append(term)
    return out


_BY_NAME: dict[str, Callable[[str], list[str]]] = {"standard": tokenize, "english": english_tokenize}


def analyzer_for(name: str) -> Callable[[str], list[str]]:
    """The analyzer called `name` (one of ANALYZERS): a function from text to index terms."""
    try:
        return _BY_NAME[name]
    except (KeyError, TypeError):
        raise ConfigurationError(f"unknown analyzer {name!r}: use one of {', '.join(ANALYZERS)}") from None
