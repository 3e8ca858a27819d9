"""The C fold and group (`shuffle/_fold.c`) against the Python loops they replace, record for
record.

Both must leave the same accumulators, count the same pairs and raise the same exception
(type and message) for the same input: pairs that are not 2-tuples, unhashable keys,
values `+` refuses, and aggregators that raise or change the dict they fold into.
"""

from __future__ import annotations

import itertools
import operator
import os
import signal
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gristmill.shuffle import fold, marks
from gristmill.shuffle.fold import _python_fold, _python_group, fold_pairs, group_pairs

needs_c = pytest.mark.skipif(not fold.HAS_C_FOLD, reason="built without a C compiler")


def test_the_extension_is_built_where_ci_requires_it() -> None:
    # CI installs on a machine with a compiler: the C loop must be there, or every benchmark
    # would silently measure the Python one.
    if os.environ.get("GRISTMILL_REQUIRE_C_EXTENSIONS") == "1":
        assert fold.HAS_C_FOLD
        assert fold.new_str_sums() is not None


def _outcome(
    run: Callable[[dict[Any, Any], list[Any]], int], start: dict[Any, Any], pairs: list[Any]
) -> tuple[Any, ...]:
    acc = dict(start)
    try:
        n = run(acc, pairs)
    except Exception as exc:  # the same failure, the key it names, and what came before it
        return ("raised", type(exc), str(exc), acc, getattr(exc, marks.KEY_ATTR, "<no key>"))
    return ("ok", n, acc, list(acc))  # list(acc): key order and the key objects kept


keys = st.one_of(
    st.integers(-3, 3),
    st.sampled_from(["a", "b", "c"]),
    st.tuples(st.integers(0, 2)),
    st.sampled_from([1.0, True]),
    st.lists(st.integers(0, 1), max_size=1),  # unhashable
)
values = st.one_of(
    st.integers(-5, 5),
    st.floats(allow_nan=False, width=16),
    st.text(max_size=2),
    st.lists(st.integers(), max_size=2),
    st.none(),
)
items = st.one_of(
    st.tuples(keys, values),
    st.tuples(keys, values).map(list),  # unpacks in Python: the C loop hands it back
    st.tuples(keys, values, values),  # too many values to unpack
    st.tuples(keys),
    st.integers(),  # not iterable
    st.text(min_size=2, max_size=2),  # a 2-char str unpacks into two 1-char strs
)


def _concat_or_fail(old: Any, value: Any) -> Any:
    if value == 3:
        raise ValueError("three")
    return [old, value]


@needs_c
@settings(max_examples=400, deadline=None)
@given(
    pairs=st.lists(items, max_size=12),
    start=st.dictionaries(st.sampled_from(["a", 1, (0,)]), st.integers(), max_size=2),
    aggregator=st.sampled_from(["add", "concat", "create"]),
)
def test_c_and_python_folds_agree(pairs: list[Any], start: dict[Any, Any], aggregator: str) -> None:
    add: Callable[[Any, Any], Any] = operator.add
    create: Callable[[Any], Any] | None = None
    if aggregator == "concat":
        add = _concat_or_fail
    elif aggregator == "create":
        create = lambda v: ("created", v)  # noqa: E731
    c = _outcome(lambda acc, ps: fold_pairs(acc, ps, add, create), start, pairs)
    py = _outcome(lambda acc, ps: _python_fold(acc, ps, add, create), start, pairs)
    assert c == py


class _Cursor:
    """An iterator class: its ``__next__`` ends by leaving StopIteration set for the caller."""

    def __init__(self, items: list[Any]) -> None:
        self._items = iter(items)

    def __iter__(self) -> _Cursor:
        return self

    def __next__(self) -> Any:
        return next(self._items)


def _stop_at_two(x: int) -> tuple[int, int]:
    if x == 2:
        raise StopIteration  # map() ends here, as a for loop over it does
    return x, 1


@needs_c
@pytest.mark.parametrize(
    "make",
    [
        lambda: _Cursor([("a", 1), ("b", 2), ("a", 3)]),
        lambda: _Cursor([]),
        lambda: _Cursor([("a", 1), ["b", 2], ("a", 3)]),  # handed back midway, then resumed
        lambda: map(_stop_at_two, [1, 3, 2, 4]),
    ],
)
def test_iterators_that_end_with_stop_iteration_set(make: Callable[[], Any]) -> None:
    c = _outcome(lambda acc, _: fold_pairs(acc, make(), operator.add), {}, [])
    py = _outcome(lambda acc, _: _python_fold(acc, make(), operator.add, None), {}, [])
    assert c == py
    assert c[0] == "ok"


