"""One batch row as a pure function: input files' bytes and options in, output files' bytes and
a summary out. Where it runs (a local worker process, a Ray actor on another machine) it needs
no shared storage, and the same inputs give the same outputs.
"""

from __future__ import annotations

import hashlib
import json
import resource
import tempfile
import time
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from refine_protocol.report import ReportSummary
from refine_protocol.request import OPTION

from .. import __version__
from ..errors import InputError
from ..io import save_mesh
from ..io.inputs_io import load_inputs
from ..refine import refine_inputs
from ..settings import resolve

# A job's outputs: the refined mesh (the input's format), the report and, with a camera fit, the camera.
REPORT, CAMERA = "report.json", "camera.json"
STOPPED = "stopped"  # a row whose mesh was left as it was (report.stopped): its report and camera only


@dataclass(frozen=True)
class RowJob:
    name: str
    inputs: dict[str, tuple[str, bytes]]  # role (request.FILES) -> (file name, its bytes)
    options: dict[str, Any]  # the batch's defaults merged with the row's (request.OPTIONS)
    timeout_s: float = 0.0  # 0: none; else the run stops (cooperatively) and fails after this long

    @cached_property
    def key(self) -> str:
        """Content key: the engine version, the options and every input's bytes. A row whose key
        matches its finished outputs' is skipped on a rerun. Hashed once per job."""
        h = hashlib.sha256(f"{__version__}\n{json.dumps(self.options, sort_keys=True)}".encode())
        for role in sorted(self.inputs):
            name, data = self.inputs[role]
            h.update(f"\n{role}:{Path(name).suffix.lower()}:{len(data)}\n".encode())
            h.update(data)
        return h.hexdigest()


@dataclass
class RowOutcome:
    status: str  # "done", STOPPED (the camera or silhouette found is in doubt: the message says why) or "failed"
    seconds: float
    message: str = ""
    iou_before: float | None = None  # the input mesh's silhouette IoU with the photo (the camera used, 256 px)
    iou_after: float | None = None
    warnings: list[str] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)  # output file name -> bytes (done or stopped)
    peak_rss_mb: float = 0.0  # the worker process's peak memory so far (all its jobs)

    def summary(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if k != "files"}


def run_job(job: RowJob) -> RowOutcome:
    """Refine one row. Never raises for bad inputs or a timeout: they are a failed RowOutcome."""
    t0 = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory(prefix="refine-job-") as tmp:
            outcome = _run(job, Path(tmp), t0)
    except InputError as exc:
        outcome = RowOutcome("failed", time.perf_counter() - t0, str(exc))
    outcome.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    return outcome


def _run(job: RowJob, tmp: Path, t0: float) -> RowOutcome:
    paths = {}
    for role, (name, data) in job.inputs.items():
        paths[role] = tmp / "in" / role / Path(name).name
        paths[role].parent.mkdir(parents=True)
        paths[role].write_bytes(data)
    settings = resolve(job.options)
    flags = {name: job.options.get(name, OPTION[name].default) for name in ("find_silhouette", "exif_orientation")}
    inputs, _ = load_inputs(
        paths["mesh"],
        paths["image"],
        paths.get("camera"),
        paths.get("mask"),
        settings,
        flags["find_silhouette"],
        paths.get("occluder"),
        exif_orientation=flags["exif_orientation"],
        hints=paths.get("hints"),
    )
    deadline = t0 + job.timeout_s if job.timeout_s > 0 else float("inf")
    result = refine_inputs(inputs, lambda _p: time.perf_counter() > deadline)
    if result.cancelled:
        raise InputError(f"timed out after {job.timeout_s:g} s")
    report = result.report
    written = report.to_dict()
    files = {REPORT: json.dumps(written, indent=1).encode()}
    if report.camera is not None:
        files[CAMERA] = json.dumps(result.camera.to_dict(), indent=1).encode()
    if not report.stopped:  # a stopped row's mesh is the input: not written as a result
        mesh_out = tmp / "out" / f"refined{paths['mesh'].suffix.lower()}"
        save_mesh(mesh_out, result.vertices, inputs.faces, template=paths["mesh"])
        files[mesh_out.name] = mesh_out.read_bytes()
    said = ReportSummary.from_dict(written)
    status = STOPPED if report.stopped else "done"
    return RowOutcome(
        status, time.perf_counter() - t0, report.stopped, said.iou_before, said.iou_after, list(said.warnings), files
    )
