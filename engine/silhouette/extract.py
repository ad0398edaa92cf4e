"""The object's silhouette from a photo without alpha: GrabCut (OpenCV) seeded by the mesh.

Offline and classical: no model weights. The coarse mesh projected with the camera says roughly
where the object is, but its errors are exactly what the refinement must fix, so only what it is
sure of becomes a hard label: what lies deep inside the projection (by half the object's radius:
thin parts have no such core) is object, what lies far outside it and the picture's border are
background; on a plain backdrop only where the photo agrees (the backdrop's colours are no hard
object, other colours no hard background). Everything else is only "probably" object (inside the
projection) or background (near it), and GrabCut's colour models decide (the final cut made with
them again, its boundary weight for the picture's size: graph_cut.py). A cast shadow (a darker
copy of the backdrop's colour: the plain backdrop's, or on a patterned one the colour filled in
from around it) is offered to GrabCut as background in extra starts, and the outline on the
strongest edges wins: an object's edge is sharp, a soft shadow's is not.
Without a usable projection (a camera still unknown) the seeds are the picture's border alone, as
for a centred product shot. A user's hint strokes (object, background) are hard labels over all of
these, and the silhouette keeps them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import cv2
import numpy as np

from refine_protocol.request import HINT_BACKGROUND, HINT_OBJECT

from ..camera import render_size
from ..errors import InputError
from ..render.view import mask_iou
from .graph_cut import Grid, cut
from .resample import resize

WORK_SIZE = 400  # longest side (px) GrabCut works at: its cost grows with the pixel count
# The coarse mesh's outline may be off by a good part of the object's radius (a warp, a 15 % scale):
# only what lies farther from it than that is certain. Radius: of the disc with the projection's area.
CORE = 0.5  # hard object: deeper inside the projection than this many object radii (chosen on the tune split)
FAR = 0.35  # hard background: farther outside the projection than this many object radii
BORDER = 0.03  # without a projection: the outer band (share of the picture's size) is background
PLAIN_BACKDROP = 0.05  # RMS colour spread (0..1) of the band around its linear fit below which a backdrop is plain
SHADING = 0.02  # colour variation (0..1) of a lit backdrop that its linear fit leaves (chosen on the tune split)
BACKDROP_D2 = 16.3  # squared Mahalanobis distance from the band's colours: chi-square, 3 dof, p = 0.001
ITERATIONS = 5
RESTARTS = 3  # GrabCut runs from differently started colour models; the outline on the strongest edges wins
# Cast shadows: a pixel is a darker copy of the backdrop when its colour lies within this of the
# backdrop's colour scaled to the pixel's level. An absolute distance, because what tints a shadow
# adds to it (light bounced off the object, the JPEG's noise) whatever its depth: scaled back to
# the backdrop's brightness, a deep shadow's tint would grow with its depth. One extra start per
# tolerance, from the backdrop's own shading up: a pale object's colour may pass the larger ones,
# and then loses on its edges (_drops_soft_edges). These compare with the band's linear fit, which
# a backdrop whose colours spread more than the first tolerance does not describe: on such a
# patterned one the backdrop behind the object is filled in from what surrounds it instead, and the
# fill's own error is the one tolerance (_inpainted_shadow_distance).
SHADOW_TOLERANCES = (SHADING, 2 * SHADING, 4 * SHADING)
INPAINT_RADIUS = 6  # px at WORK_SIZE: the neighbourhood a patterned backdrop is filled in from
SHADOW_KEEPS = 0.5  # IoU a start without shadows keeps with the plain start: a shadow no larger than the object
MIN_PART = 0.01  # a connected part smaller than this share of the largest is a speck
MIN_AREA, MAX_AREA = 0.002, 0.95  # a silhouette outside these shares of the picture is no object
# Confidence. Below the LOW_ values a warning, below the MIN_ ones an error: the outline and the
# mesh's disagree more than a coarse mesh does (seed IoU), the outline does not follow the photo's
# edges (edge contrast: 1 = no better than anywhere in the picture).
LOW_SEED_IOU, MIN_SEED_IOU = 0.6, 0.3
LOW_EDGE_CONTRAST, MIN_EDGE_CONTRAST = 1.5, 1.0
ASK_FOR_MASK = "give a mask of the object (white = object) instead"


@dataclass
class Extraction:
    mask: np.ndarray  # (H, W) float32 in [0, 1], 1 = object
    seed_iou: float | None  # IoU of the result with the projected mesh (None: no projection)
    edge_contrast: float  # mean gradient along the outline / mean gradient of the picture
    seconds: float
    shadow_left_out: float = 0.0  # share of the plain start's area a start without shadows left out
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "seed_iou": self.seed_iou,
            "edge_contrast": self.edge_contrast,
            "shadow_left_out": self.shadow_left_out,
            "seconds": self.seconds,
            "warnings": self.warnings,
        }


def extract_silhouette(
    rgb: np.ndarray,
    prior: np.ndarray | None = None,
    trusted: np.ndarray | None = None,
    provisional: bool = False,
    hints: np.ndarray | None = None,
) -> Extraction:
    """The object's silhouette in `rgb` ((H, W, 3) float32 in [0, 1]), seeded by `prior` ((h, w)
    bool at any size of the photo's aspect: the mesh's projection; or None) and, if given, by
    `trusted` (an earlier silhouette of the photo, any size of its aspect, in [0, 1]: hard labels
    only where it agrees). `hints`: (h, w) uint8 at any size of the photo's aspect, refine_protocol.request.HINT_OBJECT
    or HINT_BACKGROUND where the user marked the photo: hard labels, kept in the result. Raises
    InputError when nothing object-like is found or the result is not to be trusted.
    `provisional`: the camera `prior` was seen through is still to be fitted, so a low overlap
    with it is no error yet (confirm_overlap, once the camera is settled)."""
    t0 = time.perf_counter()
    h, w = rgb.shape[:2]
    size = render_size((w, h), min(WORK_SIZE, max(h, w)))[::-1]  # (w, h) for OpenCV
    small = resize(rgb, size)
    # OpenCV's BGR bytes, with the boundary weights every start's final cut shares
    grid = Grid.of(np.ascontiguousarray((np.clip(small, 0, 1) * 255).round().astype(np.uint8)[..., ::-1]))
    seed = None if prior is None else resize(prior.astype(np.float32), size) > 0.5
    agree = None if trusted is None else resize(trusted.astype(np.float32), size) > 0.5
    backdrop = _Backdrop.fit(small)
    reach = _reach(seed) if seed is not None and seed.any() else None
    if reach is not None:
        labels = _seed_labels(seed, reach, agree, None if backdrop is None else backdrop.explained)
    else:
        labels = _border_labels(small, backdrop)
    marked = None if hints is None else _hint_labels(hints, size)
    if marked is not None:
        labels = np.where(marked == HINT_OBJECT, cv2.GC_FGD, np.where(marked == HINT_BACKGROUND, cv2.GC_BGD, labels)).astype(
            np.uint8
        )
    # GrabCut is a local search from colour models started by k-means on OpenCV's global RNG:
    # seeded, the same photo gives the same mask; restarted, a cast shadow that one start takes
    # for the object's dark side is left out by another, whose outline follows stronger edges.
    runs = [_grabcut(grid, labels, reach, restart) for restart in range(RESTARTS)]
    grad = _gradient(small)
    if backdrop is not None and backdrop.spread < SHADOW_TOLERANCES[0]:
        runs += _without_shadows(backdrop.shadow_distance(small), SHADOW_TOLERANCES, grad, grid, labels, reach, runs[0])
    else:  # a patterned backdrop: a shadow is a darker copy of what surrounds it
        runs += _without_shadows(*_inpainted_shadow_distance(small, runs[0]), grad, grid, labels, reach, runs[0])
    contrasts = [_edge_contrast(grad, run) if run.any() else 0.0 for run in runs]
    best = int(np.argmax(contrasts))
    found = runs[best]
    if marked is not None:  # GrabCut keeps hard labels; the speck and reach pruning must too
        found = (found | (marked == HINT_OBJECT)) & (marked != HINT_BACKGROUND)
    _check_area(found)
    mask = resize(found.astype(np.float32), (w, h))
    seed_iou = None if seed is None else mask_iou(found, seed)
    shadow = float((runs[0] & ~found).sum() / max(runs[0].sum(), 1)) if best >= RESTARTS else 0.0  # a shadow start won
    out = Extraction(mask, seed_iou, contrasts[best], time.perf_counter() - t0, shadow)
    _check_confidence(out, provisional)
    return out


def _grabcut(grid: Grid, labels: np.ndarray, reach: np.ndarray | None, restart: int) -> np.ndarray:
    """(H, W) bool: the object in the `grid`'s picture from the (H, W) labels, cut (graph_cut.cut)
    with the colour models GrabCut learns from them, its k-means started by `restart`; what lies
    out of the projection's `reach` and specks dropped (_keep_object)."""
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(restart)
    try:
        cv2.grabCut(grid.bgr, labels.copy(), None, bgd, fgd, ITERATIONS, cv2.GC_INIT_WITH_MASK)
    except cv2.error as exc:  # e.g. one of the colour models got no pixels
        raise InputError(f"image: the object could not be told from the background ({exc.msg.strip()}); {ASK_FOR_MASK}") from None
    return _keep_object(cut(grid, labels, fgd, bgd), reach)  # its models, a boundary weight for this size


