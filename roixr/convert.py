"""The other forms of a masks DataArray: a dict of arrays and a signed index volume.

Each conversion is a thin public function: check the arguments, then either one
computation (the dict, which is numpy by nature) or one ``map_blocks`` over the spatial
chunks (the index volume and back), so dask input stays lazy. The block functions are
plain numpy and serve numpy input too.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from functools import partial
from typing import Any, Literal

import dask
import dask.array as da
import numpy as np
import xarray as xr

from roixr.errors import FormError, OverlapError
from roixr.forms import (
    HEMISPHERES,
    INDEX_ATTRS,
    INDEX_NAME,
    SPATIAL,
    AxisOrder,
    check_axis_order,
    check_index_volume,
    check_masks,
    flag_attrs,
    labels_from_attrs,
    masks_dataarray,
    roi_names,
    spatial_coords,
)

__all__ = ["as_masks", "from_dict", "from_index_volume", "to_dict", "to_index_volume"]


# --- dict -----------------------------------------------------------------------------------


def to_dict(
    masks: xr.DataArray, *, split_lr: bool = False, layout: AxisOrder = "xyz"
) -> dict[str, np.ndarray]:
    """Masks as a dict ``{name: array}``, like pycortex's ``get_roi_masks``.

    Parameters
    ----------
    masks : xarray.DataArray
        Masks with dims ``(roi, hemisphere, x, y, z)``, numpy or dask-backed.
    split_lr : bool, default False
        False: one array per ROI, hemispheres combined (``any``, or ``sum`` for fractions:
        exact, as a voxel is in one hemisphere). True: ``V1_L``, ``V1_R``, ``V2_L``, ...
    layout : {"xyz", "pycortex"}, default "xyz"
        NIfTI voxel order ``(x, y, z)``, or pycortex's ``(z, y, x)``.

    Returns
    -------
    dict of str to numpy.ndarray
        C-contiguous arrays of the masks' dtype; dask masks are computed once for all ROIs.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> data = np.zeros((1, 2, 2, 1, 1), bool); data[0, 0, 0] = data[0, 1, 1] = True
    >>> masks = xr.DataArray(data, dims=MASK_DIMS, coords={"roi": ["V1"],
    ...                      "hemisphere": ["L", "R"]})
    >>> to_dict(masks)["V1"].ravel()
    array([ True,  True])
    >>> sorted(to_dict(masks, split_lr=True))
    ['V1_L', 'V1_R']
    """
    check_masks(masks, func="to_dict")
    check_axis_order(layout)
    keys, data = dict_volumes(masks, split_lr=split_lr)
    # dask.compute on numpy data would still look for a distributed client (0.4 s import)
    (out,) = dask.compute(data) if dask.is_dask_collection(data) else (data,)
    out = np.swapaxes(out, -1, -3) if layout == "pycortex" else np.asarray(out)
    shared = isinstance(masks.data, np.ndarray) and np.may_share_memory(out, masks.data)
    own = partial(np.array, order="C", copy=True) if shared else np.ascontiguousarray
    return {key: own(out[i]) for i, key in enumerate(keys)}


def dict_volumes(masks: xr.DataArray, *, split_lr: bool) -> tuple[list[str], Any]:
    """The dict form's keys and its ``(key, x, y, z)`` data, lazy for dask masks."""
    names, data = roi_names(masks), masks.data
    if split_lr:
        keys = [f"{name}_{hemi}" for name in names for hemi in HEMISPHERES]
        return keys, data.reshape(len(keys), *data.shape[2:])
    if masks.dtype == bool:
        return names, data.any(axis=1)
    return names, data.sum(axis=1, dtype=masks.dtype)


def _as_volume(key: str, value: Any, layout: AxisOrder) -> np.ndarray:
    """One dict value as a bool or float32 (x, y, z) numpy array."""
    arr = np.asarray(value)
    if arr.ndim != 3:
        raise FormError(f"from_dict: {key!r} has shape {arr.shape}; each mask must be 3D.")
    if layout == "pycortex":
        arr = np.swapaxes(arr, 0, 2)
    if arr.dtype == bool:
        return arr
    if np.issubdtype(arr.dtype, np.integer) and np.isin(arr, (0, 1)).all():
        return arr.astype(bool)
    if np.issubdtype(arr.dtype, np.floating) and ((arr >= 0) & (arr <= 1)).all():
        return arr.astype(np.float32)
    raise FormError(
        f"from_dict: {key!r} must be bool, 0/1 integers or fractions in [0, 1]; got dtype "
        f"{arr.dtype} with values from {arr.min()} to {arr.max()}. Threshold it (mask > t) or "
        "rescale it to [0, 1]."
    )


