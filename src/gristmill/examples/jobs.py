"""The built-in example pipelines behind `gristmill example NAME`.

Dataset pipelines (and one MapReduceJob), importable so tests and the demo run exactly what
the CLI runs.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import gristmill as gm

if TYPE_CHECKING:
    import pyarrow as pa


WORDCOUNT_FORMS = ("count_by_value", "columnar", "chain", "mapreduce")


class WordCountJob(gm.MapReduceJob):
    """Word count as a Hadoop / mrjob user writes it: mapper, combiner, reducer."""

    def mapper(self, _: None, line: str) -> Iterator[tuple[str, int]]:
        for word in line.split():
            yield word, 1

    def combiner(self, word: str, counts: Iterable[int]) -> Iterator[tuple[str, int]]:
        yield word, sum(counts)

    def reducer(self, word: str, counts: Iterable[int]) -> Iterator[tuple[str, int]]:
        yield word, sum(counts)


def wordcount(inputs: Sequence[str], form: str = "count_by_value") -> gm.Dataset:
    """``(word, count)`` for every whitespace-separated word, in one of four API forms.

    - ``count_by_value`` (the default): ``flat_map(str.split)``, counted by Python's C
      `Counter`; pure Python, so it starts fastest (no pyarrow import, ~0.25 s);
    - ``columnar`` (fastest on large input): pyarrow splits and counts whole batches in C++;
    - ``chain``: the textbook ``flat_map`` / ``map`` to ``(word, 1)`` / ``reduce_by_key(add)``;
    - ``mapreduce``: `WordCountJob`, a `MapReduceJob` (mapper, combiner, reducer).

    All four give the same counts for text whose whitespace is ASCII; on other Unicode
    whitespace pyarrow's and Python's definitions may differ.
    """
    if form == "columnar":
        lines = gm.read_text(inputs, batch_format="pyarrow")  # lines split in C++, not Python
        return lines.map_batches(split_words, batch_format="pyarrow").count_by_value()
    lines = gm.read_text(inputs)
    if form == "count_by_value":
        return lines.flat_map(str.split).count_by_value()
    if form == "chain":
        return lines.flat_map(str.split).map(with_one).reduce_by_key(operator.add)
    if form == "mapreduce":
        from gristmill.api.mr_compile import compile_job

        return compile_job(WordCountJob([]), lines)
    raise ValueError(f"unknown word count form {form!r}; choose from {WORDCOUNT_FORMS}")


def split_words(lines: pa.Table) -> pa.Array:
    """The whitespace-separated words of a table of lines (column ``item``), as one array.

    ASCII batches (the common case) take pyarrow's ASCII splitter, twice as fast as the
    Unicode one.

    >>> import pyarrow as pa
    >>> split_words(pa.table({"item": [" a  b", "", "c\\td"]})).to_pylist()
    ['a', 'b', 'c', 'd']
    """
    import pyarrow.compute as pc

    text = lines.column("item")
    ascii_only = pc.all(pc.string_is_ascii(text)).as_py() is not False
    split = pc.ascii_split_whitespace if ascii_only else pc.utf8_split_whitespace
    words = pc.list_flatten(split(text))
    return words.filter(pc.not_equal(words, ""))


def with_one(word: str) -> tuple[str, int]:
    """``word -> (word, 1)``."""
    return word, 1


GREP_FORMS = ("records", "columnar")


@dataclass(frozen=True)
class MatchingLines:
    """The rows of a table of lines (column ``item``) that RE2 `pattern` matches, in C++.

    >>> import pyarrow as pa
    >>> MatchingLines("b+c")(pa.table({"item": ["abc", "ac", "bbc"]}))["item"].to_pylist()
    ['abc', 'bbc']
    """

    pattern: str

    def __call__(self, lines: pa.Table) -> pa.Table:
        import pyarrow.compute as pc

        return lines.filter(pc.match_substring_regex(lines.column("item"), self.pattern))


def grep(inputs: Sequence[str], pattern: str, form: str = "records") -> gm.Dataset:
    """Lines matching the regular expression `pattern`, in input order.

    - ``records`` (the default): Python's `re` searches each line (a `filter` predicate);
    - ``columnar``: pyarrow batches of lines, filtered by Arrow's RE2 in C++. RE2 has no
      backreferences or lookaround, and its ``\\d``, ``\\w`` and ``\\s`` are ASCII-only.
    """
    if form not in GREP_FORMS:
        raise gm.UsageError(f"unknown grep form {form!r}; choose one of {', '.join(GREP_FORMS)}")
    if form == "columnar":
        import pyarrow as pa
        import pyarrow.compute as pc

        try:  # RE2 compiles the pattern here, in the driver, not in every task
            pc.match_substring_regex(pa.array([""]), pattern)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
            raise gm.UsageError(f"invalid --pattern {pattern!r} for RE2: {exc}") from None
        lines = gm.read_text(inputs, batch_format="pyarrow")
        return lines.map_batches(MatchingLines(pattern), batch_format="pyarrow")
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise gm.UsageError(f"invalid --pattern {pattern!r}: {exc}") from None
    # The compiled pattern's own `search` is the predicate (a Match is true, None false): a C
    # call per line, where a Python wrapper around it cost a frame per line (15% of the CPU).
    return gm.read_text(inputs).filter(compiled.search)
