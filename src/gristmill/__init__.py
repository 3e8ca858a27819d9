"""gristmill: batch processing for Python, on a laptop or a cluster.

>>> import gristmill as gm
>>> words = gm.from_items(["to be or", "not to be"]).flat_map(str.split)
>>> words.count_by_value(partitions=1).collect(config=gm.Config(executor="inline", progress=False))
[('be', 2), ('not', 1), ('or', 1), ('to', 2)]

Importing this package loads no heavy optional dependency (ray, pyarrow, fsspec, rich).
"""

from gristmill.api.dataset import Dataset
from gristmill.api.mapreduce import MapReduceJob, Step
from gristmill.api.mr_protocol import decode_line, encode_line
from gristmill.api.sources import (
    from_items,
    prefix_key,
    read_binary_records,
    read_csv,
    read_jsonl,
    read_parquet,
    read_text,
)
from gristmill.config import Config, use_config
from gristmill.errors import (
    DiskFullError,
    GristmillError,
    InputFormatError,
    InputNotFoundError,
    JobFailedError,
    OutputExistsError,
    UsageError,
)
from gristmill.runtime.result import JobResult

__version__ = "0.1.0"

__all__ = [
    "Config",
    "Dataset",
    "DiskFullError",
    "GristmillError",
    "InputFormatError",
    "InputNotFoundError",
    "JobFailedError",
    "JobResult",
    "MapReduceJob",
    "OutputExistsError",
    "Step",
    "UsageError",
    "__version__",
    "decode_line",
    "encode_line",
    "from_items",
    "prefix_key",
    "read_binary_records",
    "read_csv",
    "read_jsonl",
    "read_parquet",
    "read_text",
    "use_config",
]