def _split_stems(keys: list[str]) -> list[str] | None:
    """ROI names of a split dict (every name with both _L and _R), else None."""
    stems = list(dict.fromkeys(k[:-2] for k in keys))
    full = {f"{s}_{h}" for s in stems for h in HEMISPHERES}
    if all(k[-2:] in ("_L", "_R") for k in keys) and full == set(keys):
        return stems
    return None


def _sides(
    arrays: dict[str, np.ndarray], like: xr.DataArray | None, left: Any, layout: AxisOrder
) -> np.ndarray:
    """(2, x, y, z) bool: which voxels are left (row 0) and right (row 1)."""
    shape = next(iter(arrays.values())).shape
    if left is not None:
        if isinstance(left, xr.DataArray) and set(left.dims) == set(SPATIAL):
            lv = np.asarray(left.transpose(*SPATIAL).values)
        else:
            lv = np.asarray(left)
            lv = np.swapaxes(lv, 0, 2) if layout == "pycortex" and lv.ndim == 3 else lv
        if lv.shape != shape or lv.dtype != bool:
            raise FormError(
                f"from_dict: left must be a bool volume of the masks' shape {shape}; got "
                f"shape {lv.shape}, dtype {lv.dtype}. Pass True where a voxel is left."
            )
        return np.stack([lv, ~lv])
    if like is None:
        raise FormError(
            "from_dict: an unsplit dict (hemispheres combined) does not say which voxel is in "
            "which hemisphere. Pass left=<bool volume, True for left voxels>, like=<masks> to "
            "reuse their hemispheres, or a split dict (to_dict(masks, split_lr=True))."
        )
    (side,) = dask.compute((like != 0).any("roi").data)
    side = np.asarray(side)
    bad = [n for n, a in arrays.items() if (a.astype(bool) & (side[0] == side[1])).any()]
    if bad:
        used = np.logical_or.reduce([a != 0 for a in arrays.values()])
        n_none, n_both = int((used & ~side.any(0)).sum()), int((used & side.all(0)).sum())
        raise FormError(
            f"from_dict: ROIs {bad} have voxels that `like` puts in no single hemisphere "
            f"({n_none} voxels in no ROI of `like`, {n_both} in both hemispheres). Pass "
            "left=<bool volume> or a split dict (to_dict(masks, split_lr=True)) instead."
        )
    return side


