"""mrjob word count on its local runner (Hadoop Streaming semantics in subprocesses):
mapper yields (word, 1), combiner and reducer sum; output is raw `word<TAB>count` lines.

usage: python -m benchmarks.peers.mrjob_wordcount INPUT OUTPUT_DIR WORKERS

Self-contained on purpose: the local runner re-runs this file as a script for every task.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator

from mrjob.job import MRJob
from mrjob.protocol import RawProtocol


class WordCount(MRJob):
    OUTPUT_PROTOCOL = RawProtocol  # key<TAB>value, both written as they are

    def mapper(self, _: None, line: str) -> Iterator[tuple[str, int]]:
        for word in line.split():
            yield word, 1

    def combiner(self, word: str, counts: Iterable[int]) -> Iterator[tuple[str, int]]:
        yield word, sum(counts)

    def reducer(self, word: str, counts: Iterable[int]) -> Iterator[tuple[str, str]]:
        yield word, str(sum(counts))


def main() -> None:
    if len(sys.argv) == 4 and not sys.argv[1].startswith("-"):
        src, dst, workers = sys.argv[1:]
        args = ["-r", "local", "--num-cores", workers, "--output-dir", dst, "--no-output", src]
        job = WordCount(args)
        with job.make_runner() as runner:
            runner.run()
    else:  # a task of the local runner: it passes mrjob's own options
        WordCount.run()


if __name__ == "__main__":
    main()
