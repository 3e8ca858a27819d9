"""The combiner's grouping of a buffer against sorting every pair and scanning equal keys."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gristmill.api.mr_compile import buffers, grouped
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


def test_buffers_cut_the_pairs_in_order() -> None:
    pairs = [(i % 7, i) for i in range(25)]
    assert [len(b) for b in buffers(iter(pairs), size=10)] == [10, 10, 5]
    assert [p for b in buffers(iter(pairs), size=10) for p in b] == pairs
