"""Keep test runs out of the user's home: replay bundles go to a per-session directory."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="session")
def gristmill_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    os.environ["GRISTMILL_HOME"] = str(tmp_path_factory.mktemp("gristmill-home"))
    yield
