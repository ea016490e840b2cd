"""The registration sanity check: do the surfaces land in the reference grid, and on brain?

A wrong registration is the most common mistake in this field, and it gives masks that are
empty or wrong without an error. :func:`check_registration` runs once per plan (subject ×
grid), on numbers the plan has anyway, and warns (:class:`~roixr.errors.CoverageWarning`)
with the numbers and the likely cause when

1. **coverage**: under half of the cortex's (fiducial) vertices fall inside the reference
   grid's field of view — more precisely, under half of what a box of the grid's size could
   hold along its most limiting axis, so a slab acquisition placed over the occipital lobe
   (S1's ``retinotopy``: 38 % of the vertices inside, all a 55 mm slab can hold) passes while
   the same slab 40 mm off (4 % inside) does not; or
2. **intensity**: more than :data:`BACKGROUND_LIMIT` of the white-surface vertices inside
   the grid sit on background-like intensities of the reference image (under
   :data:`BACKGROUND_LEVEL` of the way from its 10th to its 99th percentile).

Evidence for the intensity signal (``docs/inputs.md``): on S1's two good transforms at most
2.7 % of the white vertices sit on background; moved by 20 mm or more, flipped left-right or
inverted, 12–34 %; shifts of 10 mm or less cannot be told (2.7–3.7 %). So it flags gross
errors coverage misses (S1's ``fullhead`` inverted keeps 59 % of the vertices in its large
field of view, but puts 34 % on background) with a margin of about ten over good data, and
is not a fine registration check. It is skipped where it cannot be told: an image with
over 4 million voxels (an anatomical grid: reading it would cost seconds), or with
under 1000 distinct intensities (a mask, a label image, an 8-bit anatomy: the synthetic
subject's anatomy, 200 in the grey-matter sheets and 0 elsewhere, puts 74% of the white
vertices of a perfect registration on "background"), a reference given as an in-memory
image, or one that cannot be read.

For each warning the check tries the likely causes on the same numbers: the registration
inverted, and the surfaces moved by the anatomical image's tkr-RAS ↔ scanner-RAS offset
(FreeSurfer's ``c_ras``) either way; a cause that would pass is named with its numbers.
Nonlinear registrations (a ``warp``) are checked on the mapped surfaces; their alternatives
are not tried (that would map the vertices again).
"""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np

from roixr.errors import CoverageWarning
from roixr.io.subject import Subject
from roixr.io.transforms import Transform
from roixr.sampling.geometry import Surfaces

__all__ = ["BACKGROUND_LEVEL", "BACKGROUND_LIMIT", "Verdict", "check_registration", "verdict"]

#: the fraction of the white vertices (inside the grid) over background that triggers a warning
BACKGROUND_LIMIT = 0.25
#: "background": under this fraction of the way from the image's 10th to 99th percentile
BACKGROUND_LEVEL = 0.1
_MIN_JUDGED = 100  # white vertices inside the grid needed to judge intensities
_MAX_VOXELS = 4_000_000  # larger grids (anatomies) are not read: coverage only
_MIN_LEVELS = 1000  # distinct intensities an image needs to be judged (no masks, labels)
_CACHE: OrderedDict[tuple, Verdict] = OrderedDict()
_CACHE_LOCK = threading.Lock()


class Verdict:
    """What the check found for one subject × grid.

    Attributes
    ----------
    inside, total : int
        Fiducial vertices inside the grid's field of view, and all of them.
    achievable : float
        The largest fraction a box of the grid's size could hold along its most limiting
        axis (1 for a grid larger than the brain).
    background : float or None
        The fraction of the white vertices inside the grid that sit on background-like
        intensities; None where that cannot be told.
    message : str or None
        The warning, or None when the registration looks right.
    """

    def __init__(self, inside, total, achievable, background, message):
        self.inside, self.total, self.achievable = inside, total, achievable
        self.background, self.message = background, message

    @property
    def fraction(self) -> float:
        return self.inside / self.total if self.total else 1.0


def check_registration(
    subject: Subject, surfaces: Surfaces, transform: Transform, stacklevel: int = 2
) -> Verdict:
    """Warn when the surfaces miss the reference grid or sit on its background.

    Computed once per (surfaces, transform) in a process; warns every time it is called.

    Warns
    -----
    CoverageWarning
        With the numbers (vertices inside / total, the surfaces' and the grid's bounding
        boxes in the reference's scanner mm, the fraction over background) and the likely
        cause.
    """
    key = (surfaces.token, transform.token)
    with _CACHE_LOCK:
        found = _CACHE.get(key)
    if found is None:
        found = verdict(subject, surfaces, transform)
        with _CACHE_LOCK:
            _CACHE[key] = found
            while len(_CACHE) > 64:
                _CACHE.popitem(last=False)
    if found.message:
        warnings.warn(found.message, CoverageWarning, stacklevel=stacklevel + 1)
    return found


