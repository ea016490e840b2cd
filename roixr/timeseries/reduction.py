"""Chunk kernels of ROI time series: plain numpy and scipy, no dask, no xarray.

:class:`Float32Proxy` reads one chunk of a NIfTI file; :func:`grid_shift` compares grids.

The masks (or an index volume) become one :class:`Weights` object: the voxels that are in
some ROI (flat indices) and a sparse ``(roi·hemisphere × voxel)`` weight matrix. Each time
chunk of the bold series is then reduced by :func:`roi_block`: gather the selected voxels
volume by volume (a ``(time, voxel)`` array), and, for each requested statistic:

- ``mean`` / ``sum``: one sparse matrix product, ``W @ X`` (and ``W @ finite`` for the
  denominators when the chunk has NaN);
- ``variance`` / ``standard_deviation``: the same for the means, then a second product over
  the squared deviations of each (voxel, ROI) pair, so the variance is computed in two
  passes, not as ``E[v²] − E[v]²``;
- ``minimum`` / ``maximum``: ``fmin`` / ``fmax`` ``reduceat`` over the matrix's rows;
- ``count``: the indicator matrix times the finite mask;
- ``median``: a gather per ROI row, ``nanmedian`` for binary masks and a weighted median
  for fractions.

Several statistics share the gather and the means. Sums are accumulated in float64.

The chunk-sized temporaries (the gathered values in float32 and float64, the NaN mask) are
written into buffers each thread keeps (:func:`workspace`) rather than allocated per chunk:
where glibc returns every freed large block to the system (``MALLOC_TRIM_THRESHOLD_``, as a
``dask.distributed`` worker sets it), a fresh block is faulted in page by page each time.
"""

from __future__ import annotations

import threading
import warnings
from dataclasses import dataclass
from itertools import product
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from roixr.errors import FormError, GridMismatchError

__all__ = [
    "STATS",
    "Float32Proxy",
    "Weights",
    "assemble",
    "block_entries",
    "gather",
    "grid_shift",
    "index_entries",
    "roi_block",
    "roi_chunk",
    "weighted_median",
    "workspace",
]

Stat = Literal[
    "mean",
    "median",
    "sum",
    "minimum",
    "maximum",
    "variance",
    "standard_deviation",
    "count",
    "min",
    "max",
    "var",
    "std",
]
#: Accepted names → canonical (nilearn's ``NiftiLabelsMasker`` strategies, and short names).
STATS: dict[str, str] = {
    "mean": "mean",
    "median": "median",
    "sum": "sum",
    "minimum": "minimum",
    "maximum": "maximum",
    "variance": "variance",
    "standard_deviation": "standard_deviation",
    "count": "count",
    "min": "minimum",
    "max": "maximum",
    "var": "variance",
    "std": "standard_deviation",
}

Entries = tuple[np.ndarray, np.ndarray, np.ndarray]  # flat voxel index, row, weight


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
    flat : ndarray
        Flat indices (Fortran order: ``x + nx * (y + ny * z)``) of the selected voxels,
        increasing, so a gather from a chunk read off disk walks each volume forwards.
    matrix : scipy.sparse.csr_matrix
        ``(n_out, n_sel)`` float64 weights; row ``n_hemi * roi + hemisphere``.
    n_roi : int
        Number of ROIs.
    n_hemi : int
        2 (left and right rows) or 1 (both hemispheres in one row).
    binary : bool
        Every weight is 1 (bool masks).
    """

    flat: np.ndarray
    matrix: sp.csr_matrix
    n_roi: int
    n_hemi: int
    binary: bool

    @property
    def n_out(self) -> int:
        return self.n_hemi * self.n_roi

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


def block_entries(block: np.ndarray, offset: tuple[int, ...], shape: tuple[int, ...]) -> Entries:
    """Nonzero entries of one ``(roi, hemisphere, x, y, z)`` masks chunk at ``offset`` (its
    first index along each of the five dims) of masks whose grid is ``shape``.

    Returns the voxels' flat indices in the grid (Fortran order), the output row
    ``2 * roi + hemisphere`` and the weight. Fractions ≤ 0 or NaN are not in the ROI.
    """
    block = np.ascontiguousarray(block)
    keep = block if block.dtype == bool else block > 0
    at = np.flatnonzero(keep)
    w = np.ones(at.size) if block.dtype == bool else block.ravel()[at].astype(np.float64)
    roi, hemi, i, j, k = np.unravel_index(at, block.shape)
    row = 2 * (roi + offset[0]) + hemi + offset[1]
    return _flat(i, j, k, offset[2:], shape), row, w


def _flat(i, j, k, offset: tuple[int, ...], shape: tuple[int, ...]) -> np.ndarray:
    """Flat Fortran-order indices of voxels ``(i, j, k)`` of a block at ``offset``."""
    nx, ny = int(shape[0]), int(shape[1])
    ox, oy, oz = offset
    return (i + ox).astype(np.int64) + nx * ((j + oy).astype(np.int64) + ny * (k + oz))


def index_entries(
    block: np.ndarray,
    offset: tuple[int, int, int],
    shape: tuple[int, ...],
    indices: np.ndarray,
) -> Entries:
    """Entries of one ``(x, y, z)`` chunk of a signed index volume: ``±indices[r]`` is ROI
    ``r`` (negative left, positive right), so the row is ``2 * r + (value > 0)``."""
    block = np.asarray(block)
    i, j, k = np.nonzero(block)
    v = block[i, j, k].astype(np.int64)
    pos = np.searchsorted(indices, np.abs(v))
    known = pos < indices.size
    known[known] = indices[pos[known]] == np.abs(v[known])
    if not known.all():
        bad = np.unique(v[~known])[:10].tolist()
        raise FormError(
            f"the index volume holds values {bad} that no label names (indices "
            f"±{indices.tolist()[:20]}). Pass labels={{name: index}} covering every index."
        )
    return _flat(i, j, k, offset, shape), 2 * pos + (v > 0), np.ones(v.size)


def assemble(parts: list[Entries], n_roi: int, n_hemi: int = 2) -> Weights:
    """Combine the entries of every masks chunk into :class:`Weights`; with ``n_hemi=1``
    each ROI's left and right rows become one (bool masks: their union)."""
    flat, row, w = (np.concatenate(col) for col in zip(*parts, strict=True))
    sel, col = np.unique(flat, return_inverse=True)
    binary = bool(np.all(w == 1))
    if n_hemi == 1:
        row = row // 2
    matrix = sp.csr_matrix((w, (row, col.ravel())), shape=(n_hemi * n_roi, sel.size))
    matrix.sum_duplicates()
    matrix.sort_indices()
    if binary:
        matrix.data[:] = 1.0
    return Weights(sel, matrix, n_roi, n_hemi, binary)


