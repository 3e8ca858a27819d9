"""Keep test runs out of the user's home and /tmp: replay bundles and the scratch of the CLIs
that tests start (some of them killed, which leaves scratch for a later job to reclaim) go to
per-session directories. Also `count_calls`, for tests that check which code path ran."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest


@pytest.fixture(autouse=True, scope="session")
def gristmill_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    os.environ["GRISTMILL_HOME"] = str(tmp_path_factory.mktemp("gristmill-home"))
    os.environ.setdefault("GRISTMILL_SCRATCH", str(tmp_path_factory.mktemp("gristmill-scratch")))
    yield


@pytest.fixture
def count_calls(monkeypatch: pytest.MonkeyPatch) -> Callable[[Any, str], list[int]]:
    """``count_calls(owner, name)`` wraps ``owner.name`` (a module function or a class's
    method) for the test; the list it returns grows by one per call."""

    def wrap(owner: Any, name: str) -> list[int]:
        calls: list[int] = []
        original = getattr(owner, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            calls.append(1)
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, counted)
        return calls

    return wrap
