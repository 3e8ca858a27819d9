"""Compile a `MapReduceJob` into a Dataset: each step is a map phase, a shuffle, a reduce phase.

Phases run as `map_partitions` functions, so `*_init`/`*_final` run once per task, as in
Hadoop; being `PerRecord` functions, in skip mode they leave out a line the mapper raises on
or a group the reducer raises on. The combiner runs map-side on bounded buffers of the
mapper's output (like Hadoop's combiner on each spill); reducers get keys in sorted order
with their values streamed.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gristmill.api.pipes import files_in_cwd
from gristmill.plan.ops import Each, PerRecord
from gristmill.shuffle.fold import group_pairs, group_while_hashable
from gristmill.shuffle.order import sort_pairs
from gristmill.shuffle.sizing import DICT_ENTRY_OVERHEAD, deep_size

if TYPE_CHECKING:
    from gristmill.api.dataset import Dataset
    from gristmill.api.mapreduce import MapReduceJob, Step

COMBINE_BYTES = 32 << 20  # mapper output grouped by key before the combiner runs
COMBINE_MAX = 1_000_000  # ... and at most this many pairs
COMBINE_STEP = 4096  # pairs grouped between two estimates of the buffer's size
COMBINE_LISTED = 100_000  # pairs listed as tuples from a key that cannot be hashed on


def _emit(out: Iterable[tuple[Any, Any]] | None) -> Iterator[tuple[Any, Any]]:
    if out is not None:
        yield from out


@dataclass(frozen=True)
class MapPhase(PerRecord):
    """mapper_init, mapper over every pair, mapper_final; then the combiner if there is one."""

    step: Step
    files: tuple[str, ...] = ()

    def _mapped(self, records: Iterator[tuple[Any, Any]], each: Each) -> Iterator[Any]:
        step = self.step
        if step.mapper_init is not None:
            yield from _emit(step.mapper_init())
        mapper = step.mapper
        for key, value in records:
            if mapper is None:
                yield key, value
            else:
                yield from each(mapper, key, value)
        if step.mapper_final is not None:
            yield from _emit(step.mapper_final())

    def run(self, records: Iterator[tuple[Any, Any]], each: Each) -> Iterator[tuple[Any, Any]]:
        with files_in_cwd(self.files):
            mapped = self._mapped(records, each)
            if self.step.combiner is not None:
                mapped = _combine(self.step, mapped)
            yield from mapped


_first, _second = operator.itemgetter(0), operator.itemgetter(1)


def grouped(buffer: list[Any]) -> list[tuple[Any, list[Any]]]:
    """`buffer`'s values by key, keys in sorted order (the shuffle's), each key's values in
    the order they were emitted; a key is the first of the equal keys emitted.

    Hashed (in C, `group_pairs`), then only the distinct keys sorted: 2.5x faster than
    sorting every pair and scanning the runs of equal keys, which is kept for keys that
    cannot be hashed. Keys group as a dict groups them (the same object, or equal with equal
    hashes), where the scan grouped neighbours that compare equal: one NaN object emitted
    twice is one group now, and ``numpy.float32(0.1)`` and ``0.1`` are two. A combiner may be
    handed any grouping of a key's values (Hadoop runs it on each spill, any number of
    times), so its output is the same.

    >>> grouped([("b", 1), ("a", 2), ("b", 3)])
    [('a', [2]), ('b', [1, 3])]
    >>> grouped([(["b"], 1), (["a"], 2), (["b"], 3)])
    [(['a'], [2]), (['b'], [1, 3])]
    """
    groups: dict[Any, list[Any]] = {}
    try:
        group_pairs(groups, buffer)
    except TypeError:
        if not _unhashable_key(buffer):
            raise  # a key's own __hash__ or __eq__ failed: not ours to paper over
        # A key that cannot be hashed (a list, as JSON protocols give): sort every pair.
        buffer = list(buffer)
        sort_pairs(buffer)
        return [(key, list(map(_second, run))) for key, run in itertools.groupby(buffer, _first)]
    items = list(groups.items())
    sort_pairs(items)
    return items


def _unhashable_key(buffer: list[Any]) -> bool:
    """Whether a pair's key in `buffer` is of a type with no hash (``__hash__`` is None)."""
    for pair in buffer:
        try:
            key, _ = pair
        except (TypeError, ValueError):
            continue  # not a pair: sorting fails on it, as it always did
        if type(key).__hash__ is None:
            return True
    return False


