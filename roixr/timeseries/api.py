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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal

import dask.array as da
import numpy as np
import xarray as xr
from dask.base import tokenize
from dask.core import flatten
from dask.delayed import Delayed
from dask.highlevelgraph import HighLevelGraph
from nibabel.spatialimages import SpatialImage

from roixr.errors import (
    BoldError,
    FormError,
    GridMismatchError,
    OptionError,
    UnverifiedGridWarning,
)
from roixr.forms import (
    HEMISPHERES,
    INDEX_ATTRS,
    INDEX_NAME,
    MASKS_NAME,
    SPATIAL,
    check_index_volume,
    check_masks,
    labels_from_attrs,
)
from roixr.io.images import load_volume
from roixr.timeseries.bold import open_nifti
from roixr.timeseries.reduction import (
    STATS,
    Stat,
    assemble,
    block_entries,
    grid_shift,
    index_entries,
    roi_chunk,
)

__all__ = ["BoldLike", "Hemisphere", "MasksLike", "check_grid", "roi_timeseries"]

MasksLike = xr.DataArray | xr.Dataset | str | os.PathLike | SpatialImage
BoldLike = xr.DataArray | str | os.PathLike | SpatialImage
Hemisphere = Literal["split", "both"]
NIFTI_SUFFIXES = (".nii", ".nii.gz", ".mgz", ".mgh", ".img", ".hdr")


# --- reading -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rois:
    """What the time series needs of the masks: a lazy :class:`Weights` builder's inputs,
    the ROI names and their coords and attrs."""

    masks: xr.DataArray | None  # (roi, hemisphere, x, y, z) masks, or
    volume: xr.DataArray | None  # a signed index volume (x, y, z)
    indices: np.ndarray  # the volume's label indices, increasing
    names: list[str]
    coords: dict[str, Any]  # on roi: coverage
    attrs: dict[str, Any]
    signed: bool  # the ROIs have left and right parts
    grid: xr.DataArray  # the spatial grid (sizes, affine) to check the bold against


def _image_volume(img: SpatialImage, source: str | None) -> xr.DataArray:
    """A 3D label image (an atlas) as an integer DataArray ``(x, y, z)`` with its affine."""
    data = np.asanyarray(img.dataobj)
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise FormError(
            f"roi_timeseries takes a label image (a 3D integer atlas) as masks; "
            f"{source or 'the image'!r} has shape {data.shape}. Pass roixr masks for "
            "probabilistic or 4D atlases (e.g. roixr.from_dict)."
        )
    if not np.issubdtype(data.dtype, np.integer):
        if not np.all(np.isfinite(data)) or np.any(data != np.round(data)):
            raise FormError(
                f"a label image holds integer labels; {source or 'the image'!r} holds "
                f"non-integer values (dtype {data.dtype})."
            )
    attrs = {"affine": np.asarray(img.affine, float).tolist()}
    if source is not None:
        attrs["source"] = source
    return xr.DataArray(data.astype(np.int32), dims=SPATIAL, attrs=attrs, name=INDEX_NAME)


def _open_masks(masks: MasksLike) -> xr.DataArray | xr.Dataset:
    if isinstance(masks, SpatialImage):
        return _image_volume(masks, masks.get_filename())
    if isinstance(masks, str | os.PathLike):
        if str(masks).endswith(NIFTI_SUFFIXES):
            img = load_volume(masks, what="the label image", error=FormError)
            return _image_volume(img, os.fspath(masks))
        from roixr.store import open_roi_masks  # zarr is imported only when used

        return open_roi_masks(masks)
    return masks


