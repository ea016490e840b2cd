"""Mapper samplers: voxel fractions from vertices (or line samples) that fall in each voxel.

``cortical-conservative`` follows pycortex's ``nearest`` mapper: each fiducial vertex of the
flatmap's mesh falls in the voxel its coordinates round to. ``cortical-liberal`` follows its
``line_nearest`` mapper: 64 points on each vertex's white→pial segment, each falling in the
voxel it rounds to. A voxel's value for an ROI is the fraction of the points in it that
belong to the ROI.

The vertex → voxel pairs are computed once per subject and transform (vertex-side work, no
voxel arrays), sorted by chunk, so each chunk kernel receives only the pairs that fall in it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from roixr.rois.table import RoiTable
from roixr.sampling.chunk import Chunk, SamplerResult
from roixr.sampling.geometry import Surfaces
from roixr.sampling.kernels.voxels import compact_indices, to_voxels
from roixr.sampling.protocol import Sampler

__all__ = [
    "CONSERVATIVE",
    "LIBERAL",
    "Pairs",
    "line_points",
    "mapper_sampler",
    "pair_lines",
    "pair_vertices",
    "sort_pairs",
    "vertex_points",
]

LINE_POINTS = 64
_BATCH = 8192  # vertices per batch of points (64 each)
_RUN_BATCH = 32768  # vertices per batch of crossings (about 1.6 each)


@dataclass(frozen=True)
class Pairs:
    """Vertex → voxel pairs with multiplicities, sorted by chunk.

    Attributes
    ----------
    vertex : ndarray
        int64 vertex index per pair.
    voxel : ndarray
        int64 flat voxel index per pair (C order over the whole grid).
    weight : ndarray
        float64 weight of the vertex in the voxel (its number of points, or a volume).
    offsets : ndarray
        ``offsets[b]:offsets[b+1]`` are the pairs of block ``b`` (C order over blocks).
    """

    vertex: np.ndarray
    voxel: np.ndarray
    weight: np.ndarray
    offsets: np.ndarray

    def block(self, b: int) -> Pairs:
        """The pairs of one block."""
        s = slice(int(self.offsets[b]), int(self.offsets[b + 1]))
        n = np.array([0, s.stop - s.start])
        return Pairs(self.vertex[s], self.voxel[s], self.weight[s], n)

    @staticmethod
    def concat(parts: list[Pairs]) -> Pairs:
        """One block's pairs from several vertex ranges."""
        return Pairs(
            np.concatenate([p.vertex for p in parts]),
            np.concatenate([p.voxel for p in parts]),
            np.concatenate([p.weight for p in parts]),
            np.array([0, sum(len(p.vertex) for p in parts)]),
        )


def vertex_points(surfaces: Surfaces, coord: np.ndarray, part: slice = slice(None)):
    """The conservative sampler's points: fiducial vertices of the flatmap mesh, one each."""
    verts = np.arange(surfaces.n_vertices)[part]
    verts = verts[surfaces.flat_mesh[verts]]
    yield verts, to_voxels(coord, surfaces.fiducial[verts])[:, None, :]


def line_points(
    surfaces: Surfaces,
    coord: np.ndarray,
    part: slice = slice(None),
    npts: int = LINE_POINTS,
):
    """The liberal sampler's points: ``npts`` points on each white→pial segment.

    Yields ``(vertices, points)`` batches with points ``(len(vertices), npts, 3)``.
    """
    lo, hi, _ = part.indices(surfaces.n_vertices)
    for start in range(lo, hi, _BATCH):
        verts = np.arange(start, min(start + _BATCH, hi))
        white = to_voxels(coord, surfaces.white[verts])
        pial = to_voxels(coord, surfaces.pial[verts])
        yield verts, _line_samples(white, pial, npts)


