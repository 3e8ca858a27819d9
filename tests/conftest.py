"""Keep test runs out of the user's home and /tmp: replay bundles and the scratch of the CLIs
that tests start (some of them killed, which leaves scratch for a later job to reclaim) go to
per-session directories."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="session")
def gristmill_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    os.environ["GRISTMILL_HOME"] = str(tmp_path_factory.mktemp("gristmill-home"))
    os.environ.setdefault("GRISTMILL_SCRATCH", str(tmp_path_factory.mktemp("gristmill-scratch")))
    yield
