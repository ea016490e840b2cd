"""ROI time series from xarray fMRI data: ``roi_timeseries``.

``roi_timeseries`` reduces any ``(x, y, z, time)`` DataArray (in any dim
order) to ``(roi, hemisphere, time)`` with ROI masks: the masks become one sparse weight
matrix over the voxels that are in some ROI (a ``dask.delayed`` built from the masks'
chunks, so nothing is computed until asked), and one ``blockwise`` task per time chunk of
the bold series gathers those voxels and reduces them (see :mod:`roixr.timeseries.reduction`).
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import dask
import dask.array as da
import numpy as np
import xarray as xr
from dask.base import tokenize

import roixr.accessor  # noqa: F401  (registers the .roixr accessor)
from roixr.convert import INDEX_ATTRS, SPATIAL, check_index_volume, check_masks, from_index_volume
from roixr.errors import (
    BoldError,
    FormError,
    GridMismatchError,
    OptionError,
    UnverifiedGridWarning,
)
from roixr.timeseries.bold import open_nifti
from roixr.timeseries.reduction import (
    STATS,
    Stat,
    assemble,
    block_entries,
    grid_shift,
    roi_chunk,
)

__all__ = ["BoldLike", "MasksLike", "check_grid", "roi_timeseries"]

MasksLike = xr.DataArray | xr.Dataset | str | os.PathLike
BoldLike = xr.DataArray | str | os.PathLike


# --- reading -----------------------------------------------------------------------------


def _as_masks(masks: MasksLike) -> xr.DataArray:
    """Masks ``(roi, hemisphere, x, y, z)`` from masks, an index volume, or a zarr store."""
    if isinstance(masks, str | os.PathLike):
        from roixr.store import open_roi_masks  # zarr is imported only when used

        masks = open_roi_masks(masks)
    if isinstance(masks, xr.Dataset):
        names = [v for v in ("roi_masks", "roi_index") if v in masks.data_vars]
        if not names:
            raise FormError(
                "roi_timeseries: the Dataset holds no 'roi_masks' or 'roi_index' variable "
                f"(variables: {list(masks.data_vars)}); pass the masks DataArray."
            )
        masks = masks[names[0]]
    if isinstance(masks, xr.DataArray) and masks.dims == SPATIAL:
        check_index_volume(masks, func="roi_timeseries")
        return from_index_volume(masks)
    check_masks(masks, func="roi_timeseries")
    return masks


def _as_bold(bold: BoldLike, time_dim: str) -> xr.DataArray:
    """The bold series transposed to ``(x, y, z, time)`` (or ``(x, y, z)``)."""
    if isinstance(bold, str | os.PathLike):
        bold = open_nifti(bold)
    if not isinstance(bold, xr.DataArray):
        raise BoldError(
            f"roi_timeseries takes the bold series as an xarray DataArray with dims x, y, z "
            f"and {time_dim!r}, or a NIfTI path; got a {type(bold).__name__}. Wrap an array "
            f"with xr.DataArray(data, dims=('x', 'y', 'z', {time_dim!r})) or use open_nifti."
        )
    other = [d for d in bold.dims if d not in (*SPATIAL, time_dim)]
    missing = [d for d in SPATIAL if d not in bold.dims]
    if missing or other:
        raise BoldError(
            f"the bold series must have dims x, y, z and optionally {time_dim!r} (in any "
            f"order); got {bold.dims}. Rename dims (bold.rename(...)), pass time_dim=, or "
            "select/stack extra dims into time."
        )
    if not (np.issubdtype(bold.dtype, np.floating) or np.issubdtype(bold.dtype, np.integer)):
        raise BoldError(f"the bold series must hold numbers; got dtype {bold.dtype}.")
    return bold.transpose(*SPATIAL, *([time_dim] if time_dim in bold.dims else []))


def _affine(obj: xr.DataArray, what: str) -> np.ndarray | None:
    if obj.attrs.get("affine") is None:
        return None
    affine = np.asarray(obj.attrs["affine"], dtype=float)
    if affine.shape != (4, 4):
        raise BoldError(f"{what} attrs['affine'] must be 4×4; got shape {affine.shape}.")
    return affine


def check_grid(bold: xr.DataArray, masks: xr.DataArray, *, tol: float = 0.01) -> None:
    """Raise unless ``bold`` lies on the masks' voxel grid.

    The spatial shapes must be equal and, when both carry ``attrs["affine"]``, no voxel
    centre of the grid may move by more than ``tol`` mm between the two affines (so float
    noise passes, and any real rotation or shift fails). Without an affine on either side
    only the shape is checked, with an :class:`UnverifiedGridWarning`.

    Raises
    ------
    GridMismatchError
        If the shapes or the affines differ.
    """
    got = tuple(int(bold.sizes[d]) for d in SPATIAL)
    want = tuple(int(masks.sizes[d]) for d in SPATIAL)
    where = f"subject {masks.attrs.get('subject')!r}, transform {masks.attrs.get('xfm')!r}"
    if got != want:
        raise GridMismatchError(
            f"the bold series has the spatial shape {got} but the masks' grid ({where}) is "
            f"{want}. Use the masks of the transform whose reference image the bold series "
            "was acquired in, or resample the series to that image."
        )
    a, b = _affine(bold, "the bold series'"), _affine(masks, "the masks'")
    if a is None or b is None:
        warnings.warn(
            f"{'the bold series' if a is None else 'the masks'} carry no attrs['affine'], so "
            "only the grid's shape was checked, not its position. Set attrs['affine'] (e.g. "
            "open_nifti does) to have it checked.",
            UnverifiedGridWarning,
            stacklevel=3,
        )
        return
    shift = grid_shift(a, b, want)
    if not shift <= tol:
        raise GridMismatchError(
            f"the bold series is not on the masks' grid ({where}): voxel centres differ by "
            f"up to {shift:.3g} mm (tolerance {tol} mm).\nbold affine:\n{np.round(a, 4)}\n"
            f"masks' reference affine:\n{np.round(b, 4)}\nResample the series to the "
            "transform's reference image, or use the masks of its own transform."
        )


# --- ROI time series -------------------------------------------------------------------------


def _weights(masks: xr.DataArray) -> Any:
    """A ``dask.delayed`` of the masks' :class:`~roixr.timeseries.reduction.Weights`."""
    data = masks.data
    if not isinstance(data, da.Array):
        data = da.from_array(np.asarray(data), chunks=-1)
    data = data.rechunk({0: -1, 1: -1})
    starts = [tuple(s.start for s in sl[2:]) for sl in da.core.slices_from_chunks(data.chunks)]
    parts = [
        dask.delayed(block_entries, pure=True)(block, start)
        for block, start in zip(data.to_delayed().ravel(), starts, strict=True)
    ]
    shape = tuple(int(masks.sizes[d]) for d in SPATIAL)
    return dask.delayed(assemble, pure=True)(parts, shape, int(masks.sizes["roi"]))