def from_dict(
    d: Mapping[str, Any],
    *,
    like: xr.DataArray | None = None,
    left: Any = None,
    layout: AxisOrder = "xyz",
    attrs: Mapping[str, Any] | None = None,
    split_lr: bool | None = None,
) -> xr.DataArray:
    """Rebuild the masks DataArray from a dict ``{name: array}``.

    Parameters
    ----------
    d : mapping of str to array
        3D masks: bool, 0/1 integers, or fractions in [0, 1] (become float32), in ROI order.
    like : xarray.DataArray, optional
        Masks whose x, y, z coords, attrs and ``coverage`` (by name, NaN for others) are
        reused, and whose chunks the result takes. For an unsplit dict, a voxel's
        hemisphere is the one where ``like`` has it in any ROI (this computes ``like`` once);
        a nonzero voxel in no ROI of ``like``, or in both hemispheres, raises FormError.
    left : array_like or xarray.DataArray of bool, optional
        For an unsplit dict: True for left-hemisphere voxels (in ``layout``, or a DataArray
        with dims x, y, z). Takes precedence over ``like``.
    layout : {"xyz", "pycortex"}, default "xyz"
        Order of the arrays' axes: NIfTI ``(x, y, z)`` or pycortex's ``(z, y, x)``.
    attrs : mapping, optional
        Attrs, updating ``like``'s. A ``"coverage"`` list (per ROI, None for unknown)
        becomes the coverage coord.
    split_lr : bool, optional
        Whether keys are ``name_L`` / ``name_R``. Default: when every key ends in ``_L`` or
        ``_R`` and they pair up, unless every key is an ROI of ``like``.

    Returns
    -------
    xarray.DataArray
        Masks ``(roi, hemisphere, x, y, z)`` named ``"roi_masks"``; coverage is NaN where
        unknown. ``from_dict(to_dict(m, split_lr=True), like=m)`` equals ``m``.

    Examples
    --------
    >>> import numpy as np
    >>> m = from_dict({"V1_L": np.eye(2, dtype=bool)[..., None],
    ...                "V1_R": np.zeros((2, 2, 1), bool)})
    >>> m.dims, m.sizes["roi"], int(m.sum())
    (('roi', 'hemisphere', 'x', 'y', 'z'), 1, 2)
    """
    check_axis_order(layout)
    if not isinstance(d, Mapping) or not d:
        raise FormError(f"from_dict needs a non-empty dict {{name: array}}; got {d!r:.80}.")
    arrays = {str(k): _as_volume(str(k), v, layout) for k, v in d.items()}
    shapes = {a.shape for a in arrays.values()}
    if len(shapes) > 1:
        raise FormError(f"from_dict: all masks must have one shape; got shapes {sorted(shapes)}.")
    shape = shapes.pop()
    like_names: list[str] = []
    if like is not None:
        check_masks(like, func="from_dict(like=...)")
        like_names = roi_names(like)
        if tuple(like.sizes[k] for k in SPATIAL) != shape:
            raise FormError(
                f"from_dict: the masks' shape {shape} differs from like's (x, y, z) sizes "
                f"{tuple(like.sizes[k] for k in SPATIAL)}; pass masks of the same grid."
            )
    stems = _split_stems(list(arrays))
    if split_lr is None:
        split_lr = stems is not None and not set(arrays) <= set(like_names)
    if split_lr and stems is None:
        raise FormError(
            f"from_dict(split_lr=True): every ROI needs both name_L and name_R; got keys "
            f"{list(arrays)}. Pass split_lr=False with left= or like= for an unsplit dict."
        )
    float_out = any(a.dtype != bool for a in arrays.values())
    dtype = np.dtype(np.float32) if float_out else np.dtype(bool)
    if split_lr:
        names = stems or []
        data = np.stack([[arrays[f"{n}_{h}"] for h in HEMISPHERES] for n in names])
    else:
        names, side = list(arrays), _sides(arrays, like, left, layout)
        data = np.stack([side * a for a in arrays.values()])
    data = data.astype(dtype, copy=False)
    if like is not None and isinstance(like.data, da.Array):
        data = da.from_array(data, chunks=((len(names),), (2,), *like.data.chunks[2:]))
    return masks_dataarray(data, names, like, dict(attrs or {}))


# --- signed index volume ----------------------------------------------------------------------


def index_dtype(n_roi: int) -> np.dtype:
    """The smallest signed integer dtype holding indices -n_roi..n_roi."""
    for dtype in (np.int8, np.int16, np.int32):
        if n_roi <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    raise FormError(f"{n_roi} ROIs are too many for an int32 index volume.")


def _where(block_info: dict | None) -> str:
    """Where a block lies, for messages from a dask task ("" for numpy input)."""
    if not block_info:
        return ""
    loc = block_info[0]["array-location"][-3:]
    return " in the chunk " + ", ".join(
        f"{d}={a}:{b}" for d, (a, b) in zip(SPATIAL, loc, strict=True)
    )


