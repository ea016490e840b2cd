"""The masks contract: the dims, names and checks every form of roixr's masks shares.

Masks are a DataArray named ``"roi_masks"`` with dims ``(roi, hemisphere, x, y, z)``,
``hemisphere`` = ``["L", "R"]``, bool or float32 fractions; an index volume is a signed
integer DataArray named ``"roi_index"`` with dims ``(x, y, z)`` and CF ``flag_values`` /
``flag_meanings`` attrs. This module holds those constants, the checks that enforce them,
the label attrs of an index volume, and the builder that wraps data in the contract's
coords. Every module of roixr's xarray layer takes them from here.

It is also the one module that makes sure the ``.roixr`` accessor is registered: importing
it imports :mod:`roixr.accessor`, a leaf that imports no other roixr module, so any code
that builds or checks roixr's DataArrays has the accessor.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Hashable, Mapping
from typing import Any, Literal

import numpy as np
import xarray as xr

import roixr.accessor  # noqa: F401  (registers the .roixr accessor; the only such import)
from roixr.errors import FormError

__all__ = [
    "HEMISPHERES",
    "INDEX_ATTRS",
    "INDEX_NAME",
    "MASKS_NAME",
    "MASK_DIMS",
    "SPATIAL",
    "AxisOrder",
    "check_axis_order",
    "check_index_volume",
    "check_masks",
    "flag_attrs",
    "labels_from_attrs",
    "masks_dataarray",
    "plain_labels",
    "roi_names",
    "spatial_coords",
]

MASK_DIMS = ("roi", "hemisphere", "x", "y", "z")
SPATIAL = ("x", "y", "z")
HEMISPHERES = ("L", "R")
MASKS_NAME = "roi_masks"
INDEX_NAME = "roi_index"
INDEX_ATTRS = ("flag_values", "flag_meanings", "flag_colors", "long_name", "roi_names", "coverage")
AxisOrder = Literal["xyz", "pycortex"]
"""The order of a volume's axes: NIfTI's ``(x, y, z)`` or pycortex's ``(z, y, x)``."""


def roi_names(masks: xr.DataArray) -> list[str]:
    """The ROI names of a masks DataArray, as str."""
    return [str(r) for r in masks["roi"].values]


def check_masks(masks: Any, *, func: str) -> None:
    """Raise FormError unless ``masks`` follows the masks contract (dims, hemispheres, dtype).

    ``func`` names the function being called, for the message.
    """
    if not isinstance(masks, xr.DataArray):
        raise FormError(
            f"{func} takes a masks DataArray with dims {MASK_DIMS}; got a "
            f"{type(masks).__name__}. Build one with roixr.roi_masks(...) or roixr.from_dict(...)."
        )
    if masks.dims != MASK_DIMS:
        raise FormError(
            f"{func} takes masks with dims {MASK_DIMS}; got dims {masks.dims}. If only the order "
            f"differs, use masks.transpose{MASK_DIMS}; an index volume (dims {SPATIAL}) converts "
            "with roixr.from_index_volume(volume)."
        )
    hemis = [str(h) for h in masks["hemisphere"].values]
    if hemis != list(HEMISPHERES):
        raise FormError(
            f"{func}: the hemisphere coord must be ['L', 'R']; got {hemis}. Select both "
            "hemispheres in that order: masks.sel(hemisphere=['L', 'R'])."
        )
    names = roi_names(masks)
    if len(set(names)) != len(names):
        dups = sorted({n for n in names if names.count(n) > 1})
        raise FormError(f"{func}: ROI names must be unique; {dups} repeat. Rename or drop them.")
    if masks.dtype != bool and not np.issubdtype(masks.dtype, np.floating):
        raise FormError(
            f"{func}: masks must be bool or float32 fractions; got dtype {masks.dtype}. Convert "
            "with masks.astype(bool) (binary) or masks.astype('float32') (fractions)."
        )


def check_index_volume(volume: Any, *, func: str) -> None:
    """Raise FormError unless ``volume`` is a signed integer DataArray with dims (x, y, z)."""
    if not isinstance(volume, xr.DataArray) or volume.dims != SPATIAL:
        got = volume.dims if isinstance(volume, xr.DataArray) else type(volume).__name__
        raise FormError(
            f"{func} takes an index volume DataArray with dims {SPATIAL}; got {got}. Make one "
            "with roixr.to_index_volume(masks); masks (dims with 'roi') are already masks."
        )
    if not np.issubdtype(volume.dtype, np.signedinteger):
        raise FormError(
            f"{func}: an index volume holds signed integers; got dtype {volume.dtype}. Cast "
            "an integer label volume with volume.astype('int32')."
        )


def check_axis_order(layout: str) -> None:
    """Raise FormError unless ``layout`` is an :data:`AxisOrder`."""
    if layout not in ("xyz", "pycortex"):
        raise FormError(
            f"layout must be 'xyz' (NIfTI order) or 'pycortex' (z, y, x); got {layout!r}."
        )


