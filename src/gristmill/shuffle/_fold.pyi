from collections.abc import Callable, Iterator
from typing import Any

def fold(
    acc: dict[Any, Any],
    pairs: Iterator[Any],
    add: Callable[[Any, Any], Any] | None,
    create: Callable[[Any], Any] | None,
) -> tuple[int] | tuple[int, Any]: ...
def group(acc: dict[Any, list[Any]], pairs: Iterator[Any]) -> tuple[int] | tuple[int, Any]: ...
