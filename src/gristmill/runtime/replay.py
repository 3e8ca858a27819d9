"""Replay bundles: a failed task attempt, saved so `gristmill replay` can rerun it in-process.

A bundle is the attempt's task spec (cloudpickled, since it holds the user's functions) in a
private directory under ``$GRISTMILL_HOME`` (default ``~/.gristmill``), mode 0600. It is only
ever loaded by its owner's explicit `gristmill replay`; nothing served or shared reads it.
For a task that reads shuffle data, the frames its partition reads are copied out of the map
outputs into the bundle as they are stored, since the job's scratch is deleted when it ends.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import tempfile

import cloudpickle

from gristmill.errors import UsageError
from gristmill.plan.stages import ShuffleInput
from gristmill.runtime.task import TaskSpec
from gristmill.shuffle.reader import frames_read
from gristmill.shuffle.runfile import copy_frames

_ID = re.compile(r"^[0-9]{8}-[0-9]{6}-[0-9a-f]{8}-s[0-9]+-t[0-9]+$")


def replay_root() -> str:
    return os.path.join(
        os.environ.get("GRISTMILL_HOME") or os.path.expanduser("~/.gristmill"), "replay"
    )


def _keep_shuffle_input(spec: TaskSpec, folder: str) -> TaskSpec:
    """Copy the frames this reduce task reads into `folder`; point the spec at the copies."""
    pipeline, part = spec.stage.task_input(spec.index)
    source = spec.reduce_source
    if not isinstance(pipeline.input, ShuffleInput) or source is None:
        return spec
    os.makedirs(folder, mode=0o700, exist_ok=True)
    runs = []
    for number, run in enumerate(source.runs):
        frames = frames_read(pipeline.input, source, part, run)  # a sort's: by key range
        runs.append(copy_frames(run, frames, os.path.join(folder, f"run-{number:05d}")))
    return dataclasses.replace(spec, reduce_source=dataclasses.replace(source, runs=tuple(runs)))


def save(spec: TaskSpec) -> str:
    """Save `spec` (and the shuffle data it reads) for replay; returns the bundle id."""
    bundle_id = f"{spec.job_id}-s{spec.stage.id}-t{spec.index}"
    root = replay_root()
    os.makedirs(root, mode=0o700, exist_ok=True)
    runs = os.path.join(root, f"{bundle_id}.runs")
    try:
        # Pickled before the file exists: a function that cannot be pickled (one closing over
        # a lock) leaves no empty bundle behind.
        data = cloudpickle.dumps(_keep_shuffle_input(spec, runs))
    except BaseException:
        shutil.rmtree(runs, ignore_errors=True)
        raise
    path = os.path.join(root, f"{bundle_id}.task")
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return bundle_id


def load(bundle_id: str) -> TaskSpec:
    """The saved spec, re-pointed at fresh scratch and output directories."""
    if not _ID.match(bundle_id):  # ids are identifiers, never paths
        raise UsageError(f"not a replay id: {bundle_id!r}")
    path = os.path.join(replay_root(), f"{bundle_id}.task")
    try:
        with open(path, "rb") as f:
            spec: TaskSpec = cloudpickle.loads(f.read())
    except FileNotFoundError:
        raise UsageError(f"no replay bundle {bundle_id} in {replay_root()}") from None
    scratch = tempfile.mkdtemp(prefix="gristmill-replay-")
    sink_dir = os.path.join(scratch, "out") if spec.sink_dir is not None else None
    if sink_dir is not None:
        os.makedirs(sink_dir)
    return dataclasses.replace(spec, job_dir=scratch, sink_dir=sink_dir)