def _line_weights(npts: int = LINE_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """The samples' weights ``t`` of the white end and ``1 - t`` of the pial end."""
    ts = np.linspace(0, 1, npts + 2)[1:-1]
    return ts, 1 - ts


def _line_samples(white: np.ndarray, pial: np.ndarray, npts: int = LINE_POINTS) -> np.ndarray:
    """``(n, npts, 3)`` samples on ``(n, 3)`` white→pial segments (voxel coordinates)."""
    ts, ts1 = _line_weights(npts)
    # pycortex's LineMapper swaps its arguments' names: its samples are white*t + pial*(1-t)
    return white[:, None, :] * ts[None, :, None] + pial[:, None, :] * ts1[None, :, None]


def _pairs_of_batch(verts, pts, shape):
    """Unique (vertex, voxel) keys of one batch and how many points each holds.

    Along one vertex's points the voxel index is monotone on every axis (rounding is
    monotone along a straight segment), so equal voxels form one run: counting runs needs
    no sort.
    """
    shp = np.asarray(shape, dtype=float)
    rounded = np.round(pts)
    valid = np.all((rounded >= 0) & (rounded <= shp - 1), axis=-1)
    lin = (rounded[..., 0] * shape[1] + rounded[..., 1]) * shape[2] + rounded[..., 2]
    key = np.where(valid, verts[:, None] * float(np.prod(shape)) + lin, -1.0).astype(np.int64)
    start = np.ones(key.shape, dtype=bool)
    start[:, 1:] = key[:, 1:] != key[:, :-1]
    first = np.flatnonzero(start)
    counts = np.diff(np.append(first, key.size))
    keys = key.ravel()[first]
    keep = keys >= 0
    return keys[keep], counts[keep]


def pair_vertices(batches, shape: tuple[int, int, int], bounds: tuple[np.ndarray, ...]) -> Pairs:
    """Round points to voxels, count them per (vertex, voxel), and sort the pairs by block.

    Parameters
    ----------
    batches : iterable of (vertices, points)
        ``points`` is ``(len(vertices), m, 3)`` voxel coordinates.
    shape : tuple of int
        The grid's shape.
    bounds : tuple of ndarray
        Per axis, the block boundaries ``[0, c0, c0 + c1, ..., n]``.

    Points that round to a voxel outside the grid are dropped (pycortex clips points up to
    half a voxel beyond the grid into it; see docs/deviations.md).
    """
    parts = [_pairs_of_batch(v, p, shape) for v, p in batches]
    keys = np.concatenate([p[0] for p in parts]) if parts else np.empty(0, np.int64)
    counts = np.concatenate([p[1] for p in parts]) if parts else np.empty(0, np.int64)
    return sort_pairs(keys, counts, shape, bounds)


def sort_pairs(
    keys: np.ndarray, counts: np.ndarray, shape: tuple[int, int, int], bounds: tuple
) -> Pairs:
    """Pairs from ``vertex * n_voxels + voxel`` keys and their counts, sorted by block."""
    nvox = int(np.prod(shape))
    vertex, lin = np.divmod(keys, nvox)
    nblocks = tuple(len(b) - 1 for b in bounds)
    if nblocks == (1, 1, 1):  # one block (the drop-in): nothing to sort
        return Pairs(vertex, lin, counts.astype(np.float64), np.array([0, len(keys)]))
    ijk = np.unravel_index(lin, shape)
    block_idx = [np.searchsorted(b[1:], ijk[a], side="right") for a, b in enumerate(bounds)]
    block = np.ravel_multi_index(block_idx, nblocks) if len(keys) else np.empty(0, np.int64)
    order = np.argsort(block, kind="stable")
    offsets = np.concatenate([[0], np.cumsum(np.bincount(block, minlength=int(np.prod(nblocks))))])
    return Pairs(vertex[order], lin[order], counts[order].astype(np.float64), offsets)


def pair_lines(
    surfaces: Surfaces,
    coord: np.ndarray,
    shape: tuple[int, int, int],
    bounds: tuple[np.ndarray, ...],
    part: slice = slice(None),
) -> Pairs:
    """The liberal sampler's pairs, as ``pair_vertices(line_points(...))`` gives them, but
    from where each white→pial segment crosses voxel boundaries instead of from its points.

    A segment is straight, so its points' voxel changes only where it crosses a boundary
    plane (half-integer voxel coordinates): the points between two crossings share a voxel.
    The crossing's point index comes from the line's equation and is checked on the points
    beside it, computed bit for bit as :func:`line_points` computes them; a vertex with a
    point within 1e-7 voxel of a boundary, or with many crossings, is counted point by point.
    """
    lo, hi, _ = part.indices(surfaces.n_vertices)
    keys, counts, parts = [], [], []
    for start in range(lo, hi, _RUN_BATCH):
        verts = np.arange(start, min(start + _RUN_BATCH, hi))
        white = to_voxels(coord, surfaces.white[verts])
        pial = to_voxels(coord, surfaces.pial[verts])
        k, c, hard = _line_runs(verts, white, pial, shape)
        keys.append(k)
        counts.append(c)
        if hard.any():  # the few undecided vertices: point by point
            samples = _line_samples(white[hard], pial[hard])
            parts.append(_pairs_of_batch(verts[hard], samples, shape))
    keys += [p[0] for p in parts]
    counts += [p[1] for p in parts]
    return sort_pairs(np.concatenate(keys), np.concatenate(counts), shape, bounds)


_EPS = 1e-7  # voxel units: points nearer a boundary than this are decided point by point
_MAX_CROSSINGS = 12


def _line_runs(verts, white, pial, shape, npts=LINE_POINTS):
    """Keys and counts of the segments' runs of points per voxel, and the vertices left
    undecided (``hard``), whose keys are not included.

    One record per boundary crossing (about 1.6 per vertex on S1), never one per point.
    """
    ts, ts1 = _line_weights(npts)  # the samples' own weights: points computed bit for bit
    first = white * ts[0] + pial * ts1[0]
    last = white * ts[-1] + pial * ts1[-1]
    r0 = np.round(first)
    steps = (np.round(last) - r0).astype(np.int64)
    hard = (np.abs(first - r0) > 0.5 - _EPS) | (np.abs(last - np.round(last)) > 0.5 - _EPS)
    hard = hard.any(axis=1) | (np.abs(steps).sum(axis=1) > _MAX_CROSSINGS)
    steps[hard] = 0
    n = len(verts)
    # crossings, ordered by (vertex, axis, j): crossing j of an axis is at r0 ± (j - 1/2)
    per = np.abs(steps).ravel()
    cell = np.repeat(np.arange(3 * n), per)
    j = np.arange(cell.size) - np.repeat(np.cumsum(per) - per, per) + 1
    row, axis = np.divmod(cell, 3)
    sign = np.sign(steps.ravel())[cell]
    boundary = r0.ravel()[cell] + sign * (j - 0.5)
    w, p = white.ravel()[cell], pial.ravel()[cell]
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.searchsorted(ts, (boundary - p) / (w - p))  # points before the crossing
    kb, ka = np.clip(k - 1, 0, npts - 1), np.clip(k, 0, npts - 1)
    before = (w * ts[kb] + p * ts1[kb] - boundary) * sign
    after = (w * ts[ka] + p * ts1[ka] - boundary) * sign
    ok = (k >= 1) & (k <= npts - 1) & (before < -_EPS) & (after > _EPS)
    hard[row[~ok]] = True
    # runs: each vertex's first run starts at point 0 in voxel r0, each crossing starts one
    order = np.argsort(row * (npts + 1) + k, kind="stable")
    row, axis, sign, k = row[order], axis[order], sign[order], k[order]
    crossings = np.bincount(row, minlength=n)
    first_run = np.cumsum(crossings + 1) - (crossings + 1)
    run_row = np.repeat(np.arange(n), crossings + 1)
    at = first_run[row] + np.arange(row.size) - (np.cumsum(crossings) - crossings)[row] + 1
    start = np.zeros(run_row.size, dtype=np.int64)
    start[at] = k
    stop = np.append(start[1:], 0)
    stop[first_run + crossings] = npts  # a vertex's last run ends with its points
    count = stop - start
    keep = (count > 0) & ~hard[run_row]
    lin = np.zeros(run_row.size, dtype=np.int64)
    for a in range(3):  # a run's voxel: r0 moved by the crossings up to its start
        move = np.zeros(run_row.size, dtype=np.int64)
        on = axis == a
        move[at[on]] = sign[on]
        moved = np.cumsum(move)
        index = r0[run_row, a].astype(np.int64) + moved - moved[first_run][run_row]
        keep &= (index >= 0) & (index < shape[a])
        lin = lin * shape[a] + index
    return verts[run_row[keep]] * int(np.prod(shape)) + lin[keep], count[keep], hard


def mapper_sampler(
    surfaces: Surfaces, table: RoiTable, chunk: Chunk, pairs: Pairs, workers: int = 1
) -> SamplerResult:
    """Fractions of each voxel's points (or weight) that belong to each ROI, for one chunk.

    ``pairs`` holds only this chunk's vertex → voxel pairs.
    """
    if len(pairs.vertex) == 0:
        empty = np.empty(0, np.int64)
        return SamplerResult(empty, np.zeros((len(table.names), 0)), empty)
    voxels, column = compact_indices(chunk.local_index(pairs.voxel), chunk.size)
    total = np.bincount(column, weights=pairs.weight, minlength=len(voxels))
    hit = np.zeros(surfaces.n_vertices, dtype=bool)
    hit[pairs.vertex] = True
    verts = np.flatnonzero(hit)
    shape = (surfaces.n_vertices, len(voxels))
    weights = sp.csr_array((pairs.weight, (pairs.vertex, column)), shape=shape)
    values = (table.members.astype(float) @ weights).toarray()  # exact point counts
    values /= total  # one rounding: a voxel wholly in an ROI is exactly 1 (no empty voxel)
    # a point rounds into its voxel and lies at most half the thickness from its vertex's
    # fiducial position (the white–pial midpoint), so a fiducial vertex is within reach
    reach = chunk.half_diagonal + float(surfaces.thickness[verts].max()) / 2
    return SamplerResult(voxels, values, verts, reach=reach)


def _sample(surfaces, table, chunk, prepared, workers) -> SamplerResult:
    return mapper_sampler(surfaces, table, chunk, prepared, workers)


def _prepare_vertices(surfaces, coord, shape, bounds, part=slice(None)) -> Pairs:
    return pair_vertices(vertex_points(surfaces, coord, part), shape, bounds)


def _share(parts: list[Pairs], b: int) -> Pairs:
    return Pairs.concat([p.block(b) for p in parts])


CONSERVATIVE = Sampler(
    name="cortical-conservative",
    sample=_sample,
    fractional=True,
    prepare=_prepare_vertices,
    share=_share,
)
"""pycortex's ``cortical-conservative``: fractions of the flatmap's vertices in the voxel."""

LIBERAL = Sampler(
    name="cortical-liberal",
    sample=_sample,
    fractional=True,
    prepare=pair_lines,
    share=_share,
)
"""pycortex's ``cortical-liberal``: fractions of the white→pial line samples in the voxel."""
