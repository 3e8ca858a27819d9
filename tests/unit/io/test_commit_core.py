"""Job commit is atomic, refuses clobbering, and a second commit of the same job changes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gristmill.errors import OutputExistsError
from gristmill.io.commit import OutputCommitter


def _stage_one_part(committer: OutputCommitter, text: str) -> None:
    committer.setup("fingerprint")
    attempt = Path(committer.attempts) / "part-00000.a1"
    attempt.write_text(text)
    committer.commit_task(0, str(attempt), "part-00000", records=1, size=len(text), counters={})


def test_second_commit_of_same_job_is_detected_and_harmless(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    committer = OutputCommitter(str(dest), "job-1", overwrite=False)
    _stage_one_part(committer, "x\n")
    first = committer.commit_job({"counters": {"n": 1}})
    before = {p.name: p.read_bytes() for p in dest.iterdir()}
    assert committer.committed_by_us()
    assert committer.commit_job({"counters": {"n": 999}}) == first
    assert {p.name: p.read_bytes() for p in dest.iterdir()} == before
    assert json.loads((dest / "_SUCCESS").read_text())["counters"] == {"n": 1}


def test_other_job_cannot_commit_over_existing_output(tmp_path: Path) -> None:
    dest = tmp_path / "out"
    first = OutputCommitter(str(dest), "job-1", overwrite=False)
    _stage_one_part(first, "one\n")
    first.commit_job({})
    second = OutputCommitter(str(dest), "job-2", overwrite=False)
    with pytest.raises(OutputExistsError):
        _stage_one_part(second, "two\n")
    assert (dest / "part-00000").read_text() == "one\n"
