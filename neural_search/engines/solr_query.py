"""Solr query syntax, kept apart from the adapter: user text escaped so it can never be query
syntax, metadata fields under their typed dynamic-field names, filters as term/range queries
dereferenced from parameters, and core properties with '$' kept out of Solr's substitution."""

from __future__ import annotations

import json
import re
from typing import Any, Sequence

from .base import FilterClause

_SPECIAL = re.compile(r'([+\-!(){}\[\]^"~*?:\\/&|])')
_OPERATORS = re.compile(r"\b(AND|OR|NOT|TO)\b")
_FIELD_CHARS = re.compile(r"[^A-Za-z0-9_]")


def escape_query_text(text: str) -> str:
    """Every Lucene/edismax syntax character backslash-escaped; operator words lowercased (the
    analyzer lowercases anyway, so matching is unchanged)."""
    return _OPERATORS.sub(lambda m: m.group(1).lower(), _SPECIAL.sub(r"\\\1", text))


def metadata_field(key: str, value: Any) -> str | None:
    """The dynamic field a metadata value is indexed under, or None if it is kept in metadata_json only."""
    name = "meta_" + _FIELD_CHARS.sub("_", key)
    if isinstance(value, bool):
        return f"{name}_b"
    if isinstance(value, int):
        return f"{name}_l"
    if isinstance(value, float):
        return f"{name}_d"
    if isinstance(value, str):
        return f"{name}_s"
    if isinstance(value, list) and value:
        if all(isinstance(v, str) for v in value):
            return f"{name}_ss"
        if all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return f"{name}_ls"
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
            return f"{name}_ds"
    return None


def _filter_fields(field: str, sample: Any) -> list[str]:
    base = "meta_" + field
    if isinstance(sample, bool):
        return [f"{base}_b"]
    if isinstance(sample, (int, float)):
        return [f"{base}_l", f"{base}_ls", f"{base}_d", f"{base}_ds"]
    return [f"{base}_s", f"{base}_ss"]


def _range_bound(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def filter_params(filters: Sequence[FilterClause]) -> tuple[list[str], dict[str, str]]:
    """fq clauses plus the parameters they dereference; values only ever travel as parameters."""
    fqs, params = [], {}
    for n, clause in enumerate(filters):
        if clause.kind == "range":
            sample = next(iter(clause.value.values()))
            low = clause.value.get("gte", clause.value.get("gt"))
            high = clause.value.get("lte", clause.value.get("lt"))
            opening = "{" if "gt" in clause.value else "["
            closing = "}" if "lt" in clause.value else "]"
            span = f"{opening}{'*' if low is None else _range_bound(low)} TO {'*' if high is None else _range_bound(high)}{closing}"
            fqs.append(" OR ".join(f"{f}:{span}" for f in _filter_fields(clause.field, sample)))
            continue
        values = clause.value if clause.kind == "terms" else [clause.value]
        shoulds = []
        for m, value in enumerate(values):
            key = f"fv{n}_{m}"
            params[key] = str(value).lower() if isinstance(value, bool) else str(value)
            for f in _filter_fields(clause.field, value):
                # Each term query is a parameter of its own: local params at the start of an fq
                # (`{!term ...} OR {!term ...}`) would apply to the whole string and drop the rest.
                ref = f"fc{n}_{len(shoulds)}"
                params[ref] = f"{{!term f={f} v=${key}}}"
                shoulds.append(f"should=${ref}")
        fqs.append(f"{{!bool {' '.join(shoulds)}}}")
    return fqs, params


def fingerprint_property(fingerprint: dict) -> str:
    # Solr expands ${...} and $$ inside core properties; \u0024 keeps '$' out while staying valid JSON.
    return json.dumps(fingerprint, sort_keys=True, separators=(",", ":"), ensure_ascii=True).replace("$", "\\u0024")
