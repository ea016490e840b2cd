"""The time-series store of a cohort's runs: written by :func:`roixr.extract_cohort`, opened
by :func:`open_timeseries`.

One zarr group holds every run along one ``run`` dim (the layout is listed in
:mod:`roixr.store.format`): opening reads a few small arrays, whatever the number of runs,
instead of one group per run. Who writes what keeps concurrent writes apart (zarr-python
#3682: two writers of one chunk lose data):

- a run's task writes only that run's chunks of ``roi_timeseries`` (one chunk per run);
- the client (:class:`SeriesStore`) writes everything else: the run index, entities,
  ``n_volumes``, ``repetition_time``, ``coverage``, and ``status``, which it sets to
  complete only after the run's task returned, that is after its data is written.

The run count is ``status``'s length, the ROI and time counts the lengths of ``roi`` and
``time``: the client grows those last, so a client killed while growing the store leaves
longer arrays that readers cut, never a run that looks written.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dask.array as da
import numpy as np
import xarray as xr
import zarr

from roixr._version import __version__
from roixr.cohort.runs import ENTITIES
from roixr.cohort.status import left_out
from roixr.errors import CohortMismatchError, IncompleteStoreError
from roixr.forms import HEMISPHERES
from roixr.store.format import (
    COMPLETE,
    ERRORS,
    INCOMPLETE,
    KIND,
    OPTIONS,
    PROVENANCE,
    RUN_COMPLETE,
    RUN_STATUS,
    RUN_UNFINISHED,
    SERIES,
    TIMESERIES,
    VERSION,
    check_kind,
    group_attrs,
    run_status,
)
from roixr.store.location import Location, StoreLike, as_location

__all__ = [
    "ENTITIES",
    "RunInfo",
    "SeriesStore",
    "entity_coord",
    "open_timeseries",
    "timeseries_status",
    "write_run",
]

"""The BIDS entities of a runs table (:func:`roixr.find_runs`), stored per run."""

RUN_CHUNK = 65536
"""Runs per chunk of the client's arrays along ``run`` (one chunk up to this many)."""

_TEXT = ("run", *(f"entity:{e}" for e in ENTITIES), "bold", "masks_group")


def entity_coord(entity: str) -> str:
    """The coordinate an entity becomes: the BIDS ``run`` entity is ``run_index``, since the
    dim ``run`` names the runs."""
    return "run_index" if entity == "run" else entity


def _array_name(field: str) -> str:
    return entity_coord(field.split(":", 1)[1]) if field.startswith("entity:") else field


def _arr(group: zarr.Group, name: str) -> zarr.Array:
    """An array of the store (a group of that name would be a foreign store)."""
    node = group[name]
    if not isinstance(node, zarr.Array):
        raise TypeError(f"{name!r} of {group.store} is not an array")
    return node


def _read(group: zarr.Group, name: str, n: int | None = None) -> np.ndarray:
    """The first ``n`` values of an array (all by default), in memory."""
    return np.asarray(_arr(group, name)[:n])


def _attrs(group: zarr.Group) -> dict[str, Any]:
    return dict(group.attrs)


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


def _compressors() -> list:
    from zarr.codecs import ZstdCodec

    return [ZstdCodec(level=3)]


@dataclass(frozen=True)
class RunInfo:
    """What the client records of a run before its series is extracted."""

    name: str
    entities: Mapping[str, str | None]
    bold: str
    masks: str
    n_volumes: int