def _without_shadows(
    distance: np.ndarray,
    tolerances: tuple[float, ...],
    grad: np.ndarray,
    grid: Grid,
    labels: np.ndarray,
    reach: np.ndarray | None,
    plain: np.ndarray,
) -> list[np.ndarray]:
    """GrabCut's objects ((H, W) bool each) from `labels` with the backdrop's cast shadows
    (pixels whose `distance`, as _Backdrop.shadow_distance, is within each of `tolerances`) made probable
    background (not hard: a pale or grey object's colour may look the same); kept where what they
    leave out of the `plain` start is smaller than what they keep and had a soft edge (`grad`:
    _gradient of the picture), as a shadow has."""
    found = []
    for tolerance in tolerances:
        shadowed = (distance < tolerance) & (labels != cv2.GC_BGD)
        if not shadowed.any():
            continue
        try:
            run = _grabcut(grid, np.where(shadowed, cv2.GC_PR_BGD, labels).astype(np.uint8), reach, 0)
        except InputError:  # nothing left to model the object with: the plain starts stand
            continue
        if mask_iou(run, plain) >= SHADOW_KEEPS and _drops_soft_edges(grad, plain, run):
            found.append(run)
    return found


def _drops_soft_edges(grad: np.ndarray, plain: np.ndarray, found: np.ndarray) -> bool:
    """Whether the part of the `plain` outline that `found` ((H, W) bool each) no longer follows
    is softer (lower mean of `grad`, the picture's gradient) than the outline `found` keeps: a
    cast shadow's edge on the backdrop is a penumbra; an object's own edge, or a grey object's
    shaded side, is not."""
    kept = _outline(found)
    dropped = _outline(plain) & ~_grown(kept, 2)
    return not dropped.any() or grad[dropped].mean() < grad[kept].mean()


