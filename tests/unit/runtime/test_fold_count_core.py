"""The map-side combine's record count when the pass counts its own output (`Lazy.counted`),
with the C fold and with the Python loop.

For the Python loop, a pass whose last ops are maps lists their input and hands its length
to the fold; the C loop, and any other pass, count record by record. Either way
`map.output_records` must be the number of pairs the ops made, and the sums must match a
plain dict.
"""

from __future__ import annotations

import collections
import operator
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import gristmill as gm
from gristmill.plan.ops import Op, OpKind
from gristmill.runtime.pipeline import Lazy
from gristmill.shuffle import fold


def _pair(word: str) -> tuple[str, int]:
    return word, len(word)


def _upper_pair(pair: tuple[str, int]) -> tuple[str, int]:
    return pair[0].upper(), pair[1] * 2


def _long(word: str) -> bool:
    return len(word) > 2


def _odd_pair(pair: tuple[str, int]) -> bool:
    return pair[1] % 2 == 1


def _pairs_of(line: str) -> list[tuple[str, int]]:
    return [_pair(w) for w in line.split()]


# name -> (dataset builder, plain-Python oracle of the pairs)
Chain = tuple[Callable[[gm.Dataset], gm.Dataset], Callable[[list[str]], list[Any]]]
CHAINS: dict[str, Chain] = {
    "map only": (
        lambda d: d.map(_pair),
        lambda lines: [_pair(x) for x in lines],
    ),
    "flat_map then map": (
        lambda d: d.flat_map(str.split).map(_pair),
        lambda lines: [_pair(w) for x in lines for w in x.split()],
    ),
    "flat_map, filter, two maps": (
        lambda d: d.flat_map(str.split).filter(_long).map(_pair).map(_upper_pair),
        lambda lines: [_upper_pair(_pair(w)) for x in lines for w in x.split() if _long(w)],
    ),
    "ends in flat_map": (
        lambda d: d.flat_map(_pairs_of),
        lambda lines: [p for x in lines for p in _pairs_of(x)],
    ),
    "ends in filter": (
        lambda d: d.flat_map(str.split).map(_pair).filter(_odd_pair),
        lambda lines: [p for x in lines for w in x.split() if _odd_pair(p := _pair(w))],
    ),
}


def _sums(pairs: list[tuple[str, int]]) -> dict[str, int]:
    """The oracle: each key's values summed by a plain dict."""
    sums: dict[str, int] = collections.Counter()
    for key, value in pairs:
        sums[key] += value
    return dict(sums)


@pytest.mark.parametrize("loop", ["c", "python"])
@pytest.mark.parametrize("executor", ["inline", "local"])
@pytest.mark.parametrize("name", sorted(CHAINS))
def test_reduce_by_key_counts_every_pair(
    name: str, executor: str, loop: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if loop == "python":  # the loop of an install without a C compiler (workers fork with it)
        monkeypatch.setattr(fold, "_c_fold", None)
    # 3000 lines: several 256-line passes per batch, and empty lines (passes of no pairs).
    lines = [" ".join(f"w{(n * 7 + i) % 53}" for i in range(n % 5)) for n in range(3000)]
    src = tmp_path / "in.txt"
    src.write_text("\n".join(lines) + "\n")
    build, oracle = CHAINS[name]
    pairs = oracle(lines)
    expected = _sums(pairs)
    config = gm.Config(
        executor=executor, workers=2, progress=False, scratch_dir=str(tmp_path / "s")
    )
    ds = build(gm.read_text(str(src))).reduce_by_key(operator.add)
    out = tmp_path / "out"
    result = ds.write_text(str(out), config=config)
    got = {}
    for part in sorted(out.glob("part-*")):
        for line in part.read_text().splitlines():
            key, value = line.split("\t")
            got[key] = int(value)
    assert got == expected
    assert result.counters["map.output_records"] == len(pairs)


def test_counted_lists_the_input_of_the_trailing_maps_only() -> None:
    split = Op(OpKind.FLAT_MAP, str.split, "flat_map")
    pair = Op(OpKind.MAP, _pair, "map")
    keep = Op(OpKind.FILTER, _odd_pair, "filter")
    part = ["a bb", "", "ccc d"]
    for ops, count in [
        ((pair,), 3),  # all maps: the input itself
        ((split, pair), 4),
        ((split, pair, keep), None),  # a filter last: unknown until run
        ((split,), None),
    ]:
        lazy = Lazy(ops, part if ops != (pair,) else ["x", "yy", "zzz"], None, repr, 0)
        records, n = lazy.counted()
        made = list(records)
        assert made == list(lazy)
        assert n == (len(made) if count is not None else None)


@pytest.mark.parametrize("loop", ["c", "python"])
def test_a_pass_is_listed_to_count_it_only_for_the_python_loop(
    loop: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    count_calls: Callable[[Any, str], list[int]],
) -> None:
    # The C fold counts as it goes: listing a pass first only to learn its length cost the
    # chain word count 2-5%. The Python loop is told the length and drops its enumerate.
    if loop == "c" and not fold.HAS_C_FOLD:
        pytest.skip("built without the C fold")
    if loop == "python":
        monkeypatch.setattr(fold, "_c_fold", None)
    calls = count_calls(Lazy, "counted")
    lines = [f"a b{n % 7} c" for n in range(600)]
    src = tmp_path / "in.txt"
    src.write_text("\n".join(lines) + "\n")
    build, oracle = CHAINS["flat_map then map"]
    config = gm.Config(executor="inline", progress=False, scratch_dir=str(tmp_path / "s"))
    got = dict(build(gm.read_text(str(src))).reduce_by_key(operator.add).collect(config=config))
    assert got == _sums(oracle(lines))
    assert bool(calls) is (loop == "python")
