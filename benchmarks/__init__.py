"""Benchmarks: gristmill against its peers on the same generated data, in the same run."""
