"""The ``.roi`` accessor on xarray DataArrays: the conversions as methods.

Importing this module registers the accessor. Like rioxarray's, it keeps only the wrapped
object; everything lasting lives in the DataArray's coords and attrs, because xarray builds
a new accessor for every new object.

The masks also have a coordinate named ``roi``, and an accessor takes precedence over
attribute access to coordinates: ``masks.roi`` is the accessor. So that code written for the
coordinate keeps working (``masks.roi.values``, ``masks.roi == "V1"``, ``list(masks.roi)``),
the accessor passes every other attribute, item access, iteration, ``len``, ``in``,
comparisons and ``numpy.asarray`` to the ``roi`` coordinate. ``masks["roi"]`` is the
coordinate itself.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import xarray as xr

if TYPE_CHECKING:
    from roixr import forms

__all__ = ["RoiAccessor"]


@xr.register_dataarray_accessor("roi")
class RoiAccessor:
    """Conversions of ROI masks and index volumes: ``masks.roi.to_dict()``, ...

    Masks have dims ``(roi, hemisphere, x, y, z)``; an index volume has dims ``(x, y, z)``
    and signed integers. Each method checks that it was called on the right kind and raises
    :class:`~roixr.errors.FormError` otherwise.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> import roixr.accessor
    >>> data = np.zeros((1, 2, 2, 1, 1), bool); data[0, 1, 1] = True
    >>> masks = xr.DataArray(data, dims=("roi", "hemisphere", "x", "y", "z"),
    ...                      coords={"roi": ["V1"], "hemisphere": ["L", "R"]})
    >>> volume, labels = masks.roi.to_index_volume()
    >>> volume.values.ravel()
    array([0, 1], dtype=int8)
    >>> bool(np.array_equal(volume.roi.to_masks(), masks))
    True
    """

    def __init__(self, obj: xr.DataArray) -> None:
        self._obj = obj

    # --- the ``roi`` coordinate, which this accessor hides -----------------------------------

    def _coord(self) -> xr.DataArray:
        if "roi" not in self._obj.coords:
            raise AttributeError(f"this DataArray has no 'roi' coordinate (dims {self._obj.dims})")
        return self._obj["roi"]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._coord(), name)

    def __dir__(self) -> list[str]:
        coord = dir(self._obj["roi"]) if "roi" in self._obj.coords else []
        return sorted({*object.__dir__(self), *coord})

    def __getitem__(self, key: Any) -> Any:
        return self._coord()[key]

    def __iter__(self) -> Iterator[xr.DataArray]:
        return iter(self._coord())

    def __len__(self) -> int:
        return len(self._coord())

    def __contains__(self, key: Any) -> bool:
        return key in self._coord()

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        return np.asarray(self._coord().values, dtype=dtype)

    def __eq__(self, other: object) -> Any:  # type: ignore[override]
        return self._coord() == other

    def __ne__(self, other: object) -> Any:  # type: ignore[override]
        return self._coord() != other

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        if "roi" in self._obj.coords:
            return repr(self._coord())
        return f"<RoiAccessor of a DataArray with dims {self._obj.dims}>"

    # --- conversions ------------------------------------------------------------------------

    def to_dict(
        self, *, split_lr: bool = False, layout: forms.Layout = "xyz"
    ) -> dict[str, np.ndarray]:
        """Masks as ``{name: array}``; see :func:`roixr.forms.to_dict`."""
        from roixr.forms import to_dict  # imported on use: see roixr._accessor_hook

        return to_dict(self._obj, split_lr=split_lr, layout=layout)

    def to_index_volume(
        self, *, overlap: Literal["raise", "last"] = "raise"
    ) -> tuple[xr.DataArray, dict[str, int]]:
        """Masks as a signed index volume and ``{name: index}``; see
        :func:`roixr.forms.to_index_volume`."""
        from roixr.forms import to_index_volume

        return to_index_volume(self._obj, overlap=overlap)

    def to_masks(self, labels: dict[str, int] | None = None) -> xr.DataArray:
        """An index volume back to bool masks; see :func:`roixr.forms.from_index_volume`."""
        from roixr.forms import from_index_volume

        return from_index_volume(self._obj, labels)

    def to_nifti(
        self, path: str | os.PathLike, *, split_lr: bool = False, overwrite: bool = False
    ) -> Path:
        """Masks or an index volume as NIfTI; see :func:`roixr.nifti.to_nifti`."""
        from roixr.nifti import to_nifti

        return to_nifti(self._obj, path, split_lr=split_lr, overwrite=overwrite)

    def to_zarr(
        self,
        store: str | os.PathLike,
        *,
        mode: Literal["w-", "w"] = "w-",
        group: str | None = None,
        compute: bool = True,
    ) -> Any:
        """Masks or an index volume to a zarr store; see :func:`roixr.store.to_zarr`."""
        from roixr.store import to_zarr  # zarr is imported only when used

        return to_zarr(self._obj, store, mode=mode, group=group, compute=compute)

    # --- time series ------------------------------------------------------------------------

    def timeseries(
        self,
        bold: Any,
        stat: Literal["mean", "median", "sum", "std", "count"] = "mean",
        *,
        time_dim: str = "time",
        tol: float = 0.01,
    ) -> xr.DataArray:
        """ROI time series of ``bold`` with these masks (or this index volume), lazily:
        ``masks.roi.timeseries(bold)`` is ``roixr.roi_timeseries(bold, masks)``; see
        :func:`roixr.timeseries.roi_timeseries`."""
        from roixr.timeseries import roi_timeseries

        return roi_timeseries(bold, self._obj, stat, time_dim=time_dim, tol=tol)