def confirm_overlap(found: Extraction) -> None:
    """Raise InputError when the silhouette `found` overlaps the mesh seen through the camera
    less than a coarse mesh overlaps its object (MIN_SEED_IOU)."""
    if found.seed_iou is not None and found.seed_iou < MIN_SEED_IOU:
        raise InputError(
            f"image: what stands out in the photo does not look like the mesh seen from the camera (IoU {found.seed_iou:.2f}): "
            f"the photo may show something else, or the camera is far off (fit it); {ASK_FOR_MASK}"
        )


def _check_confidence(found: Extraction, provisional: bool) -> None:
    """Raise InputError for a silhouette not to be trusted (its overlap with the projection only
    when not `provisional`); add warnings for a doubtful one."""
    seed_iou, contrast = found.seed_iou, found.edge_contrast
    if contrast < MIN_EDGE_CONTRAST:
        raise InputError(
            f"image: the object's outline cannot be found in the photo (it follows no edges: contrast {contrast:.1f}); {ASK_FOR_MASK}"
        )
    if not provisional:
        confirm_overlap(found)
    if seed_iou is not None and seed_iou < LOW_SEED_IOU:
        found.warnings.append(
            f"the silhouette found in the photo overlaps the mesh's only {seed_iou:.2f} (IoU); check it (mask out)"
        )
    if contrast < LOW_EDGE_CONTRAST:
        found.warnings.append(
            f"the silhouette found in the photo follows weak edges (contrast {contrast:.1f}); check it (mask out)"
        )


