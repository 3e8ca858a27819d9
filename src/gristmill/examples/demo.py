"""`make demo`: generate a seeded 200 MB corpus, count its words, run a join + sort pipeline.

Runs on the default local executor with progress, prints the top words and job summaries.
Sizes and paths come from flags so the same script serves quick checks (`--size 5MB`).
"""

from __future__ import annotations

import argparse
import operator
import os
import string

import gristmill as gm
from gristmill.config import parse_size
from gristmill.examples.jobs import wordcount


def parse_count(line: str) -> tuple[str, int]:
    """``word<TAB>count`` back into a pair."""
    word, count = line.rsplit("\t", 1)
    return word, int(count)


def first_letter(pair: tuple[str, int]) -> tuple[str, int]:
    return pair[0][0], pair[1]


def flatten_join(pair: tuple[str, tuple[int, str]]) -> tuple[str, str, int]:
    letter, (total, kind) = pair
    return letter, kind, total


def by_total(row: tuple[str, str, int]) -> int:
    return row[2]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", default="demo-data", help="where corpus and outputs go")
    parser.add_argument("--size", default="200MB", help="corpus size")
    args = parser.parse_args(argv)
    from gristmill.examples.textgen import generate_text

    os.makedirs(args.dir, exist_ok=True)
    corpus = os.path.join(args.dir, f"corpus-{args.size}.txt")
    if not os.path.exists(corpus):
        print(f"generating {args.size} corpus at {corpus} ...", flush=True)
        generate_text(corpus, parse_size(args.size), seed=2026)
    config = gm.Config.resolve()
    print(f"executor={config.executor} workers={config.workers}", flush=True)

    counts_dir = os.path.join(args.dir, "wordcount")
    # The progress listener prints each job's one-line summary with its counters.
    wordcount([corpus]).write_text(counts_dir, overwrite=True, config=config)
    counts = gm.read_text(counts_dir).map(parse_count)
    print("top words:")
    for word, n in counts.top(10, key=operator.itemgetter(1), config=config):
        print(f"  {word:<12} {n:>10,}")

    # A multi-stage pipeline: aggregate by first letter, join a lookup table, total-order sort.
    kinds = gm.from_items(
        [(c, "vowel" if c in "aeiou" else "consonant") for c in string.ascii_lowercase]
    )
    letters = (
        counts.map(first_letter)
        .reduce_by_key(operator.add)
        .join(kinds)
        .map(flatten_join)
        .sort_by(by_total, ascending=False)
    )
    letters_dir = os.path.join(args.dir, "letters")
    letters.write_text(letters_dir, overwrite=True, config=config)
    print("words by first letter (sorted by total, from the sorted part files):")
    for row in gm.read_text(letters_dir).take(5, config=config):
        print("  " + row)


if __name__ == "__main__":
    main()
