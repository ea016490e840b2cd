"""Options applied to a sampler's chunk result: threshold, the 'Cortex' row, overlap
culling, and the split into hemispheres (by each voxel's nearest fiducial vertex)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from roixr.rois.table import RoiTable
from roixr.sampling.chunk import Chunk, SamplerResult
from roixr.sampling.geometry import Surfaces

__all__ = ["CORTEX", "Options", "apply_options", "coverage", "found_share"]

CORTEX = "Cortex"
_SUM_TOL = 1e-9


@dataclass(frozen=True)
class Options:
    """Per-voxel options, in pycortex's order of application.

    Attributes
    ----------
    threshold : float or None
        Fractions above it become True (fractional samplers only).
    allow_overlap : bool
        False zeroes voxels claimed by more than one ROI (fractions: whose sum exceeds 1).
    cortex : bool
        Add the ``"Cortex"`` row (after the ROIs): the sampler's cortical voxels (or ribbon
        fraction) in none of the ROIs.
    """

    threshold: float | None = None
    allow_overlap: bool = False
    cortex: bool = False


def apply_options(
    result: SamplerResult,
    surfaces: Surfaces,
    chunk: Chunk,
    options: Options,
    workers: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Apply the options to a sampler's column-compressed result, keeping it compressed.

    Parameters
    ----------
    result : SamplerResult
    surfaces : Surfaces
    chunk : Chunk
    options : Options
    workers : int
        Threads for the hemisphere query (-1: all cores).

    Returns
    -------
    voxels : ndarray
        ``(m,)`` flat indices (C order over the chunk) of the listed voxels.
    values : ndarray
        ``(n_rows, m)``: bool, or float64 fractions; the ROIs' rows, then 'Cortex' if asked.
    left : ndarray
        ``(m,)`` bool: the voxel is in the left hemisphere (else the right).
    """
    values, voxels = result.values, result.voxels
    thresholded = values.dtype.kind == "f" and options.threshold is not None
    if thresholded:
        values = values > options.threshold
    claimed = values.sum(axis=0)
    if options.cortex:
        if result.cortex is None:
            raise ValueError("this sampler does not define the 'Cortex' row")
        cortex = result.cortex > options.threshold if thresholded else result.cortex
        values = np.concatenate([values, cortex.astype(values.dtype)[None]])
    if not options.allow_overlap:
        # fractions of disjoint ROIs that fill a voxel sum to 1 up to rounding; a real overlap
        # exceeds 1 by at least one point's share (1/64 of a vertex's line, or more)
        over = claimed > (1 + _SUM_TOL if values.dtype.kind == "f" else 1)
        if over.any():
            values[:, over] = 0
    used = np.asarray(values.any(axis=0))
    return voxels, values, _left(result, surfaces, chunk, used, workers)


def coverage(
    table: RoiTable, fiducial: np.ndarray, coord: np.ndarray, shape: tuple[int, int, int]
) -> np.ndarray:
    """Percent of each ROI's vertices inside the grid's field of view (NaN without vertices).

    A vertex is inside when its fiducial position, mapped to voxel coordinates by
    ``coord``, lies within ``[-0.5, n - 0.5)`` on each axis: inside the volume's voxels.
    The same meaning for every sampler, computed from the geometry alone (no sampling).

    Parameters
    ----------
    table : RoiTable
    fiducial : ndarray
        ``(n_vertices, 3)`` fiducial positions (mm).
    coord : ndarray
        4×4 surface mm → voxel matrix.
    shape : tuple of int
        The grid's shape.
    """
    coord = np.asarray(coord, dtype=float)
    ijk = np.asarray(fiducial, dtype=float) @ coord[:3, :3].T + coord[:3, 3]
    inside = np.all((ijk >= -0.5) & (ijk < np.asarray(shape, dtype=float) - 0.5), axis=1)
    n = table.counts().astype(float)
    got = np.asarray(table.members.astype(np.int64) @ inside.astype(np.int64)).ravel()
    with np.errstate(invalid="ignore", divide="ignore"):
        return got / n * 100


def found_share(table: RoiTable, found: list[np.ndarray]) -> np.ndarray:
    """pycortex's own measure: percent of each ROI's vertices that some voxel's sampling
    found (the nearest vertex of a voxel, or a vertex mapped into one); NaN without
    vertices. Only the drop-in uses it, to give pycortex's warnings; the masks' ``coverage``
    is :func:`coverage`."""
    hit = np.zeros(table.n_vertices, dtype=bool)
    for f in found:
        hit[f] = True
    n = table.counts().astype(float)
    got = np.asarray(table.members.astype(np.int64) @ hit.astype(np.int64)).ravel()
    with np.errstate(invalid="ignore", divide="ignore"):
        return got / n * 100


def _left(
    result: SamplerResult, surfaces: Surfaces, chunk: Chunk, used: np.ndarray, workers: int
) -> np.ndarray:
    """Bool per listed voxel: its nearest fiducial vertex is in the left hemisphere (or the
    sampler's own hemisphere of each entry)."""
    if result.left is not None:
        return result.left
    if result.nearest is not None:
        return result.nearest < surfaces.n_lh
    n = surfaces.n_vertices
    nearest = np.full(len(result.voxels), n, dtype=np.int64)
    if used.any():
        mm = chunk.voxel_mm(result.voxels[used])
        bound = result.reach * (1 + 1e-9) + 1e-9  # a margin for rounding; misses fall back
        _, near = surfaces.tree.query(mm, distance_upper_bound=bound, workers=workers)
        missed = np.flatnonzero(near == n)
        if missed.size:
            _, near[missed] = surfaces.tree.query(mm[missed], workers=workers)
        nearest[used] = near
    return nearest < surfaces.n_lh
