"""How MapReduceJob output is written: ``key<TAB>value`` text that reads back exactly.

A string is written as it is, unless it could be mistaken for JSON or holds a tab, newline or
carriage return; then it, like every non-string value, is written as JSON. Reading a field
back is "JSON if it parses, else the raw string", so every value round-trips.
"""

from __future__ import annotations

import json
from typing import Any

_JSON_START = frozenset('-0123456789[{"')
_JSON_WORDS = frozenset(("true", "false", "null", "NaN", "Infinity", "-Infinity"))


def _needs_json(text: str) -> bool:
    if not text:
        return False
    if text[0] in _JSON_START or text[0].isspace() or text in _JSON_WORDS:
        return True
    return "\t" in text or "\n" in text or "\r" in text


def encode_field(value: Any) -> str:
    """One key or value as text.

    >>> encode_field("word"), encode_field(3), encode_field("3"), encode_field([1, "a"])
    ('word', '3', '"3"', '[1, "a"]')
    """
    if isinstance(value, str) and not _needs_json(value):
        return value
    return json.dumps(value, ensure_ascii=False)


def decode_field(text: str) -> Any:
    """The inverse of `encode_field`.

    >>> decode_field('"3"'), decode_field("3"), decode_field("word")
    ('3', 3, 'word')
    """
    if not _needs_json(text):
        return text
    return json.loads(text)


def encode_line(pair: tuple[Any, Any]) -> str:
    """``(key, value)`` -> ``key<TAB>value``; a key of None is written as ``null``.

    >>> encode_line(("word", 3)), encode_line(("a\\tb", [1, 2]))
    ('word\\t3', '"a\\\\tb"\\t[1, 2]')
    """
    key, value = pair
    return f"{encode_field(key)}\t{encode_field(value)}"


def decode_line(line: str) -> tuple[Any, Any]:
    """``key<TAB>value`` -> ``(key, value)``, as written by `encode_line`.

    >>> decode_line("word\\t3"), decode_line(encode_line(("a\\tb", [1, 2])))
    (('word', 3), ('a\\tb', [1, 2]))
    """
    key, _, value = line.partition("\t")
    return decode_field(key), decode_field(value)


def json_pair(pair: tuple[Any, Any]) -> list[Any]:
    """JSON-lines output: ``[key, value]`` per line."""
    return [pair[0], pair[1]]
