"""The whole grid as one chunk, computed now with numpy: the eager counterpart of the assembly.

:mod:`roixr.assembly` builds a lazy dask graph of chunk kernels; pycortex's drop-in
(:mod:`roixr.compat`) wants plain arrays at once, so it runs the same kernels here on a single
chunk covering the grid, in threads (the sampler's preparation over vertex ranges, k-d tree
queries on every core), and keeps the result column-compressed: only the voxels that may be
nonzero, never a dense ``(roi, hemisphere, x, y, z)`` block.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from roixr.kernels import Chunk, apply_options, coverage
from roixr.request import Request
from roixr.samplers import vertex_parts

__all__ = ["GridColumns", "sample_grid"]


@dataclass(frozen=True)
class GridColumns:
    """A request's result over the whole grid, column-compressed.

    Attributes
    ----------
    voxels : ndarray
        ``(m,)`` flat indices (C order over ``(x, y, z)``) of the listed voxels.
    values : ndarray
        ``(n_out, m)`` bool, or float64 fractions, in the request's ``out_names`` order.
    left : ndarray
        ``(m,)`` bool: the voxel is in the left hemisphere.
    coverage : ndarray
        ``(n_out,)`` percent of each ROI's vertices found in the volume (NaN for 'Cortex'
        and ROIs without vertices).
    shape : tuple of int
        The grid's ``(x, y, z)`` shape.
    """

    voxels: np.ndarray
    values: np.ndarray
    left: np.ndarray
    coverage: np.ndarray
    shape: tuple[int, int, int]

    def flat_index(self, layout: str = "xyz") -> np.ndarray:
        """The listed voxels' flat indices in a C-ordered ``(x, y, z)`` or ``(z, y, x)`` volume."""
        if layout == "xyz":
            return self.voxels
        i, j, k = np.unravel_index(self.voxels, self.shape)
        return np.ravel_multi_index((k, j, i), self.shape[::-1])


def sample_grid(request: Request) -> GridColumns:
    """Run the request's sampler and options over the whole grid as one chunk.

    Parameters
    ----------
    request : Request
        From :func:`roixr.request.make_request`.

    Returns
    -------
    GridColumns
    """
    surfaces, sampler, options = request.surfaces, request.sampler, request.options
    shape, coord = request.transform.shape, request.coord
    chunk = Chunk((0, 0, 0), tuple(shape), coord, tuple(shape))
    prepared = None
    if sampler.prepare is not None and sampler.surfaces_only:  # while ROIs are labelled
        prepared = _prepare(sampler, surfaces, coord, shape)
    surfaces.tree  # noqa: B018  (built now, also while ROIs are labelled; shared below)
    geometry = request.geometry
    if sampler.prepare is not None and not sampler.surfaces_only:
        prepared = _prepare(sampler, geometry, coord, shape)
    result = sampler.sample(geometry, chunk, prepared)
    voxels, values, left = apply_options(result, geometry, chunk, options)
    cov = coverage(geometry, [result.found])
    if options.cortex_at is not None:  # 'Cortex' has no vertices of its own
        cov = np.insert(cov, options.cortex_at, np.nan)
    return GridColumns(voxels, values, left, cov, tuple(shape))


def _prepare(sampler, geometry, coord, shape):
    """The sampler's one-off preparation, over vertex ranges in threads, as one share."""
    bounds = tuple(np.array([0, n]) for n in shape)
    parts = vertex_parts(geometry.n_vertices)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        done = list(pool.map(lambda p: sampler.prepare(geometry, coord, shape, bounds, p), parts))
    return sampler.share(done, 0)