class SeriesStore:
    """A time-series store as its single client-side writer sees it.

    Parameters
    ----------
    path : path-like, str or Location
        The store's folder (its parent must exist), or its URL.
    options : dict
        The options the runs are extracted with; recorded in a new store, compared with
        an existing store's.

    Raises
    ------
    StoreNotFoundError, ForeignStoreError, StoreKindError
        If ``path`` holds something else than a time-series store.
    CohortMismatchError
        If the store was written with other options.
    """

    def __init__(self, path: StoreLike, options: dict[str, Any]) -> None:
        self.path = as_location(path)
        if not self.path.is_empty():
            check_kind(self.path, want=TIMESERIES, opener="roixr.extract_cohort", writing=True)
            stored = group_attrs(self.path).get(OPTIONS)
            if stored is not None and stored != options:
                diff = [
                    f"{k}={options.get(k)!r} (the store has {stored.get(k)!r})"
                    for k in sorted(set(stored) | set(options))
                    if stored.get(k) != options.get(k)
                ]
                raise CohortMismatchError(
                    f"the time-series store {self.path} was extracted with other options, "
                    f"and a store never mixes them. Different here: {'; '.join(diff)}.",
                    fix="Pass the store's options, or extract these runs to another store.",
                    option="options",
                )
        # a new store's attributes are written with its metadata, in one file write
        made = {"created": _now(), "roixr_version": __version__}
        new: dict[str, Any] = {KIND: TIMESERIES, COMPLETE: False, OPTIONS: options,
                               VERSION: __version__, PROVENANCE: made, ERRORS: {}}  # fmt: skip
        self.root = zarr.open_group(self.path.zarr_store(), mode="a", zarr_format=3,
                                    attributes=new)  # fmt: skip
        root = self.root
        n = _arr(root, RUN_STATUS).shape[0] if RUN_STATUS in root else 0
        self.names: list[str] = [str(v) for v in _read(root, "run", n)] if n else []
        self.status = _read(root, RUN_STATUS).astype(np.int8) if n else np.zeros(0, np.int8)
        self.tr = _read(root, "repetition_time", n).astype(float) if n else np.zeros(0)
        self.rois: list[str] = [str(r) for r in _read(root, "roi")] if "roi" in root else []
        self.n_time = _arr(root, "time").shape[0] if "time" in root else 0
        self.errors: dict[str, str] = dict(_attrs(self.root).get(ERRORS, {}))

    def index(self) -> dict[str, int]:
        """Run name → its position along ``run``."""
        return {name: i for i, name in enumerate(self.names)}

    # -- layout --------------------------------------------------------------------------

    def _array(self, name: str, shape: tuple[int, ...], dtype: Any, dims: Sequence[str],
               chunks: tuple[int, ...], fill: Any) -> zarr.Array:  # fmt: skip
        """The array ``name`` with this shape: created, or grown (data kept)."""
        if name in self.root:
            arr = _arr(self.root, name)
            if arr.shape != shape:
                arr.resize(shape)
            return arr
        return self.root.create_array(
            name, shape=shape, dtype=dtype, chunks=chunks, fill_value=fill,
            dimension_names=list(dims), compressors=_compressors(),
        )  # fmt: skip

    def add_runs(self, runs: Sequence[RunInfo], rois: Sequence[str], n_time: int) -> None:
        """Record runs (new ones appended, known ones rewritten) as unfinished, and grow the
        ROI and time axes to hold ``rois`` and ``n_time`` volumes."""
        index = self.index()
        again = [index[r.name] for r in runs if r.name in index]
        if again:  # unfinished before anything of theirs changes
            self.status[again] = RUN_UNFINISHED
            self._write_status()
        names = self.names + [r.name for r in runs if r.name not in index]
        n = len(names)
        rois = self.rois + [r for r in rois if r not in self.rois]
        n_roi, n_time = len(rois), max(self.n_time, int(n_time), 1)
        chunk_roi = _arr(self.root, SERIES).chunks[1] if SERIES in self.root else max(n_roi, 1)
        chunk_time = _arr(self.root, SERIES).chunks[3] if SERIES in self.root else n_time
        dims = ("run", "roi", "hemisphere", "time")
        chunks = (1, chunk_roi, 2, chunk_time)  # one run a chunk
        self._array(SERIES, (n, n_roi, 2, n_time), "float32", dims, chunks, np.nan)
        cover_chunks = (RUN_CHUNK, max(n_roi, 1))
        cover = self._array("coverage", (n, n_roi), "float32", dims[:2], cover_chunks, np.nan)
        run_chunk = (RUN_CHUNK,)
        arrays = {
            f: self._array(_array_name(f), (n,), str, ("run",), run_chunk, "") for f in _TEXT
        }
        n_vol = self._array("n_volumes", (n,), "int32", ("run",), run_chunk, 0)
        tr = self._array("repetition_time", (n,), "float64", ("run",), run_chunk, np.nan)
        # values: the whole arrays, from what is known and what is added
        new = {r.name: r for r in runs}
        text = {f: np.array(arrays[f][:n], dtype=object) for f in _TEXT}
        volumes, times = np.asarray(n_vol[:n]), np.full(n, np.nan)
        times[: len(self.tr)] = self.tr
        for i, name in enumerate(names):
            info = new.get(name)
            if info is None:
                continue
            text["run"][i], text["bold"][i], text["masks_group"][i] = name, info.bold, info.masks
            for e in ENTITIES:
                text[f"entity:{e}"][i] = info.entities.get(e) or ""
            volumes[i], times[i] = info.n_volumes, np.nan
        for f in _TEXT:
            arrays[f][:] = text[f].astype(str)
        n_vol[:], tr[:] = volumes, times
        cover_rows = np.asarray(cover[:])
        for i, name in enumerate(names):
            if name in new:
                cover_rows[i] = np.nan
        cover[:] = cover_rows
        self.tr = times
        # the axes' lengths last: readers cut the data to them
        self._array("hemisphere", (2,), str, ("hemisphere",), (2,), "")[:] = list(HEMISPHERES)
        self._array("roi", (n_roi,), str, ("roi",), (max(n_roi, 1),), "")[:] = np.array(rois)
        self._array("time", (n_time,), "int32", ("time",), (max(n_time, 1),), -1)[:] = np.arange(
            n_time
        )
        status = np.zeros(n, np.int8)  # new runs: unfinished
        status[: len(self.status)] = self.status
        for name in new:
            self.errors.pop(name, None)
        self.names, self.rois, self.n_time, self.status = names, rois, n_time, status
        self.root.attrs[COMPLETE] = False
        self._write_status()

    def set_coverage(self, coverage: Mapping[str, Mapping[str, float]]) -> None:
        """Each run's ``{roi: percent}`` (ROIs its masks lack stay NaN)."""
        arr = _arr(self.root, "coverage")
        rows = np.asarray(arr[:])
        index, roi = self.index(), {r: k for k, r in enumerate(self.rois)}
        for name, values in coverage.items():
            for r, v in values.items():
                rows[index[name], roi[r]] = np.nan if v is None else v
        arr[:] = rows

    # -- status --------------------------------------------------------------------------

    def record(self, results: Mapping[str, tuple[int, str | None, float | None]]) -> None:
        """Runs' fates ``{run: (status code, error or None, repetition time or None)}``."""
        index = self.index()
        for name, (code, error, tr) in results.items():
            i = index[name]
            self.status[i] = code
            if tr is not None:
                self.tr[i] = tr
            if error is None:
                self.errors.pop(name, None)
            else:
                self.errors[name] = error
        _arr(self.root, "repetition_time")[:] = self.tr
        self._write_status()

    def _write_status(self) -> None:
        # errors first: a run's error is read only where its status says failed
        self.root.attrs.update({ERRORS: self.errors,
                                PROVENANCE: {**_attrs(self.root).get(PROVENANCE, {}),
                                             "updated": _now()}})  # fmt: skip
        arr = _arr(self.root, RUN_STATUS) if RUN_STATUS in self.root else None
        if arr is None or arr.shape[0] != len(self.status):
            arr = self._array(RUN_STATUS, (len(self.status),), "int8", ("run",), (RUN_CHUNK,), 0)
        arr[:] = self.status

    def finish(self) -> bool:
        """Mark the store complete if every run is; whether it is."""
        done = bool(len(self.status)) and bool(np.all(self.status == RUN_COMPLETE))
        self.root.attrs[COMPLETE] = done
        return done


