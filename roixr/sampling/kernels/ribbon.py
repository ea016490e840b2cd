"""The ``ribbon`` sampler: the exact share of each voxel's volume that lies in the cortical
ribbon (between the white and pial surfaces of a hemisphere), per ROI.

Each vertex owns a column of the ribbon (Workbench's "thin columns": its share of each of its
triangles, split at edge midpoints and centroids, between the white and the pial surface);
columns tile the ribbon with no gap and no overlap. A voxel's value for an ROI is the volume
of the ROI's columns inside it, as a fraction of the voxel; ``Cortex`` is the volume of the
columns of vertices in none of the requested ROIs, so ``rois=["Cortex"]`` alone is the
grey-matter partial-volume map. Volumes are computed exactly (closed form, no sampling) by
:mod:`roixr.sampling.kernels.ribbon_kernel`.

Hemispheres are kept apart: a voxel's left value comes from the left hemisphere's columns
and its right value from the right's (a voxel can hold both near the midline). Where a
folded or self-intersecting mesh makes a voxel's summed volume leave [0, 1] (overlapping
folds count twice, inverted prisms negatively), a total above 1 scales the voxel's columns
down to fill it once, and each value is clipped to [0, the voxel's clipped total].
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import scipy.sparse as sp

from roixr.rois.table import RoiTable
from roixr.sampling.chunk import Chunk, SamplerResult
from roixr.sampling.geometry import Surfaces
from roixr.sampling.kernels.ribbon_kernel import mesh_orientation, ribbon_pairs
from roixr.sampling.kernels.voxels import compact_indices, to_voxels
from roixr.sampling.protocol import Sampler

__all__ = ["RIBBON", "ribbon_sampler", "split_triangles"]


def split_triangles(table: RoiTable, triangles: np.ndarray) -> np.ndarray:
    """Bool per triangle: its vertices differ in ROI membership (so its three vertex columns
    are computed apart; elsewhere the whole prism belongs to one membership)."""
    by_vertex = table.by_vertex
    if by_vertex.shape[1] == 0 or by_vertex.nnz == 0:
        return np.zeros(len(triangles), dtype=bool)
    # a membership signature per vertex: a hash of its ROI rows (equal sets, equal hashes;
    # unequal sets collide with negligible probability, and a collision only merges columns
    # that are then computed as one prism owned by one of them)
    rng = np.random.default_rng(0)
    weights = rng.integers(1, 2**61, size=by_vertex.shape[1], dtype=np.int64)
    rows = np.repeat(np.arange(by_vertex.shape[0]), np.diff(by_vertex.indptr))
    sig = np.zeros(by_vertex.shape[0], dtype=np.int64)
    np.add.at(sig, rows, weights[by_vertex.indices])
    s = sig[triangles]
    return (s[:, 0] != s[:, 1]) | (s[:, 1] != s[:, 2])


def _pairs(wv, pv, tris, split, chunk, orientation, workers):
    """ribbon_pairs over the chunk, the triangles split across threads (the kernel releases
    the GIL)."""
    n = 1 if workers == 1 else (os.cpu_count() or 1) if workers < 0 else workers
    n = max(1, min(n, len(tris) // 20000 or 1))
    if n == 1:
        return ribbon_pairs(wv, pv, tris, split, chunk.start, chunk.stop, orientation=orientation)
    parts = np.array_split(np.arange(len(tris)), n)
    with ThreadPoolExecutor(max_workers=n) as pool:
        done = list(pool.map(lambda p: ribbon_pairs(wv, pv, tris[p], split[p], chunk.start,
                                                    chunk.stop, orientation=orientation),
                             parts))  # fmt: skip
    return tuple(np.concatenate([d[i] for d in done]) for i in range(3))


def _hemisphere(surfaces, table, chunk, wv, pv, tris, split, none, found, workers):
    """One hemisphere's (voxels, roi values, cortex values); marks its vertices with a
    column in the chunk in ``found``."""
    orientation = mesh_orientation(wv, pv, tris) if len(tris) else 1.0
    owner, voxel, volume = _pairs(wv, pv, tris, split, chunk, orientation, workers)
    found[owner] = True
    if len(owner) == 0:
        return np.empty(0, np.int64), np.zeros((len(table.names), 0)), np.zeros(0)
    voxels, column = compact_indices(voxel, chunk.size)
    m = len(voxels)
    total = np.bincount(column, weights=volume, minlength=m).astype(float)
    inside = np.clip(total, 0.0, 1.0)
    outside = none[owner] > 0  # columns of vertices in no ROI: the Cortex row
    cortex = np.bincount(column[outside], weights=volume[outside], minlength=m).astype(float)
    mine = ~outside  # only the ROIs' columns enter the (roi × voxel) product
    weights = sp.csr_array(
        (volume[mine], (owner[mine], column[mine])), shape=(surfaces.n_vertices, m)
    )
    values = np.asarray((table.members.astype(float) @ weights).todense())
    over = total > 1  # folded meshes: scale the voxel's columns down to fill it once
    if over.any():
        values[:, over] /= total[over]
        cortex[over] /= total[over]
    np.clip(values, 0.0, inside, out=values)
    np.clip(cortex, 0.0, inside, out=cortex)
    keep = inside > 0
    return voxels[keep], values[:, keep], cortex[keep]


def ribbon_sampler(
    surfaces: Surfaces, table: RoiTable, chunk: Chunk, prepared: Any = None, workers: int = 1
) -> SamplerResult:
    """Exact ribbon fractions per ROI for one chunk (see the module docstring)."""
    tris = surfaces.triangles
    split = split_triangles(table, tris)
    none = (np.diff(table.by_vertex.indptr) == 0).astype(float)  # vertices in no ROI
    left_tri = tris[:, 0] < surfaces.n_lh
    wv = to_voxels(chunk.coord, surfaces.white)
    pv = to_voxels(chunk.coord, surfaces.pial)
    found = np.zeros(surfaces.n_vertices, dtype=bool)
    parts = [
        _hemisphere(surfaces, table, chunk, wv, pv, tris[side], split[side], none, found, workers)
        for side in (left_tri, ~left_tri)
    ]
    voxels = np.concatenate([p[0] for p in parts])
    values = np.concatenate([p[1] for p in parts], axis=1)
    cortex = np.concatenate([p[2] for p in parts])
    left = np.repeat([True, False], [len(parts[0][0]), len(parts[1][0])])
    return SamplerResult(voxels, values, np.flatnonzero(found), cortex, left=left)


def _sample(surfaces, table, chunk, prepared, workers) -> SamplerResult:
    return ribbon_sampler(surfaces, table, chunk, prepared, workers)


RIBBON = Sampler(name="ribbon", sample=_sample, fractional=True, cortex=True, needs_tree=False)
"""The ``ribbon`` sampler: exact partial-volume fractions of the ROIs' ribbon columns."""
