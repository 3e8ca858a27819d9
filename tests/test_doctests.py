"""Run the runnable examples in public docstrings, so documentation cannot drift from code."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import gristmill

MODULES = sorted(
    m.name
    for m in pkgutil.walk_packages(gristmill.__path__, "gristmill.")
    if not m.name.endswith(("__main__", "examples.demo"))
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    module = importlib.import_module(name)
    failures, _ = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert failures == 0
