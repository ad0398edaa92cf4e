"""The last word on each pixel: a graph cut with GrabCut's colour models and a boundary weight
for the picture's size.

GrabCut (OpenCV) learns a colour model for the object and one for the background (Gaussian
mixtures) and cuts between them, paying `gamma` per unit of outline on weak edges. Its gamma (50,
fixed in OpenCV) trades a region's colour evidence, which grows with its area, against its outline,
which grows with its length: at a smaller picture a thin part (a leg, an antenna) has relatively
more outline for its area and is cut away although its colours say "object". So the final cut is
made again here with the models GrabCut learned and a gamma proportional to the picture's longest
side, which keeps that trade-off the same at any size (GAMMA_PER_PX, chosen on the tune split).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import maxflow
import numpy as np

GAMMA_PER_PX = 20.0 / 300  # boundary weight per pixel of the longest side (OpenCV's 50 at 750 px)
# (dy, dx, 1 / distance): each pixel's right, lower and two diagonal neighbours (8-connected grid)
NEIGHBOURS = ((0, 1, 1.0), (1, 0, 1.0), (1, 1, 2**-0.5), (1, -1, 2**-0.5))
HARD = 1e9  # the cost that keeps a hard label


def colour_cost(model: np.ndarray, pixels: np.ndarray) -> np.ndarray:
    """(N,) negative log-likelihood of (N, 3) BGR pixels (0..255) under a GrabCut colour model:
    OpenCV's (1, 65) array of 5 components' weights, means (5 x 3) and covariances (5 x 3 x 3)."""
    weights, means, covs = model[0, :5], model[0, 5:20].reshape(5, 3), model[0, 20:].reshape(5, 3, 3)
    terms = []
    for w, mu, cov in zip(weights, means, covs):
        if w <= 0:
            continue
        d = pixels - mu
        _, logdet = np.linalg.slogdet(cov)
        terms.append(np.log(w) - 0.5 * logdet - 0.5 * np.einsum("ni,ij,nj->n", d, np.linalg.inv(cov), d))
    if not terms:
        return np.full(len(pixels), HARD)
    return np.minimum(-np.logaddexp.reduce(np.stack(terms), axis=0), HARD)


@dataclass(frozen=True)
class Grid:
    """A picture ready to be cut: its pixels and the boundary weight (GrabCut's contrast term, with
    gamma for the picture's size) between each pixel and its NEIGHBOURS. They depend on the picture
    alone, so every cut of it (one per GrabCut start) shares them."""

    bgr: np.ndarray  # (H, W, 3) uint8
    weights: tuple[np.ndarray, ...]  # (H, W) float64 per NEIGHBOURS entry, 0 where the neighbour is outside

    @classmethod
    def of(cls, bgr: np.ndarray) -> Grid:
        colours = bgr.astype(np.float64)
        steps = [_neighbour_difference(colours, dy, dx) for dy, dx, _ in NEIGHBOURS]
        beta = 1.0 / (2 * np.mean(np.concatenate([s[valid] for s, valid in steps])) + 1e-12)  # GrabCut's
        gamma = GAMMA_PER_PX * max(bgr.shape[:2])
        weights = tuple(
            np.where(valid, gamma * inverse_distance * np.exp(-beta * squared), 0.0)
            for (_, _, inverse_distance), (squared, valid) in zip(NEIGHBOURS, steps)
        )
        return cls(bgr, weights)


def cut(grid: Grid, labels: np.ndarray, fgd: np.ndarray, bgd: np.ndarray) -> np.ndarray:
    """(H, W) bool object: the minimum cut of the colour costs (GrabCut's models `fgd`, `bgd`)
    and the `grid`'s boundary weights; the hard labels of `labels` (cv2.GC_FGD / GC_BGD, the start
    GrabCut was given) are kept."""
    h, w = labels.shape
    colours = grid.bgr.astype(np.float64).reshape(-1, 3)
    object_cost = colour_cost(fgd, colours).reshape(h, w)
    background_cost = colour_cost(bgd, colours).reshape(h, w)
    graph = maxflow.Graph[float]()
    nodes = graph.add_grid_nodes((h, w))
    for (dy, dx, _), weights in zip(NEIGHBOURS, grid.weights):
        structure = np.zeros((3, 3))
        structure[1 + dy, 1 + dx] = 1
        graph.add_grid_edges(nodes, weights=weights, structure=structure, symmetric=True)
    # Source side = object: a pixel left on the sink side pays its source capacity.
    to_background = np.where(labels == cv2.GC_FGD, HARD, np.where(labels == cv2.GC_BGD, 0.0, background_cost))
    to_object = np.where(labels == cv2.GC_BGD, HARD, np.where(labels == cv2.GC_FGD, 0.0, object_cost))
    graph.add_grid_tedges(nodes, to_background, to_object)
    graph.maxflow()
    return ~graph.get_grid_segments(nodes)


def _neighbour_difference(colours: np.ndarray, dy: int, dx: int) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) squared colour difference of each pixel to its (dy, dx) neighbour (dy >= 0), and
    (H, W) bool: whether that neighbour lies inside the picture."""
    h, w = colours.shape[:2]
    squared, valid = np.zeros((h, w)), np.zeros((h, w), bool)
    x0, x1 = max(-dx, 0), w - max(dx, 0)
    here = colours[: h - dy, x0:x1]
    there = colours[dy:, x0 + dx : x1 + dx]
    squared[: h - dy, x0:x1] = ((here - there) ** 2).sum(-1)
    valid[: h - dy, x0:x1] = True
    return squared, valid
