"""Fold ``(key, value)`` pairs into a dict of accumulators: the hash aggregation's inner loop.

It runs once per record of every reduce_by_key, combine_by_key and distinct, on both
sides of the shuffle, so it is in C (`_fold.c`, built at install when a compiler is present:
18% less time than the Python loop for a word count's pairs). Without the extension the
Python loop below does the same, record for record (the C loop hashes each key once, not
twice; it runs signal handlers every 4096 records, as the interpreter would between
bytecodes, and holds the GIL for a call, as CPython's own C loops do: the engine folds one
pass or one frame per call).
"""

from __future__ import annotations

import operator
import os
import re
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from gristmill.shuffle.marks import KEY_ATTR, mark_key

if TYPE_CHECKING:
    from gristmill.shuffle._strsums import StrSums

CFold = Callable[
    [dict[Any, Any], Iterator[Any], Callable[[Any, Any], Any] | None, Callable[[Any], Any] | None],
    tuple[Any, ...],
]
CGroup = Callable[[dict[Any, list[Any]], Iterator[Any]], tuple[Any, ...]]


def _load_c_loops() -> tuple[CFold | None, CGroup | None]:
    try:
        from gristmill.shuffle._fold import fold, group
    except ImportError:  # installed without a C compiler
        return None, None
    return fold, group


_c_fold, _c_group = _load_c_loops()
HAS_C_FOLD = _c_fold is not None


def new_str_sums() -> StrSums | None:
    """A C table of int sums by str key (`_strsums.c`: about half the time of a dict's fold
    for a word count's pairs), or None when the extension is not built.

    >>> sums = new_str_sums()
    >>> take_str_sums(sums, iter([("a", 2), ("b", 1), ("a", 3)])), sums.items()
    ((3, None), [('a', 5), ('b', 1)])
    """
    try:
        from gristmill.shuffle._strsums import StrSums
    except ImportError:  # installed without a C compiler
        return None
    return StrSums()


def take_str_sums(
    sums: StrSums, items: Iterator[Any], *, counting: bool = False
) -> tuple[int, Iterator[Any] | None]:
    """Add `items` (``(str, int)`` pairs, or str keys counted once each with `counting`) into
    `sums`; returns how many it took and, if it stopped at one it does not hold (another key
    or value type, a sum past int64), the rest of `items` from that one on.

    >>> sums = new_str_sums()
    >>> taken, rest = take_str_sums(sums, iter(["a", 1, "b"]), counting=True)
    >>> taken, list(rest), sums.items()
    (1, [1, 'b'], [('a', 1)])
    """
    done = sums.count(items) if counting else sums.fold(items)
    if len(done) == 1:
        return int(done[0]), None
    _, handed_back, end = done  # the refused item and those taken after it, and then `end`
    return int(done[0]), _resume_all(handed_back, items, end)


_UNHASHABLE = re.compile(r"unhashable type: '([^']+)'")
# Where the tables' own loops raise (the last frame): ours, and Counter's update.
_OWN_FILES = (
    "gristmill/shuffle/fold.py",
    "gristmill/shuffle/combine_writer.py",
    "collections/__init__.py",
)


def unhashable_key_error(exc: BaseException) -> str | None:
    """What to say of `exc` if it is a hash table's refusal of a key with no hash (a list:
    what JSON gives), which says only ``unhashable type: 'list'``; None for any other error.

    The caller rules out a user function's own error first (one the pipeline traced to an
    input record); an aggregation's failing function marks its key, and is ruled out here.

    >>> try:
    ...     fold_pairs({}, [([1], 1)], operator.add)
    ... except TypeError as exc:
    ...     print(unhashable_key_error(exc))
    unhashable type: 'list': reduce_by_key, ... tuple (a frozenset for a set), ...
    """
    found = _UNHASHABLE.search(str(exc))
    if found is None or not isinstance(exc, TypeError) or hasattr(exc, KEY_ATTR):
        return None
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    # Raised in the tables' own loops (the last frame), not in code they called.
    where = "" if tb is None else tb.tb_frame.f_code.co_filename.replace(os.sep, "/")
    if not where.endswith(_OWN_FILES):
        return None
    return (
        f"unhashable type: '{found.group(1)}': reduce_by_key, combine_by_key, count_by_value "
        "and distinct fold keys in a hash table, as Spark's do, so their keys must be "
        "hashable: make the key a tuple (a frozenset for a set), or use group_by_key, which "
        "sorts keys of any type"
    )


_MISSING: Any = object()


def fold_pairs(
    acc: dict[Any, Any],
    pairs: Iterable[Any],
    add: Callable[[Any, Any], Any],
    create: Callable[[Any], Any] | None = None,
    count: int | None = None,
) -> int:
    """Fold `pairs` into `acc`: a new key's value (``create(value)`` if given) is stored, a
    known key's is ``add(old, value)``. Returns how many pairs there were (`count`, when the
    caller knows it: the Python loop then need not count them).

    >>> acc = {"a": 1}
    >>> fold_pairs(acc, [("a", 2), ("b", 5)], operator.add), acc
    (2, {'a': 3, 'b': 5})
    """
    if _c_fold is not None and type(acc) is dict:
        it = iter(pairs)
        done = _c_fold(acc, it, None if add is operator.add else add, create)
        if len(done) == 1:
            return int(done[0])
        # An item that is not a 2-tuple: Python unpacks it (or raises) as the loop would.
        return int(done[0]) + _python_fold(acc, _resume(done[1], it), add, create)
    return _python_fold(acc, pairs, add, create, count)