@needs_c
@pytest.mark.parametrize(
    ("run", "pairs", "done"),
    [
        (lambda acc, ps: fold_pairs(acc, ps, operator.add), 10**8, lambda acc: acc["a"]),
        (group_pairs, 3 * 10**7, lambda acc: len(acc["a"])),  # ~1 s, 240MB if unchecked
    ],
    ids=["fold", "group"],
)
def test_a_signal_interrupts_a_long_loop(
    run: Callable[[dict[str, Any], Any], Any], pairs: int, done: Callable[[dict[str, Any]], int]
) -> None:
    # Nothing in this loop runs Python code, so only the loop's own check lets a signal
    # handler run (and a Ctrl-C stop a job) before the input ends. A loop that never checks
    # finishes all its pairs (seconds, the GIL held throughout) before the handler runs.
    class Interrupted(Exception):
        pass

    def handler(signum: int, frame: Any) -> None:
        raise Interrupted

    # The kernel's timer sends the signal: a Python thread sending it would need the GIL,
    # which the loop holds (a thread's kill came seconds late, or after the loop ended).
    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, 0.05)
    acc: dict[str, Any] = {}
    try:
        with pytest.raises(Interrupted):
            run(acc, itertools.repeat(("a", 1), pairs))
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert done(acc) < pairs, "the loop ran to its end before the signal handler"


@needs_c
def test_an_aggregator_that_changes_the_dict_it_folds_into() -> None:
    # The C loop holds the old value while `add` runs user code that drops it from the dict.
    def clearing(target: dict[str, Any]) -> Callable[[list[int], list[int]], list[int]]:
        def add(old: list[int], value: list[int]) -> list[int]:
            target.clear()
            return old + value

        return add

    pairs = [("k", [1]), ("k", [2]), ("j", [3]), ("k", [4])]
    acc: dict[str, Any] = {}
    assert fold_pairs(acc, pairs, clearing(acc)) == 4
    expected: dict[str, Any] = {}
    assert _python_fold(expected, pairs, clearing(expected), None) == 4
    assert acc == expected == {"k": [1, 2, 4]}


@needs_c
def test_a_failing_iterator_propagates_after_folding_what_came_before() -> None:
    def pairs() -> Any:
        yield ("a", 1)
        raise KeyError("boom")

    acc: dict[str, int] = {}
    with pytest.raises(KeyError, match="boom"):
        fold_pairs(acc, pairs(), operator.add)
    assert acc == {"a": 1}


def _grouping(run: Callable[[dict[Any, Any], Any], None], pairs: Any) -> tuple[Any, ...]:
    acc: dict[Any, Any] = {}
    try:
        run(acc, pairs)
    except Exception as exc:  # the same failure, and what was grouped before it
        return ("raised", type(exc), str(exc), acc, list(acc))
    return ("ok", acc, list(acc))


@needs_c
@settings(max_examples=400, deadline=None)
@given(pairs=st.lists(items, max_size=12))
def test_c_and_python_groups_agree(pairs: list[Any]) -> None:
    assert _grouping(group_pairs, pairs) == _grouping(_python_group, pairs)


@needs_c
@pytest.mark.parametrize(
    "make",
    [
        lambda: _Cursor([("a", 1), ("b", 2), ("a", 3)]),
        lambda: _Cursor([("a", 1), ["b", 2], ("a", 3)]),  # handed back midway, then resumed
        lambda: map(_stop_at_two, [1, 3, 2, 4]),
    ],
)
def test_group_iterators_that_end_with_stop_iteration_set(make: Callable[[], Any]) -> None:
    c = _grouping(group_pairs, make())
    assert c == _grouping(_python_group, make())
    assert c[0] == "ok"


@pytest.mark.parametrize("loop", ["c", "python"])
def test_a_failing_aggregator_is_marked_with_its_key(loop: str) -> None:
    if loop == "c" and not fold.HAS_C_FOLD:
        pytest.skip("built without a C compiler")
    run = fold_pairs if loop == "c" else _python_fold
    with pytest.raises(ValueError, match="three") as e:
        run({}, [("a", 1), ("b", 2), ("b", 3)], _concat_or_fail, None)
    assert getattr(e.value, marks.KEY_ATTR) == "b"
    with pytest.raises(TypeError) as t:  # `+` itself: int + str
        run({}, [("k", 1), ("k", "x")], operator.add, None)
    assert getattr(t.value, marks.KEY_ATTR) == "k"