def _divide(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


@dataclass
class _Chunk:
    """One time chunk gathered at the selected voxels, and what several stats share."""

    weights: Weights
    xt: np.ndarray  # (time, voxel) float32, NaN kept
    x: np.ndarray  # (voxel, time) float64, NaN set to 0
    finite: np.ndarray | None  # (voxel, time) 1.0 where finite, None if all are
    _mean: tuple[np.ndarray, np.ndarray] | None = None
    _var: np.ndarray | None = None

    def mean(self) -> tuple[np.ndarray, np.ndarray]:
        """Σ w·v / Σ w and Σ w, per row and time."""
        if self._mean is None:
            w = self.weights
            num = w.matrix @ self.x
            if self.finite is None:
                den = np.broadcast_to(w.total[:, None], num.shape)
            else:
                den = w.matrix @ self.finite
            self._mean = (_divide(num, den), den)
        return self._mean

    def variance(self) -> np.ndarray:
        """Weighted population variance, in two passes (deviations from the mean)."""
        if self._var is None:
            mean, den = self.mean()
            coo = self.weights.matrix.tocoo()
            dev = self.x[coo.col] - np.nan_to_num(mean)[coo.row]  # (pair, time)
            if self.finite is not None:
                dev *= self.finite[coo.col]
            pairs = sp.csr_matrix(
                (coo.data, (coo.row, np.arange(coo.nnz))), shape=(self.weights.n_out, coo.nnz)
            )  # sums each (voxel, row) pair into its row, weighted
            self._var = _divide(pairs @ (dev * dev), den)
        return self._var

    def extreme(self, ufunc: np.ufunc) -> np.ndarray:
        """``np.fmin`` / ``np.fmax`` over each row's voxels (weights ignored, NaN left out)."""
        m = self.weights.matrix
        out = np.full((m.shape[0], self.xt.shape[0]), np.nan)
        rows = np.flatnonzero(np.diff(m.indptr))
        if rows.size:
            values = self.xt[:, m.indices]  # (time, pair), grouped by row
            out[rows] = ufunc.reduceat(values, m.indptr[rows], axis=1).T
        return out

    def median(self) -> np.ndarray:
        w = self.weights
        xt = self.xt
        out = np.full((w.n_out, xt.shape[0]), np.nan)
        for k in range(w.n_out):
            rows, weights = w.rows(k)
            if not rows.size:
                continue
            if w.binary:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN time points
                    out[k] = np.nanmedian(xt[:, rows], axis=1)
            else:
                out[k] = weighted_median(xt[:, rows].T.astype(np.float64), weights)
        return out

    def count(self) -> np.ndarray:
        w = self.weights
        if self.finite is None:
            n = np.diff(w.matrix.indptr).astype(np.float64)
            return np.repeat(n[:, None], self.x.shape[1], axis=1)
        return np.rint(w.indicator @ self.finite)

    def stat(self, name: str) -> np.ndarray:
        if name == "mean":
            return self.mean()[0]
        if name == "sum":
            return self.weights.matrix @ self.x
        if name == "variance":
            return self.variance()
        if name == "standard_deviation":
            return np.sqrt(self.variance())
        if name == "minimum":
            return self.extreme(np.fmin)
        if name == "maximum":
            return self.extreme(np.fmax)
        if name == "median":
            return self.median()
        if name == "count":
            return self.count()
        raise ValueError(f"unknown stat {name!r}")  # checked by the caller


_WORKSPACE = threading.local()
_WORKSPACE_MAX = 16 << 20  # bytes of temporaries a thread keeps between chunks (and calls)


def workspace(name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """A C-ordered scratch array of this thread, reused from chunk to chunk.

    One buffer per ``name`` and thread, grown when a chunk needs more; its contents are
    whatever the last use left. Arrays beyond :data:`_WORKSPACE_MAX` bytes are allocated
    afresh each time (not kept). Never return it, or a view of it, from a kernel.
    """
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if nbytes > _WORKSPACE_MAX:
        return np.empty(shape, dtype)
    buffers: dict[str, np.ndarray] = _WORKSPACE.__dict__.setdefault("buffers", {})
    buffer = buffers.get(name)
    if buffer is None or buffer.size < nbytes:
        buffer = buffers[name] = np.empty(max(nbytes, 1), np.uint8)
    return buffer[:nbytes].view(dtype).reshape(shape)


def gather(block: np.ndarray, weights: Weights, out: np.ndarray | None = None) -> np.ndarray:
    """The selected voxels of a ``(x, y, z, time)`` chunk as a ``(time, voxel)`` array
    (written into ``out``, of the chunk's dtype, when given).

    A chunk read off disk is Fortran-ordered: each volume is contiguous, so the gather
    runs volume by volume through memory that stays in cache.
    """
    n_time = block.shape[-1]
    if block.flags.f_contiguous:
        volumes = block.reshape(-1, n_time, order="F").T  # (time, voxel), C-contiguous
    else:
        volumes = np.moveaxis(block, -1, 0).reshape(n_time, -1, order="F")
    if out is None:
        return np.take(volumes, weights.flat, axis=1)
    if weights.flat.size and not 0 <= weights.flat[0] <= weights.flat[-1] < volumes.shape[1]:
        raise GridMismatchError(  # flat is increasing; roi_timeseries checks the grid first
            f"the masks select voxels up to flat index {int(weights.flat[-1])} but the "
            f"chunk's volumes have {volumes.shape[1]} voxels: the series is not on the "
            "masks' grid. Use the masks of the series' grid."
        )
    # mode="clip" (indices checked above): "raise" would buffer the whole output again
    return np.take(volumes, weights.flat, axis=1, out=out, mode="clip")


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


def roi_block(block: np.ndarray, weights: Weights, *, stats: tuple[str, ...]) -> np.ndarray:
    """One time chunk ``(x, y, z, time)`` → ``(stat, roi, hemisphere, time)``, every stat
    from one gather of the chunk (``stats`` are canonical names, see :data:`STATS`).

    NaN voxels are left out of every statistic: the weights of the others are renormalised
    (``mean``, ``variance``, ...), ``sum`` adds the others, ``count`` counts the others.
    An ROI with no (finite) voxel gives NaN, except ``sum`` (0) and ``count`` (0).
    The result is float32, or int32 when ``stats`` is ``("count",)``.
    """
    n_time, n_sel = block.shape[-1], weights.flat.size
    if block.dtype == np.float32:
        xt = gather(block, weights, out=workspace("xt", (n_time, n_sel), np.float32))
    else:
        xt = gather(block, weights).astype(np.float32)
    x = workspace("x", (n_sel, n_time), np.float64)  # (voxel, time): what sparse
    np.copyto(x, xt.T)  # products take; exact, as xt.T.astype(np.float64) would be
    nan = np.isnan(x, out=workspace("nan", x.shape, bool))
    finite = None
    if nan.any():
        finite = np.logical_not(nan, out=workspace("finite", x.shape, np.float64))
        x[nan] = 0.0
    chunk = _Chunk(weights, xt, x, finite)
    dtype = np.int32 if stats == ("count",) else np.float32
    out = np.stack([chunk.stat(name) for name in stats]).astype(dtype)
    return out.reshape(len(stats), weights.n_roi, weights.n_hemi, -1)


def roi_chunk(blocks: Any, weights: Weights, *, stats: tuple[str, ...]) -> np.ndarray:
    """:func:`roi_block` as ``dask.array.blockwise(..., concatenate=False)`` calls it.

    The chunk comes inside nested lists, one per contracted dim (x, y and z, each a single
    chunk). ``concatenate=True`` would instead copy it into C order: a transposing copy of
    the whole chunk that costs more than the reduction.
    """
    while isinstance(blocks, list):
        (blocks,) = blocks
    return roi_block(blocks, weights, stats=stats)