def needs_count() -> bool:
    """Whether `fold_pairs` wants its caller's `count`: only the Python loop uses it (the C
    loop counts as it goes, so listing a pass first to learn its length would be wasted).

    >>> needs_count() is (not HAS_C_FOLD)
    True
    """
    return _c_fold is None


def _resume_all(firsts: tuple[Any, ...], it: Iterator[Any], end: Any) -> Iterator[Any]:
    """`firsts`, then the rest of `it` (as `_resume`); `end`: the C loop saw `it` end (True)
    or raise (the exception, raised here after `firsts`, as a for loop would)."""
    yield from firsts
    if end is None:
        yield from _rest(it)
    elif end is not True:
        raise end


def _resume(first: Any, it: Iterator[Any]) -> Iterator[Any]:
    """`first`, then the rest of `it`, calling no ``iter()`` on it again (as chain and
    ``yield from`` would: an odd iterator whose ``__iter__`` rewinds would restart)."""
    yield first
    yield from _rest(it)


def _rest(it: Iterator[Any]) -> Iterator[Any]:
    """What `it` has left, pulled with ``next()`` only: a generator's ``yield from`` an
    iterator would call ``iter()`` on it, and so would chain."""
    while True:
        try:
            item = next(it)
        except StopIteration:
            return
        yield item


def _python_fold(
    acc: dict[Any, Any],
    pairs: Iterable[Any],
    add: Callable[[Any, Any], Any],
    create: Callable[[Any], Any] | None,
    count: int | None = None,
) -> int:
    missing = _MISSING
    get = acc.get
    n = 0
    # A failing `+`, `add` or `create` is marked with its key (`mark_key`), as the C loop does;
    # a try costs nothing until something raises.
    if add is operator.add and create is None:
        # The most common reducer, with `+` inlined: a C call less per record.
        if count is not None:
            for key, value in pairs:
                old = get(key, missing)
                try:
                    acc[key] = value if old is missing else old + value
                except Exception as exc:
                    mark_key(exc, key)
                    raise
            return count
        for n, (key, value) in enumerate(pairs, 1):  # noqa: B007 (n is the count)
            old = get(key, missing)
            try:
                acc[key] = value if old is missing else old + value
            except Exception as exc:
                mark_key(exc, key)
                raise
        return n
    for n, (key, value) in enumerate(pairs, 1):  # noqa: B007
        old = get(key, missing)
        try:
            if old is missing:
                acc[key] = value if create is None else create(value)
            else:
                acc[key] = add(old, value)
        except Exception as exc:
            mark_key(exc, key)
            raise
    return n


def group_pairs(acc: dict[Any, list[Any]], pairs: Iterable[Any]) -> None:
    """Append each pair's value to ``acc[key]``, a list made at the key's first value (in C
    when the extension is built: a combiner's buffers are grouped this way).

    >>> acc = {}
    >>> group_pairs(acc, [("a", 1), ("b", 2), ("a", 3)]); acc
    {'a': [1, 3], 'b': [2]}
    """
    if _c_group is not None and type(acc) is dict:
        it = iter(pairs)
        done = _c_group(acc, it)
        if len(done) == 1:
            return
        # Not a 2-tuple or a key without a hash: Python unpacks or hashes it (and raises).
        pairs = _resume(done[1], it)
    _python_group(acc, pairs)


def group_while_hashable(
    acc: dict[Any, list[Any]], pairs: Iterator[Any]
) -> tuple[int, Iterator[Any] | None]:
    """`group_pairs` up to the first item that is not a pair or has a key that cannot be hashed
    (TypeError); returns how many pairs it grouped and, if it stopped, the rest of `pairs`
    from that item on.

    >>> acc = {}
    >>> n, rest = group_while_hashable(acc, iter([("a", 1), (["b"], 2), ("a", 3)]))
    >>> n, acc, list(rest)
    (1, {'a': [1]}, [(['b'], 2), ('a', 3)])
    """
    if _c_group is not None and type(acc) is dict:
        done = _c_group(acc, pairs)
        return int(done[0]), None if len(done) == 1 else _resume(done[1], pairs)
    n = 0
    for item in pairs:
        if type(item) is not tuple or len(item) != 2:
            return n, _resume(item, pairs)
        try:
            hash(item[0])
        except TypeError:  # no hash (a list), or one that raises (a tuple holding a list)
            return n, _resume(item, pairs)
        _python_group(acc, (item,))
        n += 1
    return n, None


def _python_group(acc: dict[Any, list[Any]], pairs: Iterable[Any]) -> None:
    for key, value in pairs:
        group = acc.get(key)
        if group is None:
            acc[key] = [value]
        else:
            group.append(value)