def _volume_rois(volume: xr.DataArray, labels: Mapping[str, int] | None) -> _Rois:
    check_index_volume(volume, func="roi_timeseries")
    lazy = isinstance(volume.data, da.Array)
    from_attrs = labels_from_attrs(volume.attrs) if labels is None else None
    own = labels if labels is not None else from_attrs
    if own is None:
        if lazy:
            raise FormError(
                "roi_timeseries: the index volume has no labels (attrs roi_names, or "
                "flag_values and flag_meanings) and is lazy; pass labels={name: index}."
            )
        values = np.unique(np.abs(np.asarray(volume.data)))
        own = {str(int(v)): int(v) for v in values if v != 0}
    items = sorted((int(i), str(n)) for n, i in dict(own).items())
    indices = np.array([i for i, _ in items], dtype=np.int64)
    if np.any(indices < 1) or len(set(indices.tolist())) != indices.size:
        raise FormError(f"labels need unique indices ≥ 1; got {dict(own)}.")
    if from_attrs is not None or lazy:  # roixr's own index volume: left negative
        signed = True
    else:
        signed = bool(np.asarray(volume.data).min(initial=0) < 0)
    attrs = {k: v for k, v in volume.attrs.items() if k not in INDEX_ATTRS}
    coverage = np.full(indices.size, np.nan)
    cov = volume.attrs.get("coverage")
    if cov is not None:
        coverage = np.array(
            [np.nan if i > len(cov) or cov[i - 1] is None else cov[i - 1] for i in indices],
            float,
        )
    return _Rois(
        masks=None,
        volume=volume,
        indices=indices,
        names=[n for _, n in items],
        coords={"coverage": ("roi", coverage)},
        attrs=attrs,
        signed=signed,
        grid=volume,
    )


def _as_rois(masks: MasksLike, labels: Mapping[str, int] | None) -> _Rois:
    """The ROIs of masks, an index volume, a label image, or a zarr store."""
    masks = _open_masks(masks)
    if isinstance(masks, xr.Dataset):
        names = [v for v in (MASKS_NAME, INDEX_NAME) if v in masks.data_vars]
        if not names:
            raise FormError(
                "roi_timeseries: the Dataset holds no 'roi_masks' or 'roi_index' variable "
                f"(variables: {list(masks.data_vars)}); pass the masks DataArray."
            )
        masks = masks[names[0]]
    if isinstance(masks, xr.DataArray) and masks.dims == SPATIAL:
        return _volume_rois(masks, labels)
    check_masks(masks, func="roi_timeseries")
    coords = {"coverage": masks["coverage"].variable} if "coverage" in masks.coords else {}
    return _Rois(
        masks=masks,
        volume=None,
        indices=np.arange(1, masks.sizes["roi"] + 1),
        names=[str(n) for n in masks["roi"].values],
        coords={"roi": masks["roi"].variable, **coords},
        attrs=dict(masks.attrs),
        signed=True,
        grid=masks,
    )