def _flatten_block(
    block: np.ndarray,
    *,
    dtype: np.dtype,
    overlap: str,
    names: tuple[str, ...],
    block_info: dict | None = None,
) -> np.ndarray:
    """(roi, hemisphere, x, y, z) bool block -> signed (x, y, z) index block."""
    if overlap == "raise":
        multi = block.sum(axis=(0, 1), dtype=np.int32) > 1
        if multi.any():
            involved = [names[i] for i in np.flatnonzero(block[:, :, multi].any(axis=(1, 2)))]
            raise OverlapError(
                f"{int(multi.sum())} voxels{_where(block_info)} belong to more than one ROI or "
                f"hemisphere (ROIs involved: {involved}); an index volume holds one ROI per "
                "voxel. Pass overlap='last' to let later ROIs (in ROI order) win, as pycortex "
                "does. Or rebuild the masks so that no voxel is shared: if they were built "
                "with allow_overlap=True, leave it out; if they are thresholded fractions "
                "(masks > t), use roi_masks(..., threshold=t), which drops shared voxels."
            )
    out = np.zeros(block.shape[2:], dtype=dtype)
    for r in range(block.shape[0]):
        out[block[r, 0]] = -(r + 1)
        out[block[r, 1]] = r + 1
    return out


def to_index_volume(
    masks: xr.DataArray, *, overlap: Literal["raise", "last"] = "raise"
) -> tuple[xr.DataArray, dict[str, int]]:
    """Flatten bool masks into a signed index volume, like pycortex's ``return_dict=False``.

    Parameters
    ----------
    masks : xarray.DataArray
        Bool masks ``(roi, hemisphere, x, y, z)``, numpy or dask-backed. Fractions must be
        thresholded first.
    overlap : {"raise", "last"}, default "raise"
        ``"raise"``: a voxel in more than one ROI raises :class:`~roixr.errors.OverlapError`
        (for dask masks, when the result is computed). ``"last"``: later ROIs win (pycortex).

    Returns
    -------
    volume : xarray.DataArray
        ``(x, y, z)`` named ``"roi_index"``: the ROI's 1-based index (ROI order) in right
        voxels, its negative in left ones, 0 elsewhere; int8 up to 127 ROIs, then int16,
        int32; lazy for dask masks. Attrs: the masks' attrs, CF ``flag_values`` /
        ``flag_meanings`` (``V1_L``, ...; spaces become ``_``), ``long_name``,
        ``roi_names`` and, if in memory (not dask, which would need computing),
        ``coverage`` as a list (None for NaN).
    labels : dict of str to int
        ``{name: index}``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> data = np.zeros((2, 2, 3, 1, 1), bool)
    >>> data[0, 0, 0] = data[1, 1, 2] = True
    >>> masks = xr.DataArray(data, dims=MASK_DIMS, coords={"roi": ["V1", "V2"],
    ...                      "hemisphere": ["L", "R"]})
    >>> volume, labels = to_index_volume(masks)
    >>> volume.values.ravel(), labels
    (array([-1,  0,  2], dtype=int8), {'V1': 1, 'V2': 2})
    >>> volume.attrs["flag_meanings"]
    'V2_L V1_L V1_R V2_R'
    """
    check_masks(masks, func="to_index_volume")
    if overlap not in ("raise", "last"):
        raise FormError(f"overlap must be 'raise' or 'last'; got {overlap!r}.")
    if masks.dtype != bool:
        raise FormError(
            f"to_index_volume needs bool masks; got {masks.dtype} fractions. Build them with "
            "roi_masks(..., threshold=t), which thresholds and then drops voxels claimed by "
            "several ROIs; masks > t keeps such voxels in both ROIs (then pass "
            "overlap='last')."
        )
    names = roi_names(masks)
    dtype = index_dtype(len(names))
    kernel = partial(_flatten_block, dtype=dtype, overlap=overlap, names=tuple(names))
    data = masks.data
    if isinstance(data, da.Array):
        data = data.rechunk({0: -1, 1: -1})
        out = da.map_blocks(
            kernel, data, drop_axis=(0, 1), dtype=dtype, meta=np.empty((0, 0, 0), dtype)
        )
    else:
        out = kernel(np.asarray(data))
    colors = masks.attrs.get("roi_colors")
    attrs = {
        **copy.deepcopy(masks.attrs),
        **flag_attrs(names, colors if isinstance(colors, Mapping) else None),
    }
    if "coverage" in masks.coords and not isinstance(masks["coverage"].data, da.Array):
        cov = np.asarray(masks["coverage"].values, dtype=float)
        attrs["coverage"] = [None if np.isnan(c) else float(c) for c in cov]
    volume = xr.DataArray(
        out, dims=SPATIAL, coords=spatial_coords(masks), name=INDEX_NAME, attrs=attrs
    )
    return volume, {name: i + 1 for i, name in enumerate(names)}