def write_run(store: str | Location, index: int, rois: Sequence[int], values: np.ndarray) -> None:
    """Write one run's ``(roi, hemisphere, time)`` values into its own chunks: the rows
    ``rois`` of the store's ROI axis, NaN elsewhere and past the run's end.

    Called by the run's task on a worker; it writes no other run's chunk and no metadata.
    """
    arr = zarr.open_array(as_location(store).zarr_store(), path=SERIES, mode="r+")
    _, n_roi, n_hemi, n_time = arr.shape
    block = np.full((n_roi, n_hemi, n_time), np.nan, np.float32)
    block[np.asarray(rois, dtype=int), :, : values.shape[-1]] = values
    arr[index] = block


# --- reading ---------------------------------------------------------------------------------


def timeseries_status(
    store: StoreLike, *, storage_options: dict[str, Any] | None = None
) -> dict[str, dict[str, Any]]:
    """Each run of a time-series store: ``{"status": "complete" | "failed" | "unfinished",
    "error": text or None}``, in the store's order.

    ``store`` is a path or an fsspec URL (with ``storage_options``, as
    :func:`roixr.extract_cohort`).

    Raises
    ------
    StoreNotFoundError, ForeignStoreError, StoreKindError
        For a path that is not a time-series store.
    """
    path = as_location(store, storage_options)
    check_kind(path, want=TIMESERIES, opener="roixr.open_timeseries")
    root = zarr.open_group(path.zarr_store(read_only=True), mode="r")
    if RUN_STATUS not in root:
        return {}
    codes = _read(root, RUN_STATUS)
    names = _read(root, "run", codes.shape[0])
    errors = _attrs(root).get(ERRORS, {})
    out = {}
    for name, code in zip(names, codes, strict=True):
        status = run_status(int(code))
        out[str(name)] = {"status": status, "error": errors.get(str(name)) if status == "failed"
                          else None}  # fmt: skip
    return out


