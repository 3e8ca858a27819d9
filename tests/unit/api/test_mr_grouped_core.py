"""The combiner's grouping of a buffer against sorting every pair and scanning equal keys."""

from __future__ import annotations

import math
import tracemalloc
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gristmill.api import mr_compile
from gristmill.api.mr_compile import grouped, grouped_buffers
from gristmill.shuffle.order import sort_pairs


def by_sorting(buffer: list[tuple[Any, Any]]) -> list[tuple[Any, list[Any]]]:
    """What the combiner was given before: a stable sort, then each run of keys equal to the
    run's first one."""
    pairs = list(buffer)
    sort_pairs(pairs)
    out: list[tuple[Any, list[Any]]] = []
    start = 0
    while start < len(pairs):
        key = pairs[start][0]
        end = start + 1
        while end < len(pairs) and pairs[end][0] == key:
            end += 1
        out.append((key, [v for _, v in pairs[start:end]]))
        start = end
    return out


scalars = st.one_of(
    st.integers(-3, 3),
    st.sampled_from([1.0, -0.0, 0.0, 2.5, True, False, None]),
    st.text(alphabet="ab", max_size=2),
    st.binary(max_size=1),
)
hashable = st.one_of(scalars, st.tuples(scalars, scalars), st.frozensets(scalars, max_size=2))
keys = st.one_of(hashable, st.lists(scalars, max_size=2))  # lists: the unhashable path


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.one_of(hashable), st.integers()), max_size=40))
def test_hashable_keys_group_as_sorting_does(buffer: list[tuple[Any, Any]]) -> None:
    assert repr(grouped(buffer)) == repr(by_sorting(buffer))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(keys, st.integers()), max_size=40))
def test_any_keys_group_as_sorting_does(buffer: list[tuple[Any, Any]]) -> None:
    assert repr(grouped(buffer)) == repr(by_sorting(buffer))


odd_keys = st.one_of(keys, st.just(("a", [1])), st.just(math.nan))  # ("a", [1]): hash raises


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(odd_keys, st.integers()), max_size=40), st.integers(1, 12))
def test_grouped_buffers_group_consecutive_slices(pairs: list[tuple[Any, Any]], size: int) -> None:
    # Each buffer must be what `grouped` makes of the next slice of the pairs, whichever way
    # it was cut (a dict of lists, or a listed slice from a key that cannot be hashed on).
    patched = {"COMBINE_MAX": size, "COMBINE_STEP": max(1, size // 2), "COMBINE_LISTED": 5}
    before = {name: getattr(mr_compile, name) for name in patched}
    try:
        for name, value in patched.items():
            setattr(mr_compile, name, value)
        got = _buffers_or_error(pairs)
    finally:
        for name, value in before.items():
            setattr(mr_compile, name, value)
    start = 0
    for buffer in got:
        if isinstance(buffer, Exception):  # as `grouped` raises for the listed slice
            assert any(_outcome(pairs[start : start + n]) == _outcome(buffer) for n in range(13))
            return
        taken = sum(len(values) for _, values in buffer)
        assert 0 < taken <= max(size, 5)
        assert repr(buffer) == repr(grouped(pairs[start : start + taken]))
        start += taken
    assert start == len(pairs)


def _outcome(pairs_or_error: Any) -> str:
    if isinstance(pairs_or_error, Exception):
        return f"{type(pairs_or_error).__name__}: {pairs_or_error}"
    try:
        return repr(grouped(pairs_or_error))
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"


def _buffers_or_error(pairs: list[tuple[Any, Any]]) -> list[Any]:
    out: list[Any] = []
    try:
        out.extend(grouped_buffers(iter(pairs)))
    except Exception as exc:
        out.append(exc)
    return out


def test_grouped_buffers_stay_near_their_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    # Distinct keys cost far more than their values: the estimate must count them.
    monkeypatch.setattr(mr_compile, "COMBINE_BYTES", 4 << 20)
    pairs = ((f"key{i:08d}", 1) for i in range(300_000))
    tracemalloc.start()
    try:
        sizes = []
        for buffer in grouped_buffers(pairs):  # held one at a time, as the combiner holds it
            sizes.append(sum(len(values) for _, values in buffer))
            buffer.clear()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sum(sizes) == 300_000 and len(sizes) > 5
    assert peak < 3 * (4 << 20)


def test_grouped_buffers_raise_as_unpacking_does() -> None:
    with pytest.raises(ValueError, match="not enough values to unpack"):
        list(grouped_buffers(iter([("a", 1), ("b",), ("c", 3)])))  # type: ignore[list-item]


def test_hashable_keys_sort_only_the_distinct_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    sorted_lengths: list[int] = []

    def recording(pairs: list[Any]) -> Any:
        sorted_lengths.append(len(pairs))
        return sort_pairs(pairs)

    monkeypatch.setattr(mr_compile, "sort_pairs", recording)
    grouped([(i % 3, i) for i in range(30)])
    assert sorted_lengths == [3]  # the groups, not the 30 pairs


def test_a_nan_object_emitted_twice_is_one_group_as_a_dict_keeps_it() -> None:
    # The documented difference from scanning runs of == keys (NaN != NaN): a combiner may
    # see any grouping of a key's values, so its output does not change.
    assert grouped([(math.nan, 1), ("a", 2), (math.nan, 3)]) == [(math.nan, [1, 3]), ("a", [2])]


def test_a_key_whose_hash_raises_type_error_is_not_taken_for_unhashable() -> None:
    class Broken:
        def __hash__(self) -> int:
            raise TypeError("hash of a half-built key")

    with pytest.raises(TypeError, match="half-built"):
        grouped([(Broken(), 1)])


def test_list_pairs_with_list_keys_sort() -> None:
    assert grouped([[["b"], 1], [["a"], 2], [["b"], 3]]) == [(["a"], [2]), (["b"], [1, 3])]
