"""The optimization loop over coarse-to-fine stages: early stopping, the best iterate, progress and
cancel. It knows nothing about meshes: a stage hands it a step function, a step returns the
iteration's numbers and its iterate."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .threads import keep_cpu_share

Step = Callable[[], tuple[dict[str, float], Any]]  # one iteration -> (values incl. "total", iterate)


@dataclass(frozen=True)
class Stage:
    size: tuple[int, int]  # (H, W) render size in pixels
    iterations: int  # planned


@dataclass
class Outcome:
    best: Any  # the iterate with the lowest total within the latest stage reached
    best_loss: float
    best_iteration: int  # 1-based; 0 if no iteration ran
    iterations: int  # run
    cancelled: bool
    history: list[dict[str, float]] = field(default_factory=list)


# (iteration, stage index, stage, values, iterate) -> True to stop
OnIteration = Callable[[int, int, Stage, dict[str, float], Any], "bool | None"]


def optimize(
    stages: list[Stage], start: Callable[[Stage], Step], initial: Any, patience: int, on_iteration: OnIteration | None = None
) -> Outcome:
    """Run `start(stage)()` stage after stage. A stage ends early after `patience` iterations
    without a 0.1 % improvement of "total"; `on_iteration` returning True cancels. Totals at
    different resolutions are not comparable, so the best iterate is the latest stage's."""
    out = Outcome(initial, math.inf, 0, 0, False)
    for index, stage in enumerate(stages):
        step = start(stage)
        stage_best, since_best = math.inf, 0
        for _ in range(stage.iterations):
            keep_cpu_share()  # a neighbour's busy cores are not ours to fork onto
            out.iterations += 1
            values, iterate = step()  # the iterate these values were measured on (before the step)
            out.history.append(values)
            since_best = 0 if values["total"] < stage_best * (1 - 1e-3) else since_best + 1
            if values["total"] < stage_best:
                stage_best = values["total"]
                out.best, out.best_loss, out.best_iteration = iterate, values["total"], out.iterations
            if on_iteration is not None and on_iteration(out.iterations, index, stage, values, iterate):
                out.cancelled = True
                return out
            if since_best >= patience:
                break
    return out
