"""Options applied to a sampler's chunk result: threshold, the 'Cortex' pseudo-ROI, overlap
culling, and the split into hemispheres (by each voxel's nearest fiducial vertex)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from roixr.kernels.geometry import Chunk, SamplerResult, SurfaceGeometry

__all__ = ["Options", "apply_options", "coverage", "finalize"]

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
    cortex_at : int or None
        Output position of the ``"Cortex"`` pseudo-ROI (cortical voxels in no other ROI).
    fractional : bool
        Whether the sampler returns fractions.
    """

    threshold: float | None = None
    allow_overlap: bool = False
    cortex_at: int | None = None
    fractional: bool = False

    @property
    def dtype(self) -> np.dtype:
        """The output dtype: float32 fractions, else bool."""
        return np.dtype(np.float32 if self.fractional and self.threshold is None else bool)


def apply_options(
    result: SamplerResult, geometry: SurfaceGeometry, chunk: Chunk, options: Options
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Apply the options to a sampler's column-compressed result, keeping it compressed.

    Returns
    -------
    voxels : ndarray
        ``(m,)`` flat indices (C order over the chunk) of the listed voxels.
    values : ndarray
        ``(n_out, m)``: bool, or float64 fractions, with 'Cortex' inserted and overlaps culled.
    left : ndarray
        ``(m,)`` bool: the voxel is in the left hemisphere (else the right).
    """
    values, voxels = result.values, result.voxels
    if options.fractional and options.threshold is not None:
        values = values > options.threshold
    claimed = values.sum(axis=0)
    if options.cortex_at is not None:
        cortex = np.full(len(voxels), result.cortical)
        row = ((claimed == 0) & cortex).astype(values.dtype)[None]
        values = np.concatenate([values, row])[_cortex_order(len(values) + 1, options.cortex_at)]
    if not options.allow_overlap:
        # fractions of disjoint ROIs that fill a voxel sum to 1 up to rounding; a real overlap
        # exceeds 1 by at least one point's share (1/64 of a vertex's line, or more)
        over = claimed > (1 + _SUM_TOL if values.dtype.kind == "f" else 1)
        if over.any():
            values[:, over] = 0
    return voxels, values, _left(result, geometry, chunk, values.any(axis=0))


def finalize(
    result: SamplerResult, geometry: SurfaceGeometry, chunk: Chunk, options: Options
) -> tuple[np.ndarray, np.ndarray]:
    """Turn a sampler's result into the chunk's ``(roi, hemisphere, cx, cy, cz)`` block.

    Returns
    -------
    block : ndarray
        The chunk's values.
    found : ndarray
        Vertices found in the chunk (for coverage).
    """
    voxels, values, left = apply_options(result, geometry, chunk, options)
    block = np.zeros((len(values), 2, chunk.size), dtype=options.dtype)
    block[:, 0, voxels[left]] = values[:, left]
    block[:, 1, voxels[~left]] = values[:, ~left]
    return block.reshape((len(values), 2, *chunk.chunk_shape)), result.found


def coverage(geometry: SurfaceGeometry, found: list[np.ndarray]) -> np.ndarray:
    """Percent of each ROI's vertices found in the volume (NaN for ROIs without vertices)."""
    hit = np.zeros(geometry.n_vertices, dtype=bool)
    for f in found:
        hit[f] = True
    members = geometry.members
    n = np.asarray(members.sum(axis=1)).ravel().astype(float)
    got = np.asarray(members.astype(np.int64) @ hit.astype(np.int64)).ravel()
    with np.errstate(invalid="ignore", divide="ignore"):
        return got / n * 100


def _cortex_order(n_out: int, at: int) -> np.ndarray:
    """Indices moving the last row (Cortex) to position ``at``."""
    real = list(range(n_out - 1))
    return np.array([*real[:at], n_out - 1, *real[at:]])


def _left(
    result: SamplerResult, geometry: SurfaceGeometry, chunk: Chunk, used: np.ndarray
) -> np.ndarray:
    """Bool per listed voxel: its nearest fiducial vertex is in the left hemisphere."""
    if result.nearest is not None:
        return result.nearest < geometry.n_lh
    n = geometry.n_vertices
    nearest = np.full(len(result.voxels), n, dtype=np.int64)
    if used.any():
        mm = chunk.voxel_mm(result.voxels[used])
        bound = result.reach * (1 + 1e-9) + 1e-9  # a margin for rounding; misses fall back
        _, near = geometry.tree.query(mm, distance_upper_bound=bound, workers=chunk.workers)
        missed = np.flatnonzero(near == n)
        if missed.size:
            _, near[missed] = geometry.tree.query(mm[missed], workers=chunk.workers)
        nearest[used] = near
    return nearest < geometry.n_lh
