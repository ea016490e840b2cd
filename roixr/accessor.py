"""The ``.roixr`` accessor on xarray DataArrays: the conversions as methods.

Importing this module registers the accessor. :mod:`roixr.forms` (the masks contract, which
every module of roixr's xarray layer uses) is the one module that imports it, and
``import roixr`` does when xarray is already imported. It is a leaf: it imports no roixr
module when it is imported, and each method calls the public function of the same name
(``masks.roixr.to_dict()`` is ``roixr.to_dict(masks)``). Like rioxarray's ``.rio``, it keeps
only the wrapped object; everything lasting lives in the DataArray's coords and attrs,
because xarray builds a new accessor for every new object. Its name is not a coordinate's,
so ``masks.roi`` stays the ``roi`` coordinate.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import xarray as xr

__all__ = ["RoixrAccessor"]


@xr.register_dataarray_accessor("roixr")
class RoixrAccessor:
    """Conversions of ROI masks and index volumes: ``masks.roixr.to_dict()``, ...

    Masks have dims ``(roi, hemisphere, x, y, z)``; an index volume has dims ``(x, y, z)``
    and signed integers. Each method checks that it was called on the right kind and raises
    :class:`~roixr.errors.FormError` otherwise.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> import roixr.forms  # any module of roixr's xarray layer registers the accessor
    >>> data = np.zeros((1, 2, 2, 1, 1), bool); data[0, 1, 1] = True
    >>> masks = xr.DataArray(data, dims=("roi", "hemisphere", "x", "y", "z"),
    ...                      coords={"roi": ["V1"], "hemisphere": ["L", "R"]})
    >>> volume, labels = masks.roixr.to_index_volume()
    >>> volume.values.ravel()
    array([0, 1], dtype=int8)
    >>> bool(np.array_equal(volume.roixr.to_masks(), masks))
    True
    """

    def __init__(self, obj: xr.DataArray) -> None:
        self._obj = obj

    # --- conversions ------------------------------------------------------------------------

    def to_dict(
        self, *, split_lr: bool = False, layout: Literal["xyz", "pycortex"] = "xyz"
    ) -> dict[str, np.ndarray]:
        """Masks as ``{name: array}``; see :func:`roixr.convert.to_dict`."""
        import roixr

        return roixr.to_dict(self._obj, split_lr=split_lr, layout=layout)

    def to_index_volume(
        self, *, overlap: Literal["raise", "last"] = "raise"
    ) -> tuple[xr.DataArray, dict[str, int]]:
        """Masks as a signed index volume and ``{name: index}``; see
        :func:`roixr.convert.to_index_volume`."""
        import roixr

        return roixr.to_index_volume(self._obj, overlap=overlap)

    def to_masks(self, labels: dict[str, int] | None = None) -> xr.DataArray:
        """An index volume back to bool masks; see :func:`roixr.convert.from_index_volume`."""
        import roixr

        return roixr.from_index_volume(self._obj, labels)

    def to_nifti(
        self, path: str | os.PathLike, *, split_lr: bool = False, overwrite: bool = False
    ) -> Path:
        """Masks or an index volume as NIfTI; see :func:`roixr.nifti.to_nifti`."""
        import roixr

        return roixr.to_nifti(self._obj, path, split_lr=split_lr, overwrite=overwrite)

    def to_zarr(
        self,
        store: str | os.PathLike,
        *,
        mode: Literal["w-", "w"] = "w-",
        group: str | None = None,
        compute: bool = True,
        storage_options: dict[str, Any] | None = None,
    ) -> Any:
        """Masks or an index volume to a zarr store, a local folder or an fsspec URL
        (``s3://...`` with ``storage_options``); see :func:`roixr.store.to_zarr`."""
        import roixr  # zarr is imported only when used

        return roixr.to_zarr(self._obj, store, mode=mode, group=group, compute=compute,
                             storage_options=storage_options)  # fmt: skip

    # --- time series ------------------------------------------------------------------------

    def timeseries(
        self,
        bold: Any,
        stat: str | Sequence[str] = "mean",
        *,
        hemisphere: Literal["split", "both"] | None = None,
        labels: Mapping[str, int] | None = None,
        time_dim: str = "time",
        tol: float = 0.01,
    ) -> xr.DataArray:
        """ROI time series of ``bold`` with these masks (or this index volume), lazily:
        ``masks.roixr.timeseries(bold)`` is ``roixr.roi_timeseries(bold, masks)``; see
        :func:`roixr.timeseries.roi_timeseries` (nilearn's strategy names, lists of stats,
        ``hemisphere="both"``)."""
        import roixr

        return roixr.roi_timeseries(
            bold,
            self._obj,
            stat,  # type: ignore[arg-type]
            hemisphere=hemisphere,
            labels=labels,
            time_dim=time_dim,
            tol=tol,
        )

    # --- pictures and reports ---------------------------------------------------------------

    def plot(self, **kwargs: Any) -> Any:
        """A picture of this object, as a :class:`matplotlib.figure.Figure` (headless).

        Masks ``(roi, hemisphere, x, y, z)`` and index volumes ``(x, y, z)`` give a mosaic
        of slices (:func:`roixr.plot.plot_masks`); ROI time series ``(roi, hemisphere,
        time)`` give one line per ROI and hemisphere (:func:`roixr.plot.plot_timeseries`).
        Keyword arguments go to that function.
        """
        import roixr

        obj = self._obj
        time_dim = kwargs.get("time_dim", "time")
        if {"roi", "hemisphere", time_dim} <= set(obj.dims):
            return roixr.plot_timeseries(obj, **kwargs)
        return roixr.plot_masks(obj, **kwargs)

    def report(self, path: str | os.PathLike, **kwargs: Any) -> Path:
        """A self-contained HTML report of these masks (mosaic, table per ROI and
        hemisphere, provenance); see :func:`roixr.report.report`."""
        import importlib

        # roixr.report.report, loaded as roixr loads its public names (no import at the top)
        return importlib.import_module("roixr.report").report(self._obj, path, **kwargs)
