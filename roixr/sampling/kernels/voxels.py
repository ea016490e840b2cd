"""Voxel helpers shared by the chunk kernels: surface points to voxel coordinates, and the
compression of a chunk's voxel indices to the few that are hit."""

from __future__ import annotations

import numpy as np

__all__ = ["compact_indices", "to_voxels"]


def to_voxels(coord: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Surface mm → voxel coordinates, as pycortex's ``Transform.__call__``.

    Parameters
    ----------
    coord : ndarray
        4×4 surface mm → voxel matrix.
    points : ndarray
        ``(n, 3)`` points in surface mm.

    Returns
    -------
    ndarray
        ``(n, 3)`` voxel coordinates (voxel ``(i, j, k)`` is centred on the integers).
    """
    return np.dot(coord, np.hstack([points, np.ones((len(points), 1))]).T)[:3].T


def compact_indices(index: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(index, return_inverse=True)`` for indices in ``[0, size)``.

    By marking when ``size`` is small next to the number of indices (no sort), else by
    sorting.

    Parameters
    ----------
    index : ndarray
        int flat voxel indices in ``[0, size)``, with repeats.
    size : int
        Number of voxels (the chunk's size).

    Returns
    -------
    unique : ndarray
        The sorted distinct indices.
    inverse : ndarray
        int64 position in ``unique`` of each entry of ``index``.
    """
    if size > 8 * len(index):
        return np.unique(index, return_inverse=True)
    mark = np.zeros(size, dtype=bool)
    mark[index] = True
    unique = np.flatnonzero(mark)
    rank = np.zeros(size, dtype=np.int32 if len(unique) < 2**31 else np.int64)
    rank[unique] = np.arange(len(unique), dtype=rank.dtype)
    return unique, rank[index].astype(np.int64)
