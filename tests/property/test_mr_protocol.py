"""MapReduceJob's text output encoding reads back exactly, for any JSON-representable value."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

import gristmill as gm

scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text())
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(), inner, max_size=4)
    ),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(values, values)
def test_encode_line_round_trips(key: Any, value: Any) -> None:
    line = gm.encode_line((key, value))
    assert "\n" not in line and "\r" not in line
    assert line.count("\t") >= 1
    assert gm.decode_line(line) == (key, value)


SCRIPT = """
import gristmill as gm

class Stats(gm.MapReduceJob):
    def mapper(self, _, line):
        word = line.split()[0]
        yield word, len(line)

    def reducer(self, word, lengths):
        lengths = list(lengths)
        yield word, {"n": len(lengths), "max": max(lengths), "tags": ["x", 1.5, None]}

if __name__ == "__main__":
    Stats.main()
"""


def test_job_output_text_and_json(tmp_path: Path) -> None:
    script = tmp_path / "stats.py"
    script.write_text(SCRIPT)
    src = tmp_path / "in.txt"
    src.write_text("007 a\n007 bcd\ntrue x\nplain word here\n")
    expected = {
        "007": {"n": 2, "max": 7, "tags": ["x", 1.5, None]},
        "true": {"n": 1, "max": 6, "tags": ["x", 1.5, None]},
        "plain": {"n": 1, "max": 15, "tags": ["x", 1.5, None]},
    }
    for fmt in ("text", "json"):
        out = tmp_path / fmt
        done = subprocess.run(
            [
                sys.executable,
                str(script),
                str(src),
                "-o",
                str(out),
                "--output-format",
                fmt,
                "--executor",
                "inline",
                "--no-progress",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        lines = "".join(p.read_text() for p in sorted(out.glob("part-*"))).splitlines()
        if fmt == "text":
            got = dict(gm.decode_line(line) for line in lines)
        else:
            got = {k: v for k, v in map(json.loads, lines)}
        assert got == expected