def _text(arr: zarr.Array, n: int) -> np.ndarray:
    return np.asarray(arr[:n]).astype(object).astype(str)


def open_timeseries(
    store: StoreLike, *, strict: bool = False, storage_options: dict[str, Any] | None = None
) -> xr.Dataset:
    """Open a time-series store (:func:`roixr.extract_cohort`) lazily, its complete runs.

    Runs that failed or whose extraction did not finish are left out (not NaN-filled: a
    run is in the Dataset only if all its data is), with an
    :class:`~roixr.errors.IncompleteCohortWarning` naming them; the Dataset's
    ``roixr_incomplete`` attr maps each to its status and error (as JSON text: the attrs
    are netCDF-safe, options left at their default are absent, booleans are 0/1).

    Parameters
    ----------
    store : path-like or str
        The store's folder, or its fsspec URL (``s3://bucket/series.zarr``).
    strict : bool
        Raise instead of leaving out runs that failed or did not finish.
    storage_options : dict, optional
        For a URL: the options of its fsspec filesystem (credentials, endpoint).

    Returns
    -------
    xarray.Dataset
        ``roi_timeseries`` ``(run, roi, hemisphere, time)`` float32, dask-backed (one chunk
        per run), NaN past each run's end and for ROIs a run's masks lack; ``n_volumes``
        ``(run)``; ``coverage`` ``(run, roi)`` (percent of the ROI's vertices inside the
        run's grid). Coords: ``run`` (run names), the BIDS entities along ``run``
        (``subject``, ``session``, ``task``, ``acquisition``, ``direction``, ``run_index``
        (the BIDS ``run``), ``echo``, ``space``; ``""`` where a run has none),
        ``repetition_time`` (seconds, NaN if the header gives none), ``bold`` (the file),
        ``masks_group`` (the group of the run's masks in the store: open them with
        ``roixr.open_roi_masks(store, group=...)``), ``roi``, ``hemisphere`` and ``time``
        (the volume index; seconds are ``time * repetition_time``). Attrs: the options the
        runs were extracted with, ``roixr_version``, ``created``, ``updated``.

    Raises
    ------
    StoreNotFoundError, ForeignStoreError, StoreKindError
        For a path that is not a time-series store.
    IncompleteStoreError
        With ``strict``, naming the runs that failed or did not finish.
    """
    path = as_location(store, storage_options)
    check_kind(path, want=TIMESERIES, opener="roixr.open_timeseries")
    root = zarr.open_group(path.zarr_store(read_only=True), mode="r")
    attrs = _attrs(root)
    if RUN_STATUS not in root:
        raise IncompleteStoreError(
            f"the time-series store {path} holds no runs yet (its first extraction did not get "
            "past computing the masks).",
            fix="Run roixr.extract_cohort again.",
            option="redo_runs",
        )
    codes = np.asarray(_arr(root, RUN_STATUS)[:])
    n = codes.shape[0]
    names = _text(_arr(root, "run"), n)
    rois = _text(_arr(root, "roi"), _arr(root, "roi").shape[0])
    n_time = _arr(root, "time").shape[0]
    errors = attrs.get(ERRORS, {})
    keep = np.flatnonzero(codes == RUN_COMPLETE)
    bad = {str(names[i]): {"status": run_status(codes[i]), "error": errors.get(str(names[i]))}
           for i in np.flatnonzero(codes != RUN_COMPLETE)}  # fmt: skip
    if bad:
        left_out(
            f"the time-series store {path} has {len(bad)} run(s) that failed or whose "
            "extraction did not finish",
            bad,
            fix="roixr.cohort.timeseries_status(store) gives their errors; run "
            "roixr.extract_cohort again to redo them.",
            option="redo_runs",
            strict=strict,
        )
    series = da.from_zarr(_arr(root, SERIES))[:n, : len(rois), :, :n_time]
    if len(keep) < n:
        series = series[keep]
    coords: dict[str, Any] = {
        "run": ("run", names[keep]),
        "roi": ("roi", rois),
        "hemisphere": ("hemisphere", _text(_arr(root, "hemisphere"), 2)),
        "time": ("time", np.asarray(_arr(root, "time")[:n_time])),
    }
    for e in ENTITIES:
        coords[entity_coord(e)] = ("run", _text(_arr(root, entity_coord(e)), n)[keep])
    for name in ("bold", "masks_group"):
        coords[name] = ("run", _text(_arr(root, name), n)[keep])
    coords["repetition_time"] = ("run", np.asarray(_arr(root, "repetition_time")[:n])[keep])
    cover = da.from_zarr(_arr(root, "coverage"))[:n, : len(rois)]
    data = {
        SERIES: (("run", "roi", "hemisphere", "time"), series),
        "n_volumes": ("run", np.asarray(_arr(root, "n_volumes")[:n])[keep]),
        "coverage": (("run", "roi"), cover[keep] if len(keep) < n else cover),
    }
    ds = xr.Dataset(data, coords=coords)
    ds["repetition_time"].attrs["units"] = "s"
    ds["coverage"].attrs["units"] = "percent of the ROI's vertices inside the run's grid"
    ds["time"].attrs["long_name"] = "volume index"
    prov = attrs.get(PROVENANCE, {})
    ds.attrs = _netcdf_safe({**attrs.get(OPTIONS, {}), "roixr_version": attrs.get(VERSION),
                             "created": prov.get("created"), "updated": prov.get("updated"),
                             INCOMPLETE: bad or None})  # fmt: skip
    return ds


def _netcdf_safe(attrs: dict[str, Any]) -> dict[str, Any]:
    """Attrs netCDF can store, so ``ds.to_netcdf`` works: None (an option left at its
    default) dropped, booleans as 0/1, mappings as JSON text."""
    out: dict[str, Any] = {}
    for key, value in attrs.items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = int(value)
        elif isinstance(value, dict):
            value = json.dumps(value, sort_keys=True)
        out[key] = value
    return out