def _as_bold(bold: BoldLike, time_dim: str) -> xr.DataArray:
    """The bold series transposed to ``(x, y, z, time)`` (or ``(x, y, z)``)."""
    if isinstance(bold, str | os.PathLike | SpatialImage):
        bold = open_nifti(bold)
    if not isinstance(bold, xr.DataArray):
        raise BoldError(
            f"roi_timeseries takes the bold series as an xarray DataArray with dims x, y, z "
            f"and {time_dim!r}, a NIfTI path or a nibabel image; got a {type(bold).__name__}. "
            f"Wrap an array with xr.DataArray(data, dims=('x', 'y', 'z', {time_dim!r})) or "
            "use open_nifti."
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
    try:
        affine = np.asarray(obj.attrs["affine"], dtype=float)
    except (TypeError, ValueError):
        raise BoldError(
            f"{what} attrs['affine'] must be a 4×4 matrix of numbers; got "
            f"{obj.attrs['affine']!r:.80}."
        ) from None
    if affine.shape != (4, 4):
        raise BoldError(f"{what} attrs['affine'] must be 4×4; got shape {affine.shape}.")
    if not np.isfinite(affine).all():
        raise BoldError(
            f"{what} attrs['affine'] is not finite (NaN or inf):\n{np.round(affine, 4)}\n"
            "Set it to the image's affine (open_nifti reads it from the header)."
        )
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


def _weights(rois: _Rois, n_hemi: int) -> Any:
    """A ``dask.delayed`` of the ROIs' :class:`~roixr.timeseries.reduction.Weights`."""
    source = rois.masks if rois.masks is not None else rois.volume
    assert source is not None
    data = source.data
    if not isinstance(data, da.Array):
        data = da.from_array(np.asarray(data), chunks=-1)
    # each chunk's entries carry its offset along every dim: no rechunk (which would also
    # import distributed to choose its method)
    entries = (
        block_entries if rois.masks is not None else partial(index_entries, indices=rois.indices)
    )
    starts = [tuple(s.start for s in sl) for sl in da.core.slices_from_chunks(data.chunks)]
    shape = tuple(int(source.sizes[d]) for d in SPATIAL)
    token = tokenize(data.name, n_hemi, rois.indices)
    name, parts = f"roi-weights-{token}", f"roi-entries-{token}"
    # each entries task also takes the grid's shape from one shared key: with two inputs it is
    # never fused into its mask chunk's task, which would give the same key another task in
    # a later computation on the same client (distributed's run_spec warning)
    grid = f"roi-grid-{token}"
    graph: dict[Any, Any] = {
        (parts, n): (entries, key, start, grid)
        for n, (key, start) in enumerate(zip(flatten(data.__dask_keys__()), starts, strict=True))
    }
    keys = list(graph)
    graph[grid] = shape
    graph[name] = (assemble, keys, len(rois.names), n_hemi)
    layers = HighLevelGraph.from_collections(name, graph, dependencies=[data])
    return Delayed(name, layers)  # a graph written out: dask.delayed would cull the masks'


def _bold_data(bold: xr.DataArray) -> da.Array:
    """Dask data ``(x, y, z, time)`` with x, y, z whole and time chunked."""
    data = bold.data
    if not isinstance(data, da.Array):  # a random name: hashing a whole series costs
        return da.from_array(np.asarray(data), chunks=(-1, -1, -1, "auto"), name=False)
    if any(len(c) > 1 for c in data.chunks[:3]):
        data = data.rechunk({0: -1, 1: -1, 2: -1, 3: "auto"})
    return data


def _stats(stat: Stat | Sequence[Stat]) -> tuple[list[str], tuple[str, ...]]:
    """The names given and their canonical names."""
    given = [stat] if isinstance(stat, str) else list(stat)
    bad = [s for s in given if s not in STATS]
    if bad or not given:
        raise OptionError(
            f"stat must be one of {list(STATS)} (nilearn's strategy names or the short "
            f"ones), or a list of them; got {stat!r}."
        )
    canonical = tuple(STATS[s] for s in given)
    if len(set(canonical)) != len(canonical):
        raise OptionError(f"stat lists a statistic twice: {given}.")
    return [str(s) for s in given], canonical


def _attrs(rois: _Rois, bold: xr.DataArray, stat: Any, weighted: bool) -> dict[str, Any]:
    attrs = {k: v for k, v in rois.attrs.items() if k not in INDEX_ATTRS}
    attrs.update(stat=stat, weighted=weighted)
    for key in ("source", "tr"):
        if bold.attrs.get(key) is not None:
            attrs[f"bold_{key}"] = bold.attrs[key]
    return attrs


def roi_timeseries(
    bold: BoldLike,
    masks: MasksLike,
    stat: Stat | Sequence[Stat] = "mean",
    *,
    hemisphere: Hemisphere | None = None,
    labels: Mapping[str, int] | None = None,
    time_dim: str = "time",
    tol: float = 0.01,
) -> xr.DataArray:
    """Reduce a bold series to one value per ROI, hemisphere and time point, lazily.

    Parameters
    ----------
    bold : xarray.DataArray, path-like or nibabel image
        The series, with dims x, y, z and ``time_dim`` in any order (numpy or dask), a
        NIfTI path or a nibabel image (read with :func:`open_nifti`). Without
        ``time_dim``, one volume.
    masks : xarray.DataArray, xarray.Dataset, path-like or nibabel image
        Masks ``(roi, hemisphere, x, y, z)`` (bool, or float32 fractions that weight the
        voxels); a signed index volume ``(x, y, z)`` (see :func:`roixr.to_index_volume`);
        a Dataset holding either; a zarr store path (:func:`roixr.open_roi_masks`); or a
        label image (an atlas: a NIfTI path or a nibabel image of integer labels).
    stat : str or list of str, default "mean"
        nilearn's ``NiftiLabelsMasker`` strategies, with the same results on the same
        labels: ``mean`` (Σ w·v / Σ w), ``median`` (for fractions the weighted median,
        where the cumulative weight reaches half), ``sum`` (Σ w·v), ``minimum``,
        ``maximum`` (over the voxels with a nonzero weight), ``variance`` (weighted,
        population: ddof 0), ``standard_deviation``; and ``count``, the number of voxels
        with a nonzero weight and a non-NaN value. ``min``, ``max``, ``var`` and ``std``
        are accepted too. A list computes each from one read of the series, along a new
        leading ``stat`` dim.
    hemisphere : {"split", "both"}, optional
        ``"split"``: one series per hemisphere (dim ``hemisphere``, ``["L", "R"]``);
        ``"both"``: one series per ROI over both hemispheres (no ``hemisphere`` dim). By
        default ``"split"``, except for an index volume or label image without negative
        values (a volumetric atlas), whose ROIs are not split by hemisphere.
    labels : mapping of str to int, optional
        ``{name: index}`` of an index volume or label image. By default the volume's
        attrs (:func:`roixr.to_index_volume`), else each label value present, named by
        its number.
    time_dim : str, default "time"
        The name of the time dim of ``bold``.
    tol : float, default 0.01
        Largest displacement of a voxel centre, in mm, accepted between the bold's and the
        masks' affines (see :func:`check_grid`).

    Returns
    -------
    xarray.DataArray
        ``roi_timeseries`` with dims ``([stat,] roi, [hemisphere,] time)`` (no ``time``
        for one volume); float32 (int32 for ``count`` alone), chunked along time like the
        series. Coords ``roi``, ``hemisphere``, ``stat`` (for a list), the series' time
        coords and the masks' ``coverage``. Attrs: the masks' (``subject``, ``xfm``,
        ``sampler``, ``affine``, ...), ``stat`` (as given), ``weighted``, ``hemisphere``,
        and ``bold_source`` / ``bold_tr`` when known.

    Raises
    ------
    GridMismatchError
        If the series' spatial shape or affine differs from the masks' grid.
    BoldError
        If ``bold`` lacks x, y, z or has other dims.
    FormError
        If ``masks`` is not masks, an index volume or a label image.
    OptionError
        For an unknown ``stat`` or ``hemisphere``.

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
    >>> roi_timeseries(bold, masks, ["minimum", "maximum"], hemisphere="both").values
    array([[[0., 1., 2.]],
    <BLANKLINE>
           [[3., 4., 5.]]], dtype=float32)
    """
    given, stats = _stats(stat)
    if hemisphere not in (None, "split", "both"):
        raise OptionError(f"hemisphere must be 'split' or 'both'; got {hemisphere!r}.")
    rois = _as_rois(masks, labels)
    series = _as_bold(bold, time_dim)
    check_grid(series, rois.grid, tol=tol)
    if hemisphere is None:
        hemisphere = "split" if rois.signed else "both"
    n_hemi = 2 if hemisphere == "split" else 1
    one_volume = time_dim not in series.dims
    if one_volume:
        series = series.expand_dims({time_dim: 1}, axis=-1)
    data = _bold_data(series)
    weights = _weights(rois, n_hemi)
    dtype = np.dtype(np.int32 if stats == ("count",) else np.float32)
    out = da.blockwise(
        roi_chunk,
        "srht",
        data,
        "xyzt",
        weights,
        None,
        new_axes={"s": len(stats), "r": len(rois.names), "h": n_hemi},
        concatenate=False,
        dtype=dtype,
        meta=np.empty((0, 0, 0, 0), dtype),
        name=f"roi-timeseries-{tokenize(data.name, weights.key, stats)}",
        stats=stats,
    )
    coords: dict[str, Any] = {"roi": ("roi", rois.names), **rois.coords}
    if hemisphere == "split":
        coords["hemisphere"] = ("hemisphere", list(HEMISPHERES))
    if not isinstance(stat, str):
        coords["stat"] = ("stat", given)
    if not one_volume:
        coords.update(
            {str(k): c.variable for k, c in series.coords.items() if c.dims == (time_dim,)}
        )
    if hemisphere == "both":
        out = out[:, :, 0]
    if isinstance(stat, str):
        out = out[0]
    dims = (*(() if isinstance(stat, str) else ("stat",)), "roi",
            *(("hemisphere",) if hemisphere == "split" else ()), time_dim)  # fmt: skip
    weighted = bool(rois.masks is not None and rois.masks.dtype != bool)
    attrs = _attrs(rois, series, stat if isinstance(stat, str) else given, weighted)
    attrs["hemisphere"] = hemisphere
    result = xr.DataArray(out, dims=dims, coords=coords, attrs=attrs, name="roi_timeseries")
    return result.isel({time_dim: 0}, drop=True) if one_volume else result
