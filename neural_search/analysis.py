"""Text analysis for the embedded engine, close to Lucene's `standard` analyzer.

Elasticsearch, OpenSearch and the project's Solr schema all analyse `content` with the Unicode
(UAX #29) word-break StandardTokenizer and a lowercase filter, no stopwords and no stemming. This
mirrors the rules that matter for ranking: letters and digits join; `.`, `'` and `’` join letters
and digits on both sides (`u.s`, `don't`, `3.5`); `:` joins letters (`title:titanic`); `,` and `;`
join digits (`1,000`); each CJK
ideograph and kana is a token of its own.
"""

from __future__ import annotations

import re

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_WORD = rf"[^\W{_CJK}]"
_LETTER = rf"[^\W\d_{_CJK}]"
_TOKEN = re.compile(
    rf"[{_CJK}]|{_WORD}+(?:(?:[.'’]{_WORD}+)|(?:(?<=\d)[,;]\d+)|(?:(?<={_LETTER}):{_LETTER}{_WORD}*))*"
)
MAX_TOKEN_LENGTH = 255


def tokenize(text: str) -> list[str]:
    tokens = []
    for token in _TOKEN.findall(text.lower()):
        # Lucene splits tokens longer than maxTokenLength into pieces rather than dropping them.
        tokens.extend(token[i : i + MAX_TOKEN_LENGTH] for i in range(0, len(token), MAX_TOKEN_LENGTH))
    return tokens
