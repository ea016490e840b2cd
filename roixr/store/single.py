"""Single zarr stores of ROI masks (and index volumes) that know what they hold.

A store is a zarr 3 group, on disk or on object storage (an fsspec URL), holding the
DataArray as one variable (``roi_masks`` or ``roi_index``), zstd-compressed, with every
coord and attr. The group's attributes (the
format, :mod:`roixr.store.format`) record what the store is, what made it (subject,
transform, sampler, ROIs and their source, options, roixr version, time) and whether its
write finished (set only after all data is written). Opening tells apart a path that is not
a zarr store, a zarr store roixr did not write, a cohort opened as a single store, and an
interrupted write.

Replacing an existing store (``mode="w"``) never leaves the old store broken before the new
one is complete, so a store can be rewritten from data read lazily from itself:

- on local disk the new data goes to a temporary sibling folder, which is swapped in with
  :func:`os.replace` once complete;
- on object storage (no rename there) the new data goes to a new group under the store,
  ``<store>/roixr-data-<id>``; once it is complete, one small object is written: the
  store's ``zarr.json``, whose attributes name that group (``roixr_data``) and say
  ``roixr_complete``. That single PUT is the switch (an object is replaced whole); readers
  follow the pointer, and the old data is deleted after it. A writer killed before the
  switch leaves the old store whole (and an unreferenced group the next write deletes).
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
from roixr.store.compact import DATA_PREFIX, open_subject
from roixr.store.format import (
    COHORT,
    COMPLETE,
    COORDS,
    DATA,
    KIND,
    PROVENANCE,
    SINGLE_KINDS,
    TIMESERIES,
    check_kind,
    data_group,
    group_attrs,
    store_kind,
    where,
)
from roixr.store.location import Location, StoreLike, as_location, join

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
    store: StoreLike,
    *,
    mode: Literal["w-", "w"] = "w-",
    group: str | None = None,
    compute: bool = True,
    storage_options: dict[str, Any] | None = None,
):
    """Write masks or an index volume to a zarr store, on disk or on object storage.

    Parameters
    ----------
    obj : xarray.DataArray
        ``roi_masks`` (from :func:`roixr.roi_masks`) or ``roi_index``.
    store : path-like or str
        The store's folder (its parent folder must exist), or an fsspec URL
        (``s3://bucket/masks.zarr``, ``gs://...``, ``memory://...``; the bucket must exist).
    mode : {"w-", "w"}
        ``"w-"`` (default) refuses an existing store; ``"w"`` replaces it. A replaced store
        stays intact until the new one is completely written (on disk the new data goes to
        a temporary sibling folder first; on object storage to a new group that the store's
        metadata names once it is complete), so ``obj`` may be read from the store it
        replaces.
    group : str, optional
        Write into this group of the store.
    compute : bool
        False returns a ``dask.delayed`` that writes the data and then marks the store
        complete.
    storage_options : dict, optional
        For a URL: the options of its fsspec filesystem (credentials, endpoint), e.g.
        ``{"key": ..., "secret": ..., "client_kwargs": {"endpoint_url": ...}}`` for s3://.
        Without them, the filesystem reads its credentials from the environment.

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
        If the parent folder (or the URL's bucket) does not exist.
    StoreError
        If a URL cannot be reached or its credentials are refused.
    """
    name = _check_kind(obj)
    loc = as_location(store, storage_options)
    if mode not in ("w-", "w"):
        raise StoreError(
            f"mode must be 'w-' (refuse an existing store) or 'w' (replace it), got {mode!r}"
        )
    if loc.path is None:
        return _to_object_store(obj, name, loc, mode, group, compute)
    path = loc.path
    if not path.parent.is_dir():
        raise OutputPathError(
            f"the folder {path.parent} for the store {path.name!r} does not exist; create it "
            "first (roixr does not create parent folders, so a typo cannot scatter stores)."
        )
    target = path if group is None else path / group
    exists = _exists(path, group)
    _refuse_replacing(path, group, exists, mode)
    if exists and target.is_file():
        raise StoreError(f"{target} is a file, not a folder; choose another path")
    # an existing store is replaced only once the new one is complete: write beside it
    tmp = target.with_name(f".{target.name}.roixr-tmp-{uuid.uuid4().hex[:8]}") if exists else None
    ds = _dataset(obj, name)
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


def _dataset(obj: xr.DataArray, name: str) -> xr.Dataset:
    """What is written: the variable, its coords, and the store's attributes (not complete)."""
    ds = _regular(obj).to_dataset(name=name)
    # variable-length strings: zarr 3 has no stable spec for fixed-width unicode
    ds = ds.assign_coords(
        {d: ds[d].astype(object) for d in ("roi", "hemisphere") if d in ds.coords}
    )
    ds.attrs = {COMPLETE: False, KIND: name, PROVENANCE: provenance(obj)}
    for coord in ds.coords.values():
        coord.encoding.pop("chunks", None)
    return ds


def _refuse_replacing(store: Any, group: str | None, exists: bool, mode: str) -> None:
    """Refuse to write over an existing store unless ``mode="w"``, and never replace a
    cohort or a time-series store by a single one (a path or a Location)."""
    if exists and mode == "w-":
        raise StoreExistsError(
            f"{where(store, group)} already exists; roixr never overwrites a store unless asked.",
            fix="Pass mode='w' to replace it, or choose another path.",
            option="mode",
        )
    held = store_kind(store) if exists and group is None else None
    if held in (COHORT, TIMESERIES):
        what = "cohort store (roixr.write_cohort)" if held == COHORT else (
            "time-series store (roixr.extract_cohort)")  # fmt: skip
        raise StoreKindError(
            f"{store} is a {what}; replacing it would replace all its subjects by one.",
            fix="Write to another path, or delete that store first.",
            option="out",
        )


def _to_object_store(obj: xr.DataArray, name: str, loc: Location, mode: str,
                     group: str | None, compute: bool):  # fmt: skip
    """:func:`to_zarr` to a URL: no rename, so a replacement switches a pointer."""
    loc.check_writable("the store")
    key = group or ""
    exists = not loc.is_empty(key)
    _refuse_replacing(loc, group, exists, mode)
    if exists and loc.isfile(key):
        raise StoreError(f"{where(loc, group)} is an object, not a store; choose another URL")
    ds = _dataset(obj, name)
    # a new store: its attributes say "not complete" from the first write; a replaced one:
    # the new data beside the old, under the store, switched to when complete
    version = f"{DATA_PREFIX}{uuid.uuid4().hex[:12]}" if exists else None
    write = ds.to_zarr(
        loc.zarr_store(),
        group=join(group, version) if version else group,
        mode="w",
        encoding={name: {"compressors": _compressors()}},
        consolidated=False,
        compute=False,
        zarr_format=3,
    )
    if version is None:
        done = dask.delayed(_mark_complete, pure=True)(write, loc, group)
    else:
        done = dask.delayed(_switch, pure=True)(write, loc, group, version, dict(ds.attrs))
    if not compute:
        return done
    done.compute()
    return None


def _mark_complete(_written, path: str | Location, group: str | None) -> str:
    store = as_location(path).zarr_store()
    zarr.open_group(store, path=group or "", mode="r+").attrs[COMPLETE] = True
    return str(path)


def _switch(_written, loc: Location, group: str | None, version: str,
            attrs: dict[str, Any]) -> str:  # fmt: skip
    """Point the store at its new, complete data, then delete the old data.

    The switch is one object written: the store's ``zarr.json``, with attributes naming the
    new group and saying complete. Before it, readers see the old store whole; after it,
    the new one. Old data is deleted only once the pointer names the new group.
    """
    store = loc.zarr_store()
    _mark_complete(None, loc, join(group, version))  # the new group is a whole store itself
    root = zarr.open_group(store, path=group or "", mode="a", zarr_format=3)
    root.attrs.put({**attrs, COMPLETE: True, DATA: version})
    if group_attrs(loc, group).get(DATA) == version:  # not overtaken by another writer
        key = group or ""
        for child in loc.listdir(key):
            if child not in (version, "zarr.json"):
                loc.remove(join(key, child))
    return str(loc)


def _swap(_written, tmp: str, target: str) -> str:
    """Mark the new store complete, then put it in place of the old one."""
    _mark_complete(None, tmp, None)
    old = Path(target).with_name(f".{Path(target).name}.roixr-old-{uuid.uuid4().hex[:8]}")
    os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)
    return target


# --- what a store is ------------------------------------------------------------------------


def store_info(
    store: StoreLike,
    group: str | None = None,
    *,
    storage_options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """What a store holds: its kind, whether its write finished, and its provenance.

    ``store`` is a path or an fsspec URL (with ``storage_options``, as :func:`to_zarr`).

    Returns
    -------
    dict
        ``{"kind": ..., "complete": bool, "provenance": {...}}``; ``kind`` is None for a
        zarr store roixr did not write.
    """
    loc = as_location(store, storage_options)
    attrs = group_attrs(loc, group)
    return {
        "kind": store_kind(loc, group),
        "complete": bool(attrs.get(COMPLETE, False)),
        "provenance": dict(attrs.get(PROVENANCE, {})),
    }


def open_roi_masks(
    store: StoreLike,
    *,
    group: str | None = None,
    storage_options: dict[str, Any] | None = None,
) -> xr.DataArray:
    """Open masks (or an index volume) written by :func:`to_zarr`, lazily.

    Parameters
    ----------
    store : path-like or str
        The store's folder, or its fsspec URL (``s3://bucket/masks.zarr``).
    group : str, optional
        The group of the store that holds the masks (a cohort's subject).
    storage_options : dict, optional
        For a URL: the options of its fsspec filesystem (credentials, endpoint).

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
    StoreError
        If a URL cannot be reached or its credentials are refused.
    """
    loc = as_location(store, storage_options)
    kind = check_kind(loc, group, want="single", opener="roixr.open_roi_masks")
    attrs = group_attrs(loc, group)
    if group is not None and COORDS in attrs:  # a subject of a layout-2 cohort
        return plain_labels(open_subject(loc, group, attrs))
    data = data_group(attrs, group)
    ds = xr.open_zarr(loc.zarr_store(read_only=True), group=data, consolidated=False, chunks={})
    if kind not in ds.data_vars:
        raise ForeignStoreError(
            f"{where(loc, group)} should hold {kind!r} but holds {list(ds.data_vars)}; it "
            "was changed after roixr wrote it. Write it again."
        )
    return plain_labels(ds[kind])