def _expand_block(
    block: np.ndarray, *, signed: np.ndarray, block_info: dict | None = None
) -> np.ndarray:
    """Signed (x, y, z) index block -> (roi, hemisphere, x, y, z) bool block."""
    known = np.isin(block, signed) | (block == 0)
    if not known.all():
        bad = np.unique(block[~known])[:10].tolist()
        raise FormError(
            f"The index volume holds values {bad}{_where(block_info)} that no label names "
            f"(indices ±{np.unique(np.abs(signed)).tolist()}). Pass labels={{name: index}} "
            "covering every index."
        )
    return block[None, None] == signed[:, :, None, None, None]


def from_index_volume(
    volume: xr.DataArray, labels: Mapping[str, int] | None = None
) -> xr.DataArray:
    """Bool masks from a signed index volume: the inverse of :func:`to_index_volume`.

    Parameters
    ----------
    volume : xarray.DataArray
        Signed integers ``(x, y, z)``: ``i`` right, ``-i`` left, 0 elsewhere. For dask
        input the result is lazy and a value no label names raises FormError at compute.
    labels : mapping of str to int, optional
        ``{name: index}``. Default: from the attrs ``roi_names``, else CF ``flag_values`` /
        ``flag_meanings``.

    Returns
    -------
    xarray.DataArray
        Bool masks ``(roi, hemisphere, x, y, z)`` in index order, chunked like ``volume``;
        the volume's attrs less the index ones; coverage from the ``coverage`` attr or NaN.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> volume = xr.DataArray(np.array([-1, 0, 2], np.int8).reshape(3, 1, 1),
    ...                       dims=("x", "y", "z"))
    >>> masks = from_index_volume(volume, {"V1": 1, "V2": 2})
    >>> masks.sel(hemisphere="L").values.reshape(2, 3).astype(int)
    array([[1, 0, 0],
           [0, 0, 0]])
    """
    check_index_volume(volume, func="from_index_volume")
    if labels is None:
        labels = labels_from_attrs(volume.attrs)
        if labels is None:
            raise FormError(
                "from_index_volume: the volume has no labels (attrs roi_names, or flag_values "
                "and flag_meanings). Pass labels={name: index}, e.g. the dict returned by "
                "to_index_volume."
            )
    items = sorted(((int(i), str(n)) for n, i in dict(labels).items()))
    indices = [i for i, _ in items]
    if any(i < 1 for i in indices) or len(set(indices)) != len(indices):
        raise FormError(f"labels need unique indices ≥ 1; got {dict(labels)}.")
    names = [n for _, n in items]
    signed = np.array([[-i, i] for i in indices], dtype=np.int64).reshape(-1, 2)
    kernel = partial(_expand_block, signed=signed)
    data = volume.data
    if isinstance(data, da.Array):
        out = da.map_blocks(
            kernel,
            data,
            new_axis=(0, 1),
            chunks=((len(names),), (2,), *data.chunks),
            dtype=bool,
            meta=np.empty((0,) * 5, bool),
        )
    else:
        out = kernel(np.asarray(data))
    attrs = {k: copy.deepcopy(v) for k, v in volume.attrs.items() if k not in INDEX_ATTRS}
    cov = volume.attrs.get("coverage")
    if cov is not None:
        attrs["coverage"] = [cov[i - 1] if i <= len(cov) else None for i in indices]
    masks = masks_dataarray(out, names, None, attrs)
    return masks.assign_coords(spatial_coords(volume))


def as_masks(obj: Any, *, func: str) -> xr.DataArray:
    """Masks ``(roi, hemisphere, x, y, z)`` from masks or an index volume (lazily).

    ``func`` names the public function being called, for the messages of the checks. An
    index volume's ``roi_colors`` attr is kept.
    """
    if isinstance(obj, xr.DataArray) and obj.dims == SPATIAL:
        check_index_volume(obj, func=func)
        colors = obj.attrs.get("roi_colors")
        masks = from_index_volume(obj)
        if colors:
            masks.attrs["roi_colors"] = colors
        return masks
    check_masks(obj, func=func)
    return obj
