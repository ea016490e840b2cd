"""A cohort subject's masks in the compact layout (cohort layout 2): three files a subject.

A subject is a zarr group whose attributes hold everything small (the coordinates, the
provenance, the completion mark) and one array of masks, sharded so that all its chunks are
one file (one object)::

    <subject>/zarr.json                     attributes: roixr_complete, roixr_kind,
                                            roixr_provenance, roixr_coords, roixr_data
    <subject>/roixr-data-<id>/zarr.json     the masks' array (dimension names, attributes)
    <subject>/roixr-data-<id>/c/0/0/0/0/0   its one shard

The layout of :func:`roixr.to_zarr` (one array per coordinate, one file per chunk) costs
18 files for the synthetic subject; this one 3, whatever the number of chunks.

Each write (a task's attempt) goes to a new ``roixr-data-<id>`` array; the subject's
``zarr.json``, written last and whole, names it (``roixr_data``) and says it is complete.
So a subject never reads as complete before its data is, on a local disk or on object
storage (no rename needed), and an attempt that a dask worker runs twice (a worker retired
mid-task) switches the subject from one complete array to another, never to a part.
"""

from __future__ import annotations

import itertools
import json
import math
import uuid
from typing import Any

import dask.array as da
import numpy as np
import xarray as xr
import zarr
from dask.base import tokenize

from roixr.errors import ForeignStoreError, StoreError
from roixr.store.format import COMPLETE, COORDS, DATA, KIND, PROVENANCE, group_attrs
from roixr.store.location import Location, join

__all__ = ["DATA_PREFIX", "open_subject", "write_group", "write_subject", "written_since"]

DATA_PREFIX = "roixr-data-"
"""The name of an array (or group) that holds a subject's (or a replaced store's) data."""


def _plain(value: Any) -> Any:
    """A JSON-able copy of an attribute value (numpy arrays and scalars as lists and
    Python numbers)."""
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return {"float": repr(value)}  # JSON has no NaN or infinity
    return value


def _unplain(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"float"}:
            return float(value["float"])
        return {k: _unplain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unplain(v) for v in value]
    return value


def _coords(obj: xr.DataArray) -> dict[str, Any]:
    """Every coordinate of ``obj`` (computed: they are small) as JSON."""
    out = {}
    for name, coord in obj.coords.items():
        values = np.asarray(coord.values)
        kind = "str" if values.dtype.kind in "OUS" else values.dtype.str
        data = values.astype(str) if kind == "str" else values
        out[str(name)] = {
            "dims": list(coord.dims),
            "dtype": kind,
            "data": _plain(data),
            "attrs": _plain(dict(coord.attrs)),
        }
    return out


def _from_coords(coords: dict[str, Any]) -> dict[str, xr.Variable]:
    out = {}
    for name, c in coords.items():
        data = _unplain(c["data"])
        values = np.array(data, dtype=str) if c["dtype"] == "str" else np.array(
            data, dtype=np.dtype(c["dtype"]))  # fmt: skip
        out[name] = xr.Variable(tuple(c["dims"]), values, attrs=_unplain(c["attrs"]))
    return out


def write_group(loc: Location, key: str, attrs: dict[str, Any]) -> None:
    """Write a zarr group's metadata (``key/zarr.json``) whole, in one write: its
    attributes replace the old ones at once, and nothing under the group is touched."""
    doc = {"zarr_format": 3, "node_type": "group", "attributes": _plain(attrs)}
    loc.write_bytes(join(key, "zarr.json"), json.dumps(doc, allow_nan=False).encode())


def _compressors() -> list:
    from zarr.codecs import ZstdCodec

    return [ZstdCodec(level=3)]


def written_since(loc: Location, name: str, replaces: str | None) -> str | None:
    """The data another attempt completed a subject with since its write was planned
    (when the subject's data was ``replaces``: None for a subject not complete then), or
    None."""
    now = group_attrs(loc, name)
    done = now.get(DATA) if now.get(COMPLETE) else None
    return str(done) if done is not None and done != replaces else None


SHARD_BYTES = 256 * 2**20
"""The most a shard holds uncompressed (a subject's masks are one shard up to this size)."""


