"""The C part of gristmill: the hash aggregation's inner loop (`shuffle/_fold.c`), its table
of int sums by str key (`shuffle/_strsums.c`), the binary sort's radix sort
(`shuffle/_radix.c`) and the CRC-32 that partitions columnar keys (`shuffle/_strings.c`).

Everything else is declared in pyproject.toml. The extensions are optional: without a C
compiler the install still succeeds, `gristmill.shuffle.fold` runs its Python loop (and
sums str keys in a dict), `gristmill.shuffle.blocks` sorts with numpy and
`gristmill.shuffle.arrow_sums` hashes with zlib.
"""

from setuptools import Extension, setup

LOOPS = "src/gristmill/shuffle/_loops.h"  # the C loops' shared start and end

setup(
    ext_modules=[
        Extension(
            "gristmill.shuffle._fold",
            ["src/gristmill/shuffle/_fold.c"],
            depends=[LOOPS],
            optional=True,
        ),
        Extension("gristmill.shuffle._radix", ["src/gristmill/shuffle/_radix.c"], optional=True),
        Extension("gristmill.shuffle._strings", ["src/gristmill/shuffle/_strings.c"], optional=True),
        Extension(
            "gristmill.shuffle._strsums",
            ["src/gristmill/shuffle/_strsums.c"],
            depends=[LOOPS],
            optional=True,
        ),
    ]
)