def _bold_data(bold: xr.DataArray) -> da.Array:
    """Dask data ``(x, y, z, time)`` with x, y, z whole and time chunked."""
    data = bold.data
    if not isinstance(data, da.Array):  # a random name: hashing a whole series costs
        return da.from_array(np.asarray(data), chunks=(-1, -1, -1, "auto"), name=False)
    if any(len(c) > 1 for c in data.chunks[:3]):
        data = data.rechunk({0: -1, 1: -1, 2: -1, 3: "auto"})
    return data


def _attrs(masks: xr.DataArray, bold: xr.DataArray, stat: str) -> dict[str, Any]:
    attrs = {k: v for k, v in masks.attrs.items() if k not in INDEX_ATTRS}
    attrs.update(stat=stat, weighted=bool(masks.dtype != bool and stat != "count"))
    for key in ("source", "tr"):
        if bold.attrs.get(key) is not None:
            attrs[f"bold_{key}"] = bold.attrs[key]
    return attrs


def roi_timeseries(
    bold: BoldLike,
    masks: MasksLike,
    stat: Stat = "mean",
    *,
    time_dim: str = "time",
    tol: float = 0.01,
) -> xr.DataArray:
    """Reduce a bold series to one value per ROI, hemisphere and time point, lazily.

    Parameters
    ----------
    bold : xarray.DataArray or path-like
        The series, with dims x, y, z and ``time_dim`` in any order (numpy or dask), or a
        NIfTI path (read with :func:`open_nifti`). Without ``time_dim``, one volume.
    masks : xarray.DataArray, xarray.Dataset or path-like
        Masks ``(roi, hemisphere, x, y, z)`` (bool, or float32 fractions that weight the
        voxels), a signed index volume ``(x, y, z)`` with its labels in attrs (see
        :func:`roixr.to_index_volume`), a Dataset holding either, or a zarr store path
        (:func:`roixr.open_roi_masks`).
    stat : {"mean", "median", "sum", "std", "count"}, default "mean"
        ``mean``: Σ w·v / Σ w. ``sum``: Σ w·v. ``std``: the weighted population standard
        deviation (ddof 0). ``median``: the median for bool masks, the weighted median (the
        value where the cumulative weight reaches half) for fractions. ``count``: the number
        of voxels with a nonzero weight and a non-NaN value (int32).
    time_dim : str, default "time"
        The name of the time dim of ``bold``.
    tol : float, default 0.01
        Largest displacement of a voxel centre, in mm, accepted between the bold's and the
        masks' affines (see :func:`check_grid`).

    Returns
    -------
    xarray.DataArray
        ``roi_timeseries`` with dims ``(roi, hemisphere, time)`` (``(roi, hemisphere)``
        for one volume); float32 (int32 for ``count``), chunked along time like the
        series. Coords ``roi``, ``hemisphere``, the series' time coords and the masks'
        ``coverage``. Attrs: the masks' (``subject``, ``xfm``, ``sampler``, ``affine``,
        ...), ``stat``, ``weighted``, and ``bold_source`` / ``bold_tr`` when known.

    Raises
    ------
    GridMismatchError
        If the series' spatial shape or affine differs from the masks' grid.
    BoldError
        If ``bold`` lacks x, y, z or has other dims.
    FormError
        If ``masks`` is not masks or an index volume.
    OptionError
        For an unknown ``stat``.

    Notes
    -----
    NaN voxels are left out (weights of the others renormalised; ``sum`` adds the others,
    ``count`` counts them). An ROI without (finite) voxels gives NaN, or 0 for ``sum`` and
    ``count``. Nothing is computed here, neither the series nor the masks: the weight
    matrix is built from the masks when the result is computed, *each time* it is; compute
    or persist lazily sampled masks first to reuse them.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> grid = {"affine": np.eye(4).tolist()}
    >>> masks = xr.DataArray(np.zeros((1, 2, 2, 1, 1), bool), attrs=grid,
    ...                      dims=("roi", "hemisphere", "x", "y", "z"),
    ...                      coords={"roi": ["V1"], "hemisphere": ["L", "R"]})
    >>> masks[0, 0] = True  # both voxels in V1, left
    >>> bold = xr.DataArray(np.arange(6.0).reshape(2, 1, 1, 3), attrs=grid,
    ...                     dims=("x", "y", "z", "time"))
    >>> ts = roi_timeseries(bold, masks)
    >>> ts.dims, ts.sel(hemisphere="L").values
    (('roi', 'hemisphere', 'time'), array([[1.5, 2.5, 3.5]], dtype=float32))
    """
    if stat not in STATS:
        raise OptionError(f"stat must be one of {list(STATS)}, got {stat!r}.")
    masks = _as_masks(masks)
    series = _as_bold(bold, time_dim)
    check_grid(series, masks, tol=tol)
    one_volume = time_dim not in series.dims
    if one_volume:
        series = series.expand_dims({time_dim: 1}, axis=-1)
    data = _bold_data(series)
    weights = _weights(masks)
    dtype = np.dtype(np.int32 if stat == "count" else np.float32)
    out = da.blockwise(
        roi_chunk,
        "rht",
        data,
        "xyzt",
        weights,
        None,
        new_axes={"r": masks.sizes["roi"], "h": 2},
        concatenate=False,
        dtype=dtype,
        meta=np.empty((0, 0, 0), dtype),
        name=f"roi-timeseries-{stat}-{tokenize(data.name, weights.key, stat)}",
        stat=stat,
    )
    coords: dict[str, Any] = {"roi": masks["roi"].variable, "hemisphere": masks["hemisphere"]}
    if "coverage" in masks.coords:
        coords["coverage"] = masks["coverage"].variable
    if not one_volume:
        coords.update(
            {str(k): c.variable for k, c in series.coords.items() if c.dims == (time_dim,)}
        )
    result = xr.DataArray(
        out,
        dims=("roi", "hemisphere", time_dim),
        coords=coords,
        attrs=_attrs(masks, series, stat),
        name="roi_timeseries",
    )
    return result.isel({time_dim: 0}, drop=True) if one_volume else result