def verdict(subject: Subject, surfaces: Surfaces, transform: Transform) -> Verdict:
    """The check's numbers and message (no warning issued)."""
    fid = np.asarray(surfaces.fiducial, dtype=np.float64)
    white = np.asarray(surfaces.white, dtype=np.float64)
    shape = np.asarray(transform.shape, dtype=np.float64)
    coord = np.asarray(transform.coord, dtype=np.float64)
    image = _reference_data(transform)
    inside, achievable = _coverage(fid, coord, shape)
    background = _background(white, coord, image)
    total = len(fid)
    coverage_bad = inside < 0.5 * achievable * total
    background_bad = background is not None and background > BACKGROUND_LIMIT
    if not (coverage_bad or background_bad):
        return Verdict(inside, total, achievable, background, None)
    parts = [_numbers(fid, transform, inside, achievable, background, coverage_bad)]
    parts.append(_causes(subject, fid, white, transform, shape, image, coverage_bad))
    if coverage_bad:
        parts.append(
            "Masks will be mostly empty. If the scan covers only part of the brain on "
            "purpose, silence this with warnings.filterwarnings('ignore', "
            "category=roixr.errors.CoverageWarning)."
        )
    message = " ".join(p for p in parts if p)
    return Verdict(inside, total, achievable, background, message)


# --- the two signals --------------------------------------------------------------------


def _voxels(points: np.ndarray, coord: np.ndarray) -> np.ndarray:
    return points @ coord[:3, :3].T + coord[:3, 3]


def _coverage(points: np.ndarray, coord: np.ndarray, shape: np.ndarray) -> tuple[int, float]:
    """Vertices inside the grid, and the largest fraction a box of its size could hold
    along its most limiting axis (sorted projections, two pointers)."""
    ijk = _voxels(points, coord)
    inside = int(np.count_nonzero(np.all((ijk > -0.5) & (ijk < shape - 0.5), axis=1)))
    n = len(points)
    if not n or inside >= n / 2:  # passes whatever a box could hold
        return inside, 1.0
    best = 1.0
    for axis in range(3):
        x = np.sort(ijk[:, axis])
        if not np.all(np.isfinite(x)):
            return inside, 1.0
        if x[-1] - x[0] < shape[axis]:
            continue
        counts = np.searchsorted(x, x + shape[axis], side="left") - np.arange(n)
        best = min(best, float(counts.max()) / n)
    return inside, best


