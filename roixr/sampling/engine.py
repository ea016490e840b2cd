"""The one chunk routine: sample one voxel chunk and apply the options.

Both executors run it: the dask graph (:mod:`roixr.sampling.graph`, one task per chunk)
for the lazy :func:`roixr.roi_masks`, and the local executor (:mod:`roixr.sampling.local`,
the whole grid as one chunk) for the drop-in :func:`roixr.get_roi_masks`. Pure numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from roixr.rois.table import RoiTable
from roixr.sampling.chunk import Chunk
from roixr.sampling.geometry import Surfaces
from roixr.sampling.options import Options, apply_options
from roixr.sampling.protocol import Sampler

__all__ = ["ChunkColumns", "dense_block", "sample_chunk"]


@dataclass(frozen=True)
class ChunkColumns:
    """One chunk's result, column-compressed.

    Attributes
    ----------
    voxels : ndarray
        ``(m,)`` flat indices (C order over the chunk) of the listed voxels.
    values : ndarray
        ``(n_rows, m)`` bool, or float64 fractions: the ROIs, then 'Cortex' if asked.
    left : ndarray
        ``(m,)`` bool: the voxel is in the left hemisphere.
    found : ndarray
        Vertices the sampler found in the chunk.
    """

    voxels: np.ndarray
    values: np.ndarray
    left: np.ndarray
    found: np.ndarray


def sample_chunk(
    surfaces: Surfaces,
    table: RoiTable,
    sampler: Sampler,
    options: Options,
    chunk: Chunk,
    prepared: Any = None,
    workers: int = 1,
) -> ChunkColumns:
    """Sample one chunk and apply the options.

    Parameters
    ----------
    surfaces : Surfaces
    table : RoiTable
    sampler : Sampler
    options : Options
    chunk : Chunk
    prepared : optional
        This chunk's share of the sampler's preparation.
    workers : int
        Threads the kernels may use (-1: all cores); 1 when chunks run in parallel.
    """
    result = sampler.sample(surfaces, table, chunk, prepared, workers)
    voxels, values, left = apply_options(result, surfaces, chunk, options, workers)
    return ChunkColumns(voxels, values, left, result.found)


def dense_block(columns: ChunkColumns, chunk: Chunk, dtype: np.dtype) -> np.ndarray:
    """The chunk's dense ``(n_rows, 2, cx, cy, cz)`` block."""
    voxels, values, left = columns.voxels, columns.values, columns.left
    block = np.zeros((len(values), 2, chunk.size), dtype=dtype)
    block[:, 0, voxels[left]] = values[:, left]
    block[:, 1, voxels[~left]] = values[:, ~left]
    return block.reshape((len(values), 2, *chunk.chunk_shape))
