"""A dask.distributed LocalCluster of worker processes on 127.0.0.1, dashboard off."""

from __future__ import annotations

from typing import Any


def cluster(workers: int) -> tuple[Any, Any]:
    from distributed import Client, LocalCluster

    local = LocalCluster(
        host="127.0.0.1",
        n_workers=workers,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
    )
    return local, Client(local)
