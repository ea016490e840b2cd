"""The local executor: the whole grid as one chunk, computed now with numpy and threads.

The drop-in :func:`roixr.get_roi_masks` wants plain arrays at once, so it runs the same
chunk routine as the dask graph (:func:`roixr.sampling.engine.sample_chunk`) on a single
chunk covering the grid, with every core: the sampler's preparation over vertex ranges in
threads, k-d tree queries with ``workers=-1``. The result stays column-compressed: only the
voxels that may be nonzero, never a dense ``(roi, hemisphere, x, y, z)`` block. No dask,
no xarray.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from roixr.io.transforms import Transform
from roixr.sampling.chunk import Chunk
from roixr.sampling.engine import sample_chunk
from roixr.sampling.geometry import Surfaces
from roixr.sampling.options import found_share
from roixr.sampling.parallel import vertex_parts
from roixr.sampling.plan import Plan
from roixr.sampling.protocol import Sampler

__all__ = ["GridColumns", "prepare", "run"]


@dataclass(frozen=True)
class GridColumns:
    """A plan's result over the whole grid, column-compressed.

    Attributes
    ----------
    voxels : ndarray
        ``(m,)`` flat indices (C order over ``(x, y, z)``) of the listed voxels.
    values : ndarray
        ``(n_rows, m)`` bool, or float64 fractions, in the plan's ``rows`` order.
    left : ndarray
        ``(m,)`` bool: the voxel is in the left hemisphere.
    shape : tuple of int
        The grid's ``(x, y, z)`` shape.
    found : ndarray
        ``(n_rows,)`` pycortex's measure (:func:`roixr.sampling.options.found_share`), for
        the drop-in's warnings.
    """

    voxels: np.ndarray
    values: np.ndarray
    left: np.ndarray
    shape: tuple[int, int, int]
    found: np.ndarray

    def flat_index(self, layout: str = "xyz") -> np.ndarray:
        """The listed voxels' flat indices in a C-ordered ``(x, y, z)`` or ``(z, y, x)`` volume."""
        if layout == "xyz":
            return self.voxels
        i, j, k = np.unravel_index(self.voxels, self.shape)
        return np.ravel_multi_index((k, j, i), self.shape[::-1])


def prepare(sampler: Sampler, surfaces: Surfaces, transform: Transform) -> Any:
    """The work that needs only the surfaces and the grid, with every core: the k-d tree,
    and the sampler's preparation over vertex ranges in threads (as one share).

    It may run in a thread while the ROIs are read (the drop-in does so).
    """
    if sampler.needs_tree:
        surfaces.tree  # noqa: B018  (built now; the plan's surfaces share it)
    prep, share = sampler.prepare, sampler.share
    if prep is None or share is None:
        return None
    shape, coord = transform.shape, np.asarray(transform.coord, dtype=float)
    bounds = tuple(np.array([0, n]) for n in shape)
    parts = vertex_parts(surfaces.n_vertices)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        done = list(pool.map(lambda p: prep(surfaces, coord, shape, bounds, p), parts))
    return share(done, 0)


_UNSET: Any = object()


def run(plan: Plan, prepared: Any = _UNSET) -> GridColumns:
    """Run the plan over the whole grid as one chunk.

    Parameters
    ----------
    plan : Plan
    prepared : optional
        What :func:`prepare` returned for the plan's sampler, surfaces and transform; it is
        computed here when not given.
    """
    if prepared is _UNSET:
        prepared = prepare(plan.sampler, plan.surfaces, plan.transform)
    chunk = Chunk.whole(plan.coord, plan.shape)
    cols = sample_chunk(
        plan.surfaces, plan.table, plan.sampler, plan.options, chunk, prepared, workers=-1
    )
    found = found_share(plan.table, [cols.found])
    if plan.options.cortex:  # 'Cortex' has no vertices of its own
        found = np.append(found, np.nan)
    return GridColumns(cols.voxels, cols.values, cols.left, plan.shape, found)
