"""The C part of gristmill: the hash aggregation's inner loop (`shuffle/_fold.c`) and the
binary sort's radix sort (`shuffle/_radix.c`).

Everything else is declared in pyproject.toml. The extensions are optional: without a C
compiler the install still succeeds, `gristmill.shuffle.fold` runs its Python loop and
`gristmill.shuffle.blocks` sorts with numpy.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("gristmill.shuffle._fold", ["src/gristmill/shuffle/_fold.c"], optional=True),
        Extension("gristmill.shuffle._radix", ["src/gristmill/shuffle/_radix.c"], optional=True),
    ]
)
