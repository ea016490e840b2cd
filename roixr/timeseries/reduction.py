"""Chunk kernels of ROI time series: plain numpy and scipy, no dask, no xarray.

:class:`Float32Proxy` reads one chunk of a NIfTI file; :func:`grid_shift` compares grids.

The masks become one :class:`Weights` object: the voxels that are in some ROI (``xi``,
``yi``, ``zi``) and a sparse ``(roi·hemisphere × voxel)`` weight matrix. Each time chunk of
the bold series is then reduced by :func:`roi_block`: gather the selected voxels (a
``(voxel, time)`` array), and

- ``mean`` / ``sum``: one sparse matrix product, ``W @ X`` (and ``W @ finite`` for the
  denominators when the chunk has NaN);
- ``std``: the same for the means, then a second product over the squared deviations of
  each (voxel, ROI) pair, so the variance is computed in two passes, not as
  ``E[v²] − E[v]²``;
- ``count``: the indicator matrix times the finite mask;
- ``median``: a gather per ROI column, ``nanmedian`` for binary masks and a weighted median
  for fractions.

Sums are accumulated in float64.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from itertools import product
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

__all__ = [
    "STATS",
    "Float32Proxy",
    "Weights",
    "assemble",
    "block_entries",
    "grid_shift",
    "roi_block",
    "roi_chunk",
    "weighted_median",
]

Stat = Literal["mean", "median", "sum", "std", "count"]
STATS: tuple[str, ...] = ("mean", "median", "sum", "std", "count")

Entries = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


class Float32Proxy:
    """nibabel's array proxy, read as float32: what ``dask.array.from_array`` slices.

    It pickles small (the proxy holds the file name, not the data) and nibabel opens the
    file per read, so it is safe across threads and processes. nibabel applies the
    header's scaling.
    """

    def __init__(self, proxy: Any) -> None:
        self.proxy = proxy
        self.shape = tuple(proxy.shape)
        self.ndim = len(self.shape)
        self.dtype = np.dtype(np.float32)

    def __getitem__(self, key: Any) -> np.ndarray:
        return np.asarray(self.proxy[key], dtype=np.float32)


def grid_shift(a: np.ndarray, b: np.ndarray, shape: tuple[int, ...]) -> float:
    """Largest distance (mm) between a voxel centre of the grid ``shape`` placed by the
    4×4 affine ``a`` and the same voxel placed by ``b`` (it is reached at a corner)."""
    corners = np.array([[*c, 1.0] for c in product(*[(0, n - 1) for n in shape])]).T
    return float(np.linalg.norm(((a - b) @ corners)[:3], axis=0).max())


@dataclass(frozen=True)
class Weights:
    """The masks as a sparse weight matrix over the voxels that are in some ROI.

    Attributes
    ----------
    xi, yi, zi : ndarray
        Voxel indices of the selected voxels, in NIfTI (Fortran) order, so a gather from a
        chunk read off disk walks memory forwards.
    matrix : scipy.sparse.csr_matrix
        ``(n_out, n_sel)`` float64 weights; row ``2 * roi + hemisphere``.
    n_roi : int
        Number of ROIs (``n_out = 2 * n_roi``).
    binary : bool
        Every weight is 1 (bool masks).
    """

    xi: np.ndarray
    yi: np.ndarray
    zi: np.ndarray
    matrix: sp.csr_matrix
    n_roi: int
    binary: bool

    @property
    def n_out(self) -> int:
        return 2 * self.n_roi

    @property
    def total(self) -> np.ndarray:
        """Σ w per output row, float64 ``(n_out,)``."""
        return np.asarray(self.matrix.sum(axis=1)).ravel()

    @property
    def indicator(self) -> sp.csr_matrix:
        """The matrix's pattern (1 where the weight is nonzero)."""
        out = self.matrix.copy()
        out.data = np.ones_like(out.data)
        return out

    def rows(self, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Selected-voxel positions and weights of output row ``k``."""
        start, stop = self.matrix.indptr[k], self.matrix.indptr[k + 1]
        return self.matrix.indices[start:stop], self.matrix.data[start:stop]


def block_entries(block: np.ndarray, offset: tuple[int, int, int]) -> Entries:
    """Nonzero entries of one ``(roi, hemisphere, x, y, z)`` masks chunk.

    Returns global voxel indices ``(x, y, z)``, the output row ``2 * roi + hemisphere`` and
    the weight. Fractions ≤ 0 or NaN are not in the ROI.
    """
    block = np.asarray(block)
    keep = block if block.dtype == bool else block > 0
    r, h, i, j, k = np.nonzero(keep)
    w = np.ones(r.size) if block.dtype == bool else block[r, h, i, j, k].astype(np.float64)
    ox, oy, oz = offset
    return i + ox, j + oy, k + oz, 2 * r + h, w


def assemble(parts: list[Entries], shape: tuple[int, int, int], n_roi: int) -> Weights:
    """Combine the entries of every masks chunk into :class:`Weights`."""
    i, j, k, row, w = (np.concatenate(col) for col in zip(*parts, strict=True))
    nx, ny, _ = shape
    flat = i.astype(np.int64) + nx * (j.astype(np.int64) + ny * k.astype(np.int64))
    sel, col = np.unique(flat, return_inverse=True)
    xi, yi, zi = np.unravel_index(sel, shape, order="F")
    matrix = sp.csr_matrix((w, (row, col.ravel())), shape=(2 * n_roi, sel.size))
    matrix.sum_duplicates()
    matrix.sort_indices()
    return Weights(xi, yi, zi, matrix, n_roi, bool(np.all(w == 1)))


def _divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def _mean(w: Weights, x: np.ndarray, finite: np.ndarray | None):
    num = w.matrix @ x
    den = np.broadcast_to(w.total[:, None], num.shape) if finite is None else w.matrix @ finite
    return _divide(num, den), den


def _std(w: Weights, x: np.ndarray, finite: np.ndarray | None) -> np.ndarray:
    mean, den = _mean(w, x, finite)
    coo = w.matrix.tocoo()
    dev = x[coo.col] - np.nan_to_num(mean)[coo.row]  # (pair, time)
    if finite is not None:
        dev *= finite[coo.col]
    pairs = sp.csr_matrix(
        (coo.data, (coo.row, np.arange(coo.nnz))), shape=(w.n_out, coo.nnz)
    )  # sums each (voxel, row) pair into its row, weighted
    return np.sqrt(_divide(pairs @ (dev * dev), den))


def weighted_median(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted median over axis 0, NaN ignored; NaN where no finite value remains.

    The smallest value at which the cumulative weight reaches half the total; where it
    reaches exactly half, the mean of that value and the next (so equal weights give
    :func:`numpy.median`). It minimises ``Σ w |v - m|``.
    """
    if values.shape[0] == 0:
        return np.full(values.shape[1:], np.nan)
    order = np.argsort(values, axis=0)  # NaN sorts last
    v = np.take_along_axis(values, order, axis=0)
    ws = np.where(np.isnan(v), 0.0, weights[order])
    cum = np.cumsum(ws, axis=0)
    total = cum[-1]
    half = total / 2
    k = np.argmax(cum >= half * (1 - 1e-12), axis=0)
    cols = np.arange(v.shape[1])
    low = v[k, cols]
    tie = np.isclose(cum[k, cols], half, rtol=1e-12, atol=0) & (k + 1 < v.shape[0])
    high = v[np.minimum(k + 1, v.shape[0] - 1), cols]
    out = np.where(tie & ~np.isnan(high), (low + high) / 2, low)
    return np.where(total > 0, out, np.nan)


def _median(w: Weights, x: np.ndarray, finite: np.ndarray | None) -> np.ndarray:
    if finite is not None:
        x = np.where(finite > 0, x, np.nan)
    out = np.full((w.n_out, x.shape[1]), np.nan)
    for k in range(w.n_out):
        rows, weights = w.rows(k)
        if not rows.size:
            continue
        if w.binary:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN time points
                out[k] = np.nanmedian(x[rows], axis=0)
        else:
            out[k] = weighted_median(x[rows], weights)
    return out


def roi_block(block: np.ndarray, weights: Weights, *, stat: Stat) -> np.ndarray:
    """One time chunk ``(x, y, z, time)`` → ``(roi, hemisphere, time)``.

    NaN voxels are left out of every statistic: the weights of the others are renormalised
    (``mean``, ``std``, ``median``), ``sum`` adds the others, ``count`` counts the others.
    An ROI with no (finite) voxel gives NaN, except ``sum`` (0) and ``count`` (0).
    """
    x = np.asarray(block[weights.xi, weights.yi, weights.zi], dtype=np.float64)  # (vox, t)
    nan = np.isnan(x)
    finite = None
    if nan.any():
        finite = (~nan).astype(np.float64)
        x[nan] = 0.0
    if stat == "count":
        if finite is None:
            n = np.diff(weights.matrix.indptr).astype(np.int32)
            out = np.repeat(n[:, None], x.shape[1], axis=1)
        else:
            out = np.rint(weights.indicator @ finite).astype(np.int32)
    elif stat == "sum":
        out = (weights.matrix @ x).astype(np.float32)
    elif stat == "mean":
        out = _mean(weights, x, finite)[0].astype(np.float32)
    elif stat == "std":
        out = _std(weights, x, finite).astype(np.float32)
    elif stat == "median":
        out = _median(weights, x, finite).astype(np.float32)
    else:  # checked by the caller
        raise ValueError(f"unknown stat {stat!r}")
    return out.reshape(weights.n_roi, 2, -1)


def roi_chunk(blocks: Any, weights: Weights, *, stat: Stat) -> np.ndarray:
    """:func:`roi_block` as ``dask.array.blockwise(..., concatenate=False)`` calls it.

    The chunk comes inside nested lists, one per contracted dim (x, y and z, each a single
    chunk). ``concatenate=True`` would instead copy it into C order: a transposing copy of
    the whole chunk that costs more than the reduction.
    """
    while isinstance(blocks, list):
        (blocks,) = blocks
    return roi_block(blocks, weights, stat=stat)