def spatial_coords(obj: xr.DataArray) -> dict[Hashable, Any]:
    """Coords of ``obj`` that live on spatial dims only (x, y, z and their extras)."""
    out: dict[Hashable, Any] = {k: c.variable for k, c in obj.coords.items() if c.dims}
    out = {k: v for k, v in out.items() if set(v.dims) <= set(SPATIAL)}
    for dim in SPATIAL:
        out.setdefault(dim, np.arange(obj.sizes[dim]))
    return out


def masks_dataarray(
    data: Any, names: list[str], like: xr.DataArray | None, attrs: dict[str, Any]
) -> xr.DataArray:
    """Wrap ``(roi, hemisphere, x, y, z)`` data with the contract's coords and attrs.

    ``like``'s spatial coords, other per-ROI coords (by name) and attrs are reused;
    ``attrs["coverage"]`` (one value per ROI, None where unknown) becomes the coverage coord.
    """
    roi_dtype = like["roi"].dtype if like is not None and like["roi"].dtype.kind in "OT" else None
    coords: dict[Hashable, Any] = {"roi": np.array(names, dtype=roi_dtype)}
    coords["hemisphere"] = np.array(HEMISPHERES)
    coords["coverage"] = ("roi", np.full(len(names), np.nan))
    if like is not None:
        coords.update(spatial_coords(like))
        for key, c in like.coords.items():
            if key not in MASK_DIMS and c.dims == ("roi",):
                coords[key] = c.reindex(roi=coords["roi"]).variable
        attrs = {**copy.deepcopy(like.attrs), **attrs}
    else:
        coords.update({dim: np.arange(n) for dim, n in zip(SPATIAL, data.shape[2:], strict=True)})
    if "coverage" in attrs:
        cov = list(attrs.pop("coverage"))
        if len(cov) != len(names):
            raise FormError(
                f"attrs['coverage'] needs one value per ROI ({len(names)}, {names}); got "
                f"{len(cov)} values. Give it in the ROIs' order, None where unknown."
            )
        coords["coverage"] = ("roi", np.array([np.nan if c is None else c for c in cov], float))
    return xr.DataArray(data, dims=MASK_DIMS, coords=coords, name=MASKS_NAME, attrs=attrs)


# --- the label attrs of an index volume ------------------------------------------------------


def flag_attrs(names: list[str], colors: Mapping[str, str] | None = None) -> dict[str, Any]:
    """CF ``flag_values`` / ``flag_meanings`` (and ``flag_colors``) of an index volume.

    Left hemispheres get the negative indices (``V1_L`` is -1), right ones the positive.
    """
    n = len(names)
    safe = [re.sub(r"\s", "_", name) for name in names]
    attrs: dict[str, Any] = {
        "flag_values": [-i for i in range(n, 0, -1)] + list(range(1, n + 1)),
        "flag_meanings": " ".join([f"{s}_L" for s in safe[::-1]] + [f"{s}_R" for s in safe]),
        "long_name": "ROI index (right hemisphere positive, left hemisphere negative)",
        "roi_names": list(names),
    }
    if colors:  # one colour per flag value, in flag_values order ("" where none is known)
        per_roi = [str(colors.get(name, "")) for name in names]
        attrs["flag_colors"] = per_roi[::-1] + per_roi
    return attrs


def labels_from_attrs(attrs: Mapping[str, Any]) -> dict[str, int] | None:
    """``{name: index}`` of an index volume from its attrs (``roi_names``, else CF flags);
    None when the attrs name no labels."""
    if "roi_names" in attrs:
        return {str(n): i + 1 for i, n in enumerate(attrs["roi_names"])}
    if "flag_values" not in attrs or "flag_meanings" not in attrs:
        return None
    values, meanings = list(attrs["flag_values"]), str(attrs["flag_meanings"]).split()
    if len(values) != len(meanings):
        raise FormError(
            f"flag_values ({len(values)}) and flag_meanings ({len(meanings)}) differ in length; "
            "pass labels={name: index} instead."
        )
    out: dict[str, int] = {}
    for v, m in sorted(
        zip(values, meanings, strict=True), key=lambda vm: (abs(int(vm[0])), -int(vm[0]))
    ):
        out.setdefault(re.sub(r"_[LR]$", "", m), abs(int(v)))
    return out


def plain_labels(obj: Any) -> Any:
    """Give the ``roi`` and ``hemisphere`` coords back their fixed-width str dtype (zarr
    stores them as variable-length strings, which read back as object or StringDType)."""
    labels = {
        dim: np.array(obj[dim].values.tolist(), dtype=str)
        for dim in ("roi", "hemisphere")
        if dim in obj.coords and obj[dim].dtype.kind != "U"
    }
    return obj.assign_coords(labels) if labels else obj
