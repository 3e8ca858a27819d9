"""Shuffle: deterministic partitioning, map-side buffers that spill sorted runs, reduce-side merge.

Imports `plan` for specs; never `runtime` or `api`.
"""
