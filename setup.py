"""The C part of gristmill: the hash aggregation's inner loop (`shuffle/_fold.c`).

Everything else is declared in pyproject.toml. The extension is optional: without a C
compiler the install still succeeds and `gristmill.shuffle.fold` runs its Python loop.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("gristmill.shuffle._fold", ["src/gristmill/shuffle/_fold.c"], optional=True)
    ]
)