def _combine(step: Step, pairs: Iterator[tuple[Any, Any]]) -> Iterator[tuple[Any, Any]]:
    """combiner_init, the combiner over every buffer, combiner_final: the hooks once per task."""
    combiner = step.combiner
    assert combiner is not None
    if step.combiner_init is not None:
        yield from _emit(step.combiner_init())
    for items in grouped_buffers(pairs):
        for key, values in items:
            yield from _emit(combiner(key, iter(values)))
        items.clear()  # not held while the next buffer fills
    if step.combiner_final is not None:
        yield from _emit(step.combiner_final())


def grouped_buffers(pairs: Iterator[tuple[Any, Any]]) -> Iterator[list[tuple[Any, list[Any]]]]:
    """The mapper's output as buffers of `grouped` pairs: each is what `grouped` makes of the
    next slice of `pairs`, a slice of about `COMBINE_BYTES` (at most `COMBINE_MAX` pairs).

    Pairs go straight into a dict of value lists (in C), never listed as tuples: a buffer of a
    word count's pairs holds ten times the pairs of a listed one in the same memory, so the
    combiner meets each word once per million pairs, not once per 100,000 (a third of the
    pairs to shuffle). The buffer's size is estimated every `COMBINE_STEP` pairs from its
    newest key and value. A key that cannot be hashed ends the slice before it; from it on,
    up to `COMBINE_LISTED` pairs are listed and go through `grouped` (which sorts them).
    """
    while True:
        groups: dict[Any, list[Any]] = {}
        size = _BufferSize()
        n = 0
        ended = False
        while n < COMBINE_MAX:
            step = min(COMBINE_STEP, COMBINE_MAX - n)
            taken, rest = group_while_hashable(groups, itertools.islice(pairs, step))
            n += taken
            if rest is not None:  # a key without a hash (or not a pair): the sort path
                if n:
                    yield _sorted_groups(groups)
                listed = list(rest)
                listed += itertools.islice(pairs, max(0, COMBINE_LISTED - len(listed)))
                yield grouped(listed)
                groups, n = {}, 0
                break
            if taken < step:
                ended = True
                break
            if size.of(groups, n) > COMBINE_BYTES:
                break
        if n:
            yield _sorted_groups(groups)
        if ended:
            return


def _sorted_groups(groups: dict[Any, list[Any]]) -> list[tuple[Any, list[Any]]]:
    items = list(groups.items())
    sort_pairs(items)
    return items


class _BufferSize:
    """A running estimate of a dict of value lists' bytes, from its newest key and value."""

    def __init__(self) -> None:
        self.samples = 0
        self.key_bytes = 0
        self.value_bytes = 0

    def of(self, groups: dict[Any, list[Any]], pairs: int) -> int:
        key = next(reversed(groups))
        value = groups[key][-1]
        self.samples += 1
        self.key_bytes += deep_size(key)
        # CPython shares small ints: a count of 1 costs only its slot in the list.
        shared = type(value) is int and -5 <= value <= 256
        self.value_bytes += 0 if shared else deep_size(value)
        per_key = DICT_ENTRY_OVERHEAD + _GROUP_BYTES + self.key_bytes // self.samples
        return len(groups) * per_key + pairs * (8 + self.value_bytes // self.samples)


_GROUP_BYTES = 56 + 72  # a key's value list, and its (key, values) item once sorted


@dataclass(frozen=True)
class ReducePhase(PerRecord):
    """reducer_init, the reducer over each (key, values) group in key order, reducer_final."""

    step: Step
    files: tuple[str, ...] = ()

    def run(self, groups: Iterator[tuple[Any, Any]], each: Each) -> Iterator[tuple[Any, Any]]:
        step = self.step
        reducer = step.reducer
        assert reducer is not None
        with files_in_cwd(self.files):
            if step.reducer_init is not None:
                yield from _emit(step.reducer_init())
            for key, values in groups:
                yield from each(reducer, key, values)
            if step.reducer_final is not None:
                yield from _emit(step.reducer_final())


def line_pair(line: str) -> tuple[None, str]:
    """Input lines reach the first mapper as ``(None, line)``, as in mrjob."""
    return None, line


def compile_job(job: MapReduceJob, lines: Dataset) -> Dataset:
    """The Dataset that runs all of `job`'s steps over `lines`; intermediate data never lands."""
    value_key = getattr(job, "value_sort_key", None)
    ds = lines.map(line_pair)
    for step in job.steps():
        ds = ds.map_partitions(MapPhase(step, job.files))
        if step.reducer is not None:
            grouped = ds.group_by_key(sort_values=job.SORT_VALUES, value_key=value_key)
            ds = grouped.map_partitions(ReducePhase(step, job.files))
    return ds