def _shards(shape: tuple[int, ...], chunks: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    """A shard shape: the whole array (rounded up to whole chunks), or slabs of whole chunks
    along the axis with the most chunks where that exceeds :data:`SHARD_BYTES`."""
    shards = [math.ceil(s / c) * c for s, c in zip(shape, chunks, strict=True)]
    if not shards:
        return ()
    axis = max(range(len(shape)), key=lambda k: shards[k] // chunks[k])
    while math.prod(shards) * itemsize > SHARD_BYTES and shards[axis] > chunks[axis]:
        shards[axis] = math.ceil(shards[axis] // chunks[axis] / 2) * chunks[axis]
    return tuple(shards)


def _regions(shape: tuple[int, ...], shards: tuple[int, ...]) -> list[tuple[slice, ...]]:
    """The array's part of each shard."""
    starts = [range(0, s, h) for s, h in zip(shape, shards, strict=True)]
    return [
        tuple(slice(b, min(b + h, s)) for b, h, s in zip(corner, shards, shape, strict=True))
        for corner in itertools.product(*starts)
    ]


def write_subject(masks: xr.DataArray, loc: Location, name: str, provenance: dict,
                  replaces: str | None = None) -> str:  # fmt: skip
    """Write one subject's masks in the compact layout, completion last; its data's name.

    The masks are computed shard by shard (one, up to :data:`SHARD_BYTES`) on the calling
    thread, each shard written whole in one call: one writer per shard. ``replaces`` is the
    data the subject was complete with when its write was planned (None if it was not). Where
    another attempt completed the subject meanwhile (:func:`written_since`), this one's data
    is dropped and the subject left as that attempt wrote it. Where this attempt's data was
    removed while written (a cohort writer cleaning up after it), it raises rather than
    mark complete what lost chunks. Once the subject's ``zarr.json`` names the new data, the
    data it replaces and that of attempts cut short are removed.

    Raises
    ------
    StoreError
        If the data was removed while written.
    """
    data = masks.data if isinstance(masks.data, da.Array) else da.from_array(masks.data)
    chunks = tuple(c[0] for c in data.chunks)
    if any(len(set(c[:-1])) > 1 or c[-1] > c[0] for c in data.chunks):
        data = data.rechunk(chunks)  # a shard's inner chunks are regular
    shards = _shards(data.shape, chunks, data.dtype.itemsize)
    version = f"{DATA_PREFIX}{uuid.uuid4().hex[:12]}"
    arr = zarr.create_array(
        loc.zarr_store(),
        name=join(name, version),
        shape=data.shape,
        chunks=chunks,
        shards=shards,
        dtype=data.dtype,
        fill_value=np.zeros((), data.dtype).item(),
        compressors=_compressors(),
        dimension_names=[str(d) for d in masks.dims],
        attributes=_plain(dict(masks.attrs)),
    )
    # one shard at a time, computed whole on this thread (never dask's threads: two writers
    # of one shard lose chunks, zarr-python #3682) and written in one call
    for region in _regions(data.shape, shards):
        arr[region] = data[region].compute(scheduler="synchronous")
    other = written_since(loc, name, replaces)
    if other is not None:  # another attempt (a worker retired mid-task, its task run
        loc.remove(join(name, version))  # elsewhere too) completed it: keep that
        return other
    if not loc.isfile(join(name, version, "zarr.json")):
        raise StoreError(  # removed while written: chunks written before are lost
            f"the data of subject {name!r} in {loc} was removed while it was being written "
            "(by another writer of this cohort, or by hand), so it is not marked complete.",
            fix="Write the subject again, with one writer at a time per subject.",
            option="redo",
        )
    write_group(
        loc,
        name,
        {
            COMPLETE: True,
            KIND: str(masks.name),
            PROVENANCE: provenance,
            COORDS: _coords(masks),
            DATA: version,
        },
    )
    for child in loc.listdir(name):  # the data it replaces, and attempts cut short
        if child.startswith(DATA_PREFIX) and child != version:
            loc.remove(join(name, child))
    return version


def open_subject(loc: Location, name: str, attrs: dict[str, Any]) -> xr.DataArray:
    """A subject written by :func:`write_subject`, lazily (a dask array over its shard's
    chunks), with its coordinates and attributes; ``attrs`` are its group's."""
    key = join(name, str(attrs[DATA]))
    arr = zarr.open_array(loc.zarr_store(read_only=True), path=key, mode="r")
    dims = tuple(getattr(arr.metadata, "dimension_names", None) or ())
    if len(dims) != arr.ndim or KIND not in attrs:
        raise ForeignStoreError(
            f"{loc} (group {name!r}) names {key!r} as its data, an array without its "
            "dimension names or a group without its kind: it was changed after roixr wrote it.",
            fix="Write the subject again (roixr.write_cohort with redo=).",
            option="redo",
        )
    data = da.from_array(arr, chunks=arr.chunks, name=f"roixr-open-{tokenize(str(loc), key)}")
    coords = _from_coords(attrs.get(COORDS, {}))
    return xr.DataArray(
        data, dims=dims, coords=coords, name=str(attrs[KIND]), attrs=_unplain(dict(arr.attrs))
    )
