"""What a user function was working on when it raised, noted on its exception.

Record-wise ops are traced back to their input record by the pipeline; functions the shuffle
and the sinks call themselves (an aggregation's, a sort key, a ``top`` key, a value key) are
not, so the caller notes the key or the record on the exception, and the task's failure names
it. Must not import `runtime` or `api`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from typing import Any

KEY_ATTR = "gristmill_key"  # the key an aggregation's function was folding (the C fold too)
RECORD_ATTR = "gristmill_record"  # "what of which record", already worded


def mark_key(exc: BaseException, key: Any) -> None:
    """Note on `exc` the key whose fold raised it."""
    with contextlib.suppress(AttributeError, TypeError):  # some exceptions take no attributes
        setattr(exc, KEY_ATTR, key)


def mark_failing(
    exc: BaseException, fn: Callable[[Any], Any], items: Iterable[Any], what: str
) -> None:
    """Note on `exc` the first of `items` on which `fn` raises (it is called again on each, as
    user functions are taken to be deterministic), worded as ``WHAT of ITEM``.

    >>> try:
    ...     [1 // x for x in (2, 0)]
    ... except ZeroDivisionError as exc:
    ...     mark_failing(exc, lambda x: 1 // x, (2, 0), "sort key")
    ...     print(getattr(exc, RECORD_ATTR))
    sort key of 0
    """
    for item in items:
        try:
            fn(item)
        except Exception:
            with contextlib.suppress(AttributeError, TypeError):
                setattr(exc, RECORD_ATTR, f"{what} of {item!r:.200}")
            return


def described(exc: BaseException) -> str:
    """The key or record noted on `exc`, as a failure's location; empty if none.

    >>> exc = ValueError("x"); mark_key(exc, "k"); described(exc)
    "key 'k'"
    """
    if hasattr(exc, KEY_ATTR):
        return f"key {getattr(exc, KEY_ATTR)!r:.200}"
    return str(getattr(exc, RECORD_ATTR, "") or "")
