"""Single zarr stores of ROI masks (and index volumes) that know what they hold.

A store is a zarr 3 group on disk holding the DataArray as one variable (``roi_masks`` or
``roi_index``), zstd-compressed, with every coord and attr. The group's attributes (the
format, :mod:`roixr.store.format`) record what the store is, what made it (subject,
transform, sampler, ROIs and their source, options, roixr version, time) and whether its
write finished (set only after all data is written). Opening tells apart a path that is not
a zarr store, a zarr store roixr did not write, a cohort opened as a single store, and an
interrupted write.

Replacing an existing store (``mode="w"``) writes the new data to a temporary sibling
folder and swaps it in only when complete, so the old store stays intact until then and a
store can be rewritten from data read lazily from itself.
"""

from __future__ import annotations

import datetime
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Literal

import dask
import dask.array as da
import xarray as xr
import zarr

from roixr import __version__
from roixr.errors import (
    ForeignStoreError,
    OutputPathError,
    StoreError,
    StoreExistsError,
    StoreKindError,
)
from roixr.forms import plain_labels
from roixr.store.format import (
    COHORT,
    COMPLETE,
    KIND,
    PROVENANCE,
    SINGLE_KINDS,
    TIMESERIES,
    check_kind,
    group_attrs,
    store_kind,
    where,
)

__all__ = ["open_roi_masks", "provenance", "store_info", "to_zarr"]

_PROVENANCE_ATTRS = ("subject", "xfm", "sampler", "threshold", "allow_overlap", "source",
                     "roixr_version")  # fmt: skip


def _compressors() -> list:
    from zarr.codecs import ZstdCodec

    return [ZstdCodec(level=3)]


def _check_kind(obj: xr.DataArray) -> str:
    if not isinstance(obj, xr.DataArray) or obj.name not in SINGLE_KINDS:
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
    return target.exists() and (not target.is_dir() or any(target.iterdir()))


def provenance(obj: xr.DataArray) -> dict[str, Any]:
    """What made ``obj``: its provenance attrs, the ROIs, and when it was written."""
    out: dict[str, Any] = {k: obj.attrs[k] for k in _PROVENANCE_ATTRS if k in obj.attrs}
    if "roi" in obj.coords:
        out["rois"] = [str(r) for r in obj["roi"].values]
    elif "flag_meanings" in obj.attrs:
        out["rois"] = str(obj.attrs["flag_meanings"]).split()
    out.setdefault("roixr_version", __version__)
    out["written"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    return out


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
        The store's folder. Its parent folder must exist.
    mode : {"w-", "w"}
        ``"w-"`` (default) refuses an existing store; ``"w"`` replaces it. A replaced store
        stays intact until the new one is completely written (the new data goes to a
        temporary sibling folder first), so ``obj`` may be read from the store it replaces.
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
    StoreKindError
        If ``mode="w"`` would replace a cohort store by a single store.
    OutputPathError
        If the parent folder does not exist.
    """
    name = _check_kind(obj)
    path = Path(store)
    if mode not in ("w-", "w"):
        raise StoreError(
            f"mode must be 'w-' (refuse an existing store) or 'w' (replace it), got {mode!r}"
        )
    if not path.parent.is_dir():
        raise OutputPathError(
            f"the folder {path.parent} for the store {path.name!r} does not exist; create it "
            "first (roixr does not create parent folders, so a typo cannot scatter stores)."
        )
    target = path if group is None else path / group
    exists = _exists(path, group)
    if exists and mode == "w-":
        raise StoreExistsError(
            f"{where(path, group)} already exists; roixr never overwrites a store unless asked.",
            fix="Pass mode='w' to replace it, or choose another path.",
            option="mode",
        )
    held = store_kind(path) if exists and group is None else None
    if held in (COHORT, TIMESERIES):
        what = "cohort store (roixr.write_cohort)" if held == COHORT else (
            "time-series store (roixr.extract_cohort)")  # fmt: skip
        raise StoreKindError(
            f"{path} is a {what}; replacing it would replace all its subjects by one.",
            fix="Write to another path, or delete that store first.",
            option="out",
        )
    if exists and target.is_file():
        raise StoreError(f"{target} is a file, not a folder; choose another path")
    # an existing store is replaced only once the new one is complete: write beside it
    tmp = target.with_name(f".{target.name}.roixr-tmp-{uuid.uuid4().hex[:8]}") if exists else None
    ds = _regular(obj).to_dataset(name=name)
    # variable-length strings: zarr 3 has no stable spec for fixed-width unicode
    ds = ds.assign_coords(
        {d: ds[d].astype(object) for d in ("roi", "hemisphere") if d in ds.coords}
    )
    ds.attrs = {COMPLETE: False, KIND: name, PROVENANCE: provenance(obj)}
    for coord in ds.coords.values():
        coord.encoding.pop("chunks", None)
    write = ds.to_zarr(
        tmp if tmp is not None else path,
        group=None if tmp is not None else group,
        mode="w",
        encoding={name: {"compressors": _compressors()}},
        consolidated=False,
        compute=False,
        zarr_format=3,
    )
    if tmp is None:
        done = dask.delayed(_mark_complete, pure=True)(write, str(path), group)
    else:
        done = dask.delayed(_swap, pure=True)(write, str(tmp), str(target))
    if not compute:
        return done
    done.compute()
    return None


def _mark_complete(_written, path: str, group: str | None) -> str:
    zarr.open_group(path, path=group or "", mode="r+").attrs[COMPLETE] = True
    return path


def _swap(_written, tmp: str, target: str) -> str:
    """Mark the new store complete, then put it in place of the old one."""
    _mark_complete(None, tmp, None)
    old = Path(target).with_name(f".{Path(target).name}.roixr-old-{uuid.uuid4().hex[:8]}")
    os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)
    return target


# --- what a store is ------------------------------------------------------------------------


def store_info(store: str | os.PathLike, group: str | None = None) -> dict[str, Any]:
    """What a store holds: its kind, whether its write finished, and its provenance.

    Returns
    -------
    dict
        ``{"kind": ..., "complete": bool, "provenance": {...}}``; ``kind`` is None for a
        zarr store roixr did not write.
    """
    path = Path(store)
    attrs = group_attrs(path, group)
    return {
        "kind": store_kind(path, group),
        "complete": bool(attrs.get(COMPLETE, False)),
        "provenance": dict(attrs.get(PROVENANCE, {})),
    }


def open_roi_masks(store: str | os.PathLike, *, group: str | None = None) -> xr.DataArray:
    """Open masks (or an index volume) written by :func:`to_zarr`, lazily.

    Raises
    ------
    StoreNotFoundError
        If there is no store at ``store``.
    ForeignStoreError
        If ``store`` is not a zarr store, or a zarr store roixr did not write.
    StoreKindError
        If it is a cohort store (use :func:`roixr.open_cohort`).
    IncompleteStoreError
        If the store's write did not finish; the message says how much was written.
    """
    path = Path(store)
    kind = check_kind(path, group, want="single", opener="roixr.open_roi_masks")
    ds = xr.open_zarr(path, group=group, consolidated=False, chunks={})
    if kind not in ds.data_vars:
        raise ForeignStoreError(
            f"{where(path, group)} should hold {kind!r} but holds {list(ds.data_vars)}; it "
            "was changed after roixr wrote it. Write it again."
        )
    return plain_labels(ds[kind])
