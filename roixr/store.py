"""Zarr stores of ROI masks (and index volumes), with completion markers.

A store is a zarr 3 group on disk holding the DataArray as one variable (``roi_masks`` or
``roi_index``), zstd-compressed, with every coord and attr. The group's ``roixr_complete``
attribute is set to true only after all data is written, so a store whose write was
interrupted is refused on open instead of reading as fill values.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import dask
import dask.array as da
import numpy as np
import xarray as xr
import zarr

import roixr.accessor  # noqa: F401  (registers the .roixr accessor)
from roixr.errors import (
    IncompleteStoreError,
    StoreError,
    StoreExistsError,
    StoreNotFoundError,
)

__all__ = ["COMPLETE", "open_roi_masks", "to_zarr"]

COMPLETE = "roixr_complete"
VARIABLES = ("roi_masks", "roi_index")


def _compressors() -> list:
    from zarr.codecs import ZstdCodec

    return [ZstdCodec(level=3)]


def _check_kind(obj: xr.DataArray) -> str:
    if not isinstance(obj, xr.DataArray) or obj.name not in VARIABLES:
        raise StoreError(
            f"to_zarr takes roixr masks (a DataArray named 'roi_masks') or an index volume "
            f"('roi_index'), got {type(obj).__name__} named {getattr(obj, 'name', None)!r}. "
            "Build it with roixr.roi_masks or masks.roixr.to_index_volume()."
        )
    return str(obj.name)


def _regular(obj: xr.DataArray) -> xr.DataArray:
    """Zarr needs regular chunks: rechunk irregular dask chunks to the first block's size."""
    if not isinstance(obj.data, da.Array):
        return obj
    chunks = obj.data.chunks
    regular = all(len(set(c[:-1])) <= 1 and c[-1] <= c[0] for c in chunks)
    return obj if regular else obj.chunk(dict(zip(obj.dims, (c[0] for c in chunks), strict=True)))


def _exists(path: Path, group: str | None) -> bool:
    target = path if group is None else path / group
    return target.exists() and any(target.iterdir())


def to_zarr(
    obj: xr.DataArray,
    store: str | os.PathLike,
    *,
    mode: Literal["w-", "w"] = "w-",
    group: str | None = None,
    compute: bool = True,
):
    """Write masks or an index volume to a zarr store on disk.

    Parameters
    ----------
    obj : xarray.DataArray
        ``roi_masks`` (from :func:`roixr.roi_masks`) or ``roi_index``.
    store : path-like
        The store's folder.
    mode : {"w-", "w"}
        ``"w-"`` (default) refuses an existing store; ``"w"`` overwrites it.
    group : str, optional
        Write into this group of the store.
    compute : bool
        False returns a ``dask.delayed`` that writes the data and then marks the store
        complete.

    Returns
    -------
    None or dask.delayed.Delayed

    Raises
    ------
    StoreExistsError
        If the store exists and ``mode="w-"``.
    """
    name = _check_kind(obj)
    path = Path(store)
    if mode not in ("w-", "w"):
        raise StoreError(f"mode must be 'w-' (refuse existing) or 'w' (overwrite), got {mode!r}")
    if mode == "w-" and _exists(path, group):
        raise StoreExistsError(
            f"{path if group is None else f'{path} (group {group!r})'} already exists; roixr "
            "never overwrites a store unless asked. Pass mode='w' to replace it, or choose "
            "another path."
        )
    ds = _regular(obj).to_dataset(name=name)
    # variable-length strings: zarr 3 has no stable spec for fixed-width unicode
    ds = ds.assign_coords(
        {d: ds[d].astype(object) for d in ("roi", "hemisphere") if d in ds.coords}
    )
    ds.attrs[COMPLETE] = False
    for coord in ds.coords.values():
        coord.encoding.pop("chunks", None)
    write = ds.to_zarr(
        path,
        group=group,
        mode="w",
        encoding={name: {"compressors": _compressors()}},
        consolidated=False,
        compute=False,
        zarr_format=3,
    )
    done = dask.delayed(_mark_complete)(write, str(path), group)
    if not compute:
        return done
    done.compute()
    return None


def _mark_complete(_written, path: str, group: str | None) -> str:
    zarr.open_group(path, path=group or "", mode="r+").attrs[COMPLETE] = True
    return path


def is_complete(store: str | os.PathLike, group: str | None = None) -> bool:
    """Whether the store (or one of its groups) was completely written."""
    try:
        g = zarr.open_group(str(store), path=group or "", mode="r")
    except (FileNotFoundError, zarr.errors.GroupNotFoundError, ValueError):
        return False
    return bool(g.attrs.get(COMPLETE, False))


def open_roi_masks(store: str | os.PathLike, *, group: str | None = None) -> xr.DataArray:
    """Open masks (or an index volume) written by :func:`to_zarr`, lazily.

    Raises
    ------
    StoreNotFoundError
        If there is no store at ``store``.
    IncompleteStoreError
        If the store's write did not finish; the message says how to redo it.
    """
    path = Path(store)
    where = f"{path}" if group is None else f"{path} (group {group!r})"
    if not (path if group is None else path / group).exists():
        raise StoreNotFoundError(
            f"no zarr store at {where}. Write one with masks.roixr.to_zarr()."
        )
    if not is_complete(path, group):
        raise IncompleteStoreError(
            f"the store at {where} was not completely written (the write was interrupted or "
            "is still running); its data would read as fill values. Write it again with "
            "mode='w'."
        )
    ds = xr.open_zarr(path, group=group, consolidated=False, chunks={})
    names = [v for v in VARIABLES if v in ds.data_vars]
    if not names:
        raise StoreError(f"{where} holds no roixr masks (variables: {list(ds.data_vars)})")
    return plain_labels(ds[names[0]])


def plain_labels(obj):
    """Give the ``roi`` and ``hemisphere`` coords back their fixed-width str dtype (zarr
    stores them as variable-length strings, which read back as object or StringDType)."""
    labels = {
        dim: np.array(obj[dim].values.tolist(), dtype=str)
        for dim in ("roi", "hemisphere")
        if dim in obj.coords and obj[dim].dtype.kind != "U"
    }
    return obj.assign_coords(labels) if labels else obj