def _reference_data(transform: Transform) -> np.ndarray | None:
    """The reference image's first volume, float32, or None where it cannot be read or has
    no contrast."""
    path = Path(transform.reference)
    if not path.is_file():
        return None
    try:
        from roixr.io.images import load_volume

        img = load_volume(path)
        if int(np.prod(img.shape[:3])) > _MAX_VOXELS:
            return None
        proxy = img.dataobj
        data = np.asarray(proxy[..., 0] if len(img.shape) == 4 else proxy, dtype=np.float32)
    except Exception:  # advisory: an unreadable reference is not this check's business
        return None
    if data.shape != tuple(transform.shape) or not np.all(np.isfinite(data)):
        return None
    sample = np.ravel(data, order="K")[:: max(1, data.size // 200_000)]
    if np.unique(sample).size < _MIN_LEVELS:  # a mask, labels or 8-bit image: no contrast
        return None  # to tell brain from background by (the synthetic anatomy: 74% "off")
    return data


def _background(white: np.ndarray, coord: np.ndarray, data: np.ndarray | None) -> float | None:
    """The fraction of the white vertices inside the grid over background-like voxels."""
    if data is None:
        return None
    lo, hi = np.percentile(data, [10, 99])
    if not hi > lo:
        return None
    ijk = np.rint(_voxels(white, coord))
    shape = np.asarray(data.shape)
    keep = np.all((ijk >= 0) & (ijk < shape), axis=1)
    if np.count_nonzero(keep) < _MIN_JUDGED:
        return None
    i, j, k = ijk[keep].astype(np.int64).T
    values = data[i, j, k]
    return float(np.mean(values < lo + BACKGROUND_LEVEL * (hi - lo)))


# --- the message --------------------------------------------------------------------------


def _box(points: np.ndarray) -> str:
    lo, hi = points.min(0), points.max(0)
    return ", ".join(f"{a} [{lo[i]:.0f}, {hi[i]:.0f}]" for i, a in enumerate("xyz"))


def _numbers(fid, transform, inside, achievable, background, coverage_bad) -> str:
    total = len(fid)
    mm = fid @ transform.magnet[:3, :3].T + transform.magnet[:3, 3]  # the reference's RAS
    corners = np.array(np.meshgrid(*[(-0.5, n - 0.5) for n in transform.shape])).reshape(3, -1)
    grid_mm = corners.T @ transform.affine[:3, :3].T + transform.affine[:3, 3]
    where = f"the grid {transform.shape} of {transform.reference} through {transform.name!r}"
    if coverage_bad:
        text = (
            f"the registration looks wrong: only {inside} of {total} cortical (fiducial) "
            f"vertices ({100 * inside / total:.1f}%) fall inside {where}"
        )
        if achievable < 1:
            text += f", where a box of the grid's size could hold {100 * achievable:.0f}%"
        text += "."
    else:
        text = (
            f"the registration looks wrong: {100 * background:.0f}% of the white-surface "
            f"vertices inside {where} sit on background-like intensities of the reference "
            f"(a good registration puts under 5% there; {inside} of {total} fiducial "
            "vertices are inside the grid)."
        )
    return (
        f"{text} In the reference's scanner RAS the surfaces span {_box(mm)} mm and the grid "
        f"{_box(grid_mm)} mm."
    )


_INVERTED = (
    "it is probably inverted: pass roixr.io.registration.Registration(path, invert=True) "
    "(or invert=False), the file of the other direction, or the inverse matrix"
)
_TKR = (
    "the surfaces or the registration are probably in tkr-RAS where scanner RAS is expected "
    "(or the other way round): open FreeSurfer surfaces with roixr.Subject.from_freesurfer "
    "(which adds c_ras), give from_surfaces surfaces in scanner RAS (mris_convert "
    "--to-scanner), and check that the registration maps scanner RAS"
)


def _alternatives(subject: Subject, transform: Transform) -> list[tuple[str, np.ndarray, str]]:
    """(description, coord, advice) of the likely causes, for an affine transform."""
    if transform.warp is not None:
        return []
    out = []
    inv_affine = np.linalg.inv(transform.affine)
    try:
        s2s = np.asarray(subject.surface_to_scanner, dtype=np.float64)
        a2f = transform.magnet @ np.linalg.inv(s2s)
        inverse = inv_affine @ np.linalg.inv(a2f) @ s2s
        out.append(("the inverse registration", inverse, _INVERTED))
    except (np.linalg.LinAlgError, ValueError):
        pass
    offset = _tkr_offset(subject)
    if offset is not None:
        out.append(
            (
                "the surfaces moved from tkr-RAS to scanner RAS (by the anatomical image's "
                f"c_ras, {_vec(offset[:3, 3])} mm)",
                transform.coord @ offset,
                _TKR,
            )
        )
        out.append(
            (
                "the surfaces moved from scanner RAS to tkr-RAS (by minus the anatomical "
                f"image's c_ras, {_vec(-offset[:3, 3])} mm)",
                transform.coord @ np.linalg.inv(offset),
                _TKR,
            )
        )
    return out


def _tkr_offset(subject: Subject) -> np.ndarray | None:
    """The anatomical image's tkr-RAS → scanner RAS matrix, when it is not the identity."""
    anat = subject.anatomical
    if anat is None:
        return None
    try:
        from roixr.io.freesurfer import vox2ras_tkr
        from roixr.io.transforms import load_grid

        grid = load_grid(anat, "anatomical image")
        m = grid.affine @ np.linalg.inv(vox2ras_tkr(grid.shape, grid.zooms))
    except Exception:  # advisory
        return None
    return None if np.allclose(m, np.eye(4), atol=1e-3) else m


def _vec(v: np.ndarray) -> str:
    return "(" + ", ".join(f"{x:.1f}" for x in v) + ")"


def _causes(subject, fid, white, transform, shape, image, coverage_bad) -> str:
    passing, advice = [], []
    for what, coord, fix in _alternatives(subject, transform):
        inside, achievable = _coverage(fid, coord, shape)
        background = _background(white, coord, image)
        ok_cov = inside >= 0.5 * achievable * len(fid)
        ok_bg = background is None or background <= BACKGROUND_LIMIT / 2
        if ok_cov and ok_bg:
            detail = f"{100 * inside / len(fid):.0f}% of the vertices inside"
            if background is not None:
                detail += f", {100 * background:.0f}% of the white ones on background"
            passing.append(f"{what} would put {detail}")
            if fix not in advice:
                advice.append(fix)
    if passing:
        text = "; ".join(passing)
        return f"{text[0].upper()}{text[1:]}: {'; or '.join(advice)}."
    base = (
        "Likely causes: a registration estimated for another subject or another reference "
        "image, a registration taken the wrong way round, or surfaces in tkr-RAS where "
        "scanner RAS is expected (neither the inverse nor the tkr offset would fix it here)."
    )
    if transform.warp is not None:
        base = (
            "Likely causes: a warp for another subject or template, the warp of the other "
            "direction (from-T1w_to-<template> vs from-<template>_to-T1w), or the reference "
            "image of another space."
        )
    return base
