"""`python -m engine serve` with a refine() that fails on purpose, for fault-injection tests: a real
engine process whose jobs break at the step the job's seed names.

    seed 0  a normal refinement
    seed 1  RuntimeError before the first iteration
    seed 2  RuntimeError inside the 3rd iteration's progress callback
    seed 3  MemoryError
    seed 4  a result whose report is too large for a frame header
    seed 5  a result whose report JSON cannot encode
    seed 6  SystemExit (a BaseException) in the middle of the run
"""

from __future__ import annotations

import sys
from dataclasses import replace

import engine.server.server as server
from engine.cli import main

real_refine = server.refine_inputs


def faulty_refine(inputs, progress=None):
    fault = inputs.settings.seed
    if fault == 1:
        raise RuntimeError("injected failure before the first iteration")
    if fault == 3:
        raise MemoryError("injected: cannot allocate")

    def wrapped(p):
        if fault == 2 and p.iteration == 3:
            raise RuntimeError("injected failure in iteration 3")
        if fault == 6 and p.iteration == 2:
            raise SystemExit(3)
        return progress(p) if progress else None

    result = real_refine(replace(inputs, settings=inputs.settings.with_overrides(seed=0)), wrapped)
    if fault == 4:
        result.report.device = "x" * 100_000
    if fault == 5:
        result.report.device = {1, 2}  # type: ignore[assignment]  # not JSON
    return result


server.refine_inputs = faulty_refine
sys.exit(main(["serve", *sys.argv[1:]]))
