"""Batch refinement: a manifest of rows (mesh, photo, camera, options) -> refined meshes, reports
and a summary, on a local pool of worker processes or a Ray cluster; resumable."""

from .job import RowJob, RowOutcome, run_job
from .manifest import Row, read_manifest
from .runner import LocalPool, RowResult, local_split, run_batch

__all__ = ["RowJob", "LocalPool", "RowOutcome", "Row", "RowResult", "local_split", "read_manifest", "run_batch", "run_job"]