def _seed_labels(seed: np.ndarray, reach: np.ndarray, trusted: np.ndarray | None, backdrop: np.ndarray | None) -> np.ndarray:
    """GrabCut labels from the projection (H, W) bool: its core object, what lies out of its
    `reach` (_reach) and the border background, the rest probable. With `trusted` (a silhouette
    found earlier without this projection's help) that silhouette is what is probable, and a hard
    label needs both to agree: a mesh seen through a camera that is still a little off must not
    force its errors into the mask. With `backdrop` (the pixels a plain backdrop explains,
    _Backdrop) the photo must agree as well: no hard object on the backdrop's colours, no hard
    background off them (a thin leg the coarse mesh missed stays GrabCut's to find)."""
    inside = cv2.distanceTransform(seed.astype(np.uint8), cv2.DIST_L2, 5)
    radius = np.sqrt(seed.sum() / np.pi)
    object_ok = np.ones_like(seed) if trusted is None else trusted  # where a hard object label may go
    background_ok = np.ones_like(seed) if trusted is None else ~trusted
    if backdrop is not None:  # the photo's own evidence: a hard label must agree with the backdrop's colours
        object_ok, background_ok = object_ok & ~backdrop, background_ok & backdrop
    # "Probably object": the earlier silhouette when there is one (the photo's own evidence), else the projection.
    labels = np.where(seed if trusted is None else trusted, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    labels[~reach & background_ok] = cv2.GC_BGD
    border = np.zeros_like(seed)
    border[[0, -1], :] = border[:, [0, -1]] = True
    labels[border & ~seed] = cv2.GC_BGD
    labels[(inside > CORE * radius) & object_ok] = cv2.GC_FGD
    return labels


def _hint_labels(hints: np.ndarray, size_wh: tuple[int, int]) -> np.ndarray:
    """The (H, W) hint labels at GrabCut's size (nearest: a label is no colour to blend)."""
    return cv2.resize(np.ascontiguousarray(hints, dtype=np.uint8), size_wh, interpolation=cv2.INTER_NEAREST)


def _border_labels(rgb: np.ndarray, backdrop: _Backdrop | None) -> np.ndarray:
    """No projection: the outer band is background; inside it, what the band's colours explain
    (a plain `backdrop`) is probably background, the rest probably object. GrabCut's
    object model then starts from the object's colours, not the backdrop's. A busy band explains
    nothing: everything inside is then probably object, as with a plain rectangle."""
    h, w = rgb.shape[:2]
    inner = ~_band(h, w)
    labels = np.full((h, w), cv2.GC_BGD, np.uint8)
    labels[inner] = cv2.GC_PR_FGD
    if backdrop is not None and (inner & ~backdrop.explained).mean() >= MIN_AREA:
        labels[inner & backdrop.explained] = cv2.GC_PR_BGD
    return labels


def _band(h: int, w: int) -> np.ndarray:
    """(H, W) bool: the picture's outer band (BORDER of its size)."""
    b = max(int(round(BORDER * max(h, w))), 1)
    band = np.ones((h, w), bool)
    band[b:-b, b:-b] = False
    return band


@dataclass
class _Backdrop:
    """A plain backdrop modelled from the picture's outer band: each colour channel linear in x
    and y, with the band's own spread and some shading around it."""

    colour: np.ndarray  # (H, W, 3) float64: the backdrop's colour at each pixel
    explained: np.ndarray  # (H, W) bool: pixels whose colour the backdrop explains
    spread: float  # RMS colour distance (0..1) of the band's pixels from the fit

    @classmethod
    def fit(cls, rgb: np.ndarray) -> _Backdrop | None:
        """The backdrop behind `rgb` ((H, W, 3) in [0, 1]); None when the band is busy."""
        h, w = rgb.shape[:2]
        yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
        basis = np.stack([np.ones_like(xx), xx, yy], -1).reshape(-1, 3)
        colours = rgb.reshape(-1, 3).astype(np.float64)
        band = _band(h, w).ravel()
        for _ in range(2):  # robust: refit without the band's worst fifth (the object or its shadow may touch it)
            coef = np.linalg.lstsq(basis[band], colours[band], rcond=None)[0]
            residual = colours - basis @ coef
            size = np.linalg.norm(residual, axis=1)
            band &= size <= np.quantile(size[band], 0.8)
        spread = np.cov(residual[band].T)
        rms = float(np.sqrt(np.trace(spread)))
        if rms >= PLAIN_BACKDROP:
            return None
        cov = spread + SHADING**2 * np.eye(3)  # the backdrop's own shading, beyond its noise
        d2 = np.einsum("ij,jk,ik->i", residual, np.linalg.inv(cov), residual).reshape(h, w)
        return cls((basis @ coef).reshape(h, w, 3), d2 <= BACKDROP_D2, rms)

    def shadow_distance(self, rgb: np.ndarray) -> np.ndarray:
        """(H, W) float64: for pixels of `rgb` ((H, W, 3) in [0, 1]) darker than the backdrop
        explains, how far their colour lies from the backdrop's scaled by the ratio that fits it
        best (small: the backdrop in a shadow, less light on the same surface); infinite
        elsewhere."""
        return _darker_copy_distance(rgb, self.colour, ~self.explained)


def _inpainted_shadow_distance(rgb: np.ndarray, plain: np.ndarray) -> tuple[np.ndarray, tuple[float]]:
    """On a patterned backdrop: the backdrop behind the `plain` object ((H, W) bool) filled in
    from what surrounds it (OpenCV's inpainting), and for its pixels darker than that, how far
    their colour lies from a darker copy of it (as _Backdrop.shadow_distance; infinite
    elsewhere). The one tolerance is the fill's own error: the RMS colour error of a ring of
    known backdrop around the object hidden and filled in the same way."""
    image = np.ascontiguousarray((np.clip(rgb, 0, 1) * 255).round().astype(np.uint8))
    hole = _grown(plain, 1)
    ring = _grown(hole, INPAINT_RADIUS) & ~hole
    backdrop, test = (_filled(image, h) for h in (hole, hole | ring))
    tolerance = float(np.sqrt(((test[ring] - rgb[ring]) ** 2).sum(-1).mean())) if ring.any() else 0.0
    return _darker_copy_distance(rgb, backdrop, plain), (tolerance,)


def _darker_copy_distance(rgb: np.ndarray, backdrop: np.ndarray, where: np.ndarray) -> np.ndarray:
    """(H, W) float64: how far each pixel of `rgb` ((H, W, 3) in [0, 1]) lies from the `backdrop`
    colour ((H, W, 3)) scaled by the ratio that fits it best, for the pixels in `where` ((H, W)
    bool) that are darker than the backdrop; infinite elsewhere."""
    ratio = (rgb * backdrop).sum(-1) / np.maximum((backdrop**2).sum(-1), 1e-9)
    distance = np.linalg.norm(rgb - ratio[..., None] * backdrop, axis=-1)
    return np.where((ratio < 1) & where, distance, np.inf)


def _grown(mask: np.ndarray, pixels: int) -> np.ndarray:
    """(H, W) bool `mask` grown by `pixels` on every side."""
    return cv2.dilate(mask.astype(np.uint8), np.ones((2 * pixels + 1,) * 2, np.uint8)) > 0


def _filled(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """(H, W, 3) float64 in [0, 1]: the uint8 `image` (H, W, 3) with the (H, W) bool `hole` filled
    in from around it (Telea's inpainting, INPAINT_RADIUS)."""
    return cv2.inpaint(image, hole.astype(np.uint8), INPAINT_RADIUS, cv2.INPAINT_TELEA).astype(np.float64) / 255


def _reach(seed: np.ndarray) -> np.ndarray:
    """(H, W) bool: where the object may lie given its projection `seed` ((H, W) bool, not empty):
    within FAR object radii of it (of the disc with its area), as far as a coarse mesh's outline
    may be off."""
    outside = cv2.distanceTransform((~seed).astype(np.uint8), cv2.DIST_L2, 5)
    return outside <= FAR * np.sqrt(seed.sum() / np.pi)


def _keep_object(found: np.ndarray, reach: np.ndarray | None) -> np.ndarray:
    """The connected parts of `found` ((H, W) bool) that come within the projection's `reach`
    (_reach; None: the largest part alone), except specks under MIN_PART of the largest part.
    A part apart from the projection itself is what a coarse mesh misplaced (a warped ant's
    legs); one out of its reach is something else. Holes (a mug's handle) are kept."""
    count, parts = cv2.connectedComponents(found.astype(np.uint8), connectivity=8)
    if count <= 1:
        return found
    sizes = np.bincount(parts.ravel(), minlength=count)
    sizes[0] = 0
    keep = np.unique(parts[reach & found]) if reach is not None else np.array([], int)
    keep = keep[(keep > 0) & (sizes[keep] >= MIN_PART * sizes.max())]
    return np.isin(parts, keep if keep.size else [int(np.argmax(sizes))])


def _check_area(found: np.ndarray) -> None:
    share = float(found.mean())
    if share < MIN_AREA:
        raise InputError(f"image: no object found in the photo (the silhouette is empty); {ASK_FOR_MASK}")
    if share > MAX_AREA:
        raise InputError(f"image: the silhouette found covers {share:.0%} of the photo; {ASK_FOR_MASK}")


def _edge_contrast(grad: np.ndarray, found: np.ndarray) -> float:
    """Mean of the picture's gradient `grad` (_gradient) on the outline of `found` over its mean
    everywhere (1: no better than anywhere; a clean cut-out on a backdrop scores well above 2)."""
    return float(grad[_outline(found)].mean() / max(grad.mean(), 1e-6))


def _gradient(rgb: np.ndarray) -> np.ndarray:
    """(H, W) float32: the grey level's gradient magnitude (Sobel) of `rgb` ((H, W, 3) in [0, 1])."""
    gray = cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.float32), cv2.COLOR_RGB2GRAY)
    return np.hypot(cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1))


def _outline(found: np.ndarray) -> np.ndarray:
    """(H, W) bool: the pixels on either side of the (H, W) bool mask's edge."""
    f = found.astype(np.uint8)
    return (cv2.dilate(f, np.ones((3, 3), np.uint8)) - cv2.erode(f, np.ones((3, 3), np.uint8))) > 0
