"""The store format: every ``roixr_*`` key, the kinds of store, and the one kind check.

A roixr store is a zarr 3 group whose attributes say what it is and whether its write
finished. This module is the only place that knows those attributes; the single-store
writer and reader (:mod:`roixr.store.single`), cohorts (:mod:`roixr.cohort`), the report and
the command line all ask it.

Keys of a store's (or a cohort subject's) group attributes:

==================== ======================================================================
``roixr_kind``       what the group holds: ``"roi_masks"``, ``"roi_index"``, ``"cohort"`` or
                     ``"timeseries"``
``roixr_complete``   true only once every byte of the group's data is written (a time-series
                     store: once every run is complete)
``roixr_provenance`` what made it: subject, transform, sampler, ROIs, source, options, time
``roixr_options``    a cohort's or time-series store's options (at its root): every subject
                     or run is made with them
``roixr_version``    the roixr version that made a cohort or time-series store (at its root)
``roixr_status``     a cohort subject that is not complete: ``"pending"`` or ``"failed"``
``roixr_error``      a failed cohort subject's error, as text
``roixr_errors``     a time-series store's failed runs: ``{run: error text}`` (at its root)
``roixr_cohort``     the mark of a cohort written by roixr < 0.2 (read, never written)
``roixr_data``       a store replaced on object storage (``mode="w"``, no rename there): the
                     group under this one that holds its data, written last with
                     ``roixr_complete`` (the pointer; absent: the data is in this group); a
                     cohort subject in layout 2: the array that holds its masks
``roixr_coords``     a cohort subject in layout 2: its coordinates, as JSON
``roixr_layout``     a cohort's layout (at its root): 2, or absent for layout 1
==================== ======================================================================

A cohort store comes in two layouts. **Layout 1** (roixr 0.1; read, never written): one
group per subject as :func:`roixr.to_zarr` writes it (one array per coordinate, one file per
chunk: 18 files for the synthetic subject), and nothing at the root but the options, so
listing the subjects opens every group. **Layout 2**: the root's ``roixr_index``, a
folder of JSON documents, one per writing client (each writes only its own, whole, so
concurrent writers of different subjects never undo each other's records; a writer merges the
others into its own when it starts). Each maps subjects to ``{"status": "complete" | "failed"
| "pending" | "dropped", "error": text or null, "at": time}``, a subject's latest entry
winning. A client records a subject only after the subject's own group did, so the index is
never ahead of the groups: a subject it calls pending is looked up in its own group. Each
subject is in the compact layout of :mod:`roixr.store.compact` (three files).

A store's place is a :class:`~roixr.store.location.Location`: a local folder or an fsspec
URL. Every check here goes through it (and zarr's store for it), never through
:mod:`pathlib` directly, so it reads the same on disk and on object storage.

``open_cohort`` gives its DataTree a ``roixr_incomplete`` attr (not stored), and
``open_timeseries`` its Dataset one.

A time-series store (:func:`roixr.extract_cohort`) is one group of arrays along ``run``,
so opening 10,000 runs reads a few small arrays, never one group per run:

========================================= ===============================================
``roi_timeseries`` (run, roi, hemi, time) float32, one chunk per run (written only by that
                                          run's task), NaN past each run's end
``status`` (run)                          int8: 0 unfinished, 1 complete, 2 failed; written
                                          only by the client, after the run's data
``run`` and the entities (run)            run names; ``subject``, ``session``, ``task``, ...
``bold``, ``masks_group`` (run)           the series read; the group of its masks
``n_volumes``, ``repetition_time`` (run)  from the header and :func:`roixr.open_nifti`
``coverage`` (run, roi)                   percent of each ROI's vertices in the run's grid
``roi``, ``hemisphere``, ``time``         the other dims' coordinates
``masks/<id>``                            one masks store (:func:`roixr.to_zarr`) per
                                          distinct (subject, grid, registration)
========================================= ===============================================
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import zarr

from roixr.errors import (
    ForeignStoreError,
    IncompleteStoreError,
    StoreKindError,
    StoreNotFoundError,
)
from roixr.forms import INDEX_NAME, MASKS_NAME
from roixr.store.location import Location, StoreLike, as_location, join

__all__ = [
    "BOOKKEEPING",
    "COHORT",
    "COMPLETE",
    "COORDS",
    "DATA",
    "DROPPED",
    "ERROR",
    "ERRORS",
    "INCOMPLETE",
    "INDEX",
    "KIND",
    "LAYOUT",
    "LAYOUT_NOW",
    "MASKS_GROUP",
    "OPTIONS",
    "PROVENANCE",
    "RUN_COMPLETE",
    "RUN_FAILED",
    "RUN_STATUS",
    "RUN_UNFINISHED",
    "SERIES",
    "SINGLE_KINDS",
    "STATUS",
    "SUBJECTS",
    "TIMESERIES",
    "VERSION",
    "check_kind",
    "cohort_layout",
    "cohort_members",
    "data_group",
    "group_attrs",
    "index_documents",
    "is_complete",
    "is_member",
    "is_zarr",
    "merge_index",
    "read_index",
    "run_status",
    "store_kind",
    "subject_status",
    "where",
]

COMPLETE = "roixr_complete"
KIND = "roixr_kind"
PROVENANCE = "roixr_provenance"
OPTIONS = "roixr_options"
VERSION = "roixr_version"
STATUS = "roixr_status"
ERROR = "roixr_error"
ERRORS = "roixr_errors"
LEGACY_COHORT = "roixr_cohort"
INCOMPLETE = "roixr_incomplete"
DATA = "roixr_data"
COORDS = "roixr_coords"
LAYOUT = "roixr_layout"
INDEX = "roixr_index"
"""The folder at a cohort's root (layout 2) that holds its index: JSON documents."""
SUBJECTS = "roixr_subjects"
"""An index document's key: ``{subject: {"status": ..., "error": ..., "at": time}}``."""
DROPPED = "dropped"
"""The index status of a subject removed from the cohort."""
LAYOUT_NOW = 2
"""The cohort layout this version writes."""
BOOKKEEPING = (COMPLETE, KIND, PROVENANCE, OPTIONS, STATUS, ERROR, ERRORS, LEGACY_COHORT, DATA,
               COORDS, LAYOUT)  # fmt: skip
"""Keys that record the store's state rather than what its data is."""

COHORT = "cohort"
TIMESERIES: Final = "timeseries"
SINGLE_KINDS = (MASKS_NAME, INDEX_NAME)
"""The kinds of a single store, each the name of the variable it holds."""

Status = Literal["complete", "failed", "unfinished"]

# a time-series store
SERIES = "roi_timeseries"
"""Its data variable, ``(run, roi, hemisphere, time)``."""
RUN_STATUS = "status"
"""Its int8 array of each run's fate, written only by the client."""
MASKS_GROUP = "masks"
"""Its group of masks stores, one per distinct (subject, grid, registration)."""
RUN_UNFINISHED, RUN_COMPLETE, RUN_FAILED = 0, 1, 2
_RUN_STATUS: dict[int, Status] = {
    RUN_UNFINISHED: "unfinished",
    RUN_COMPLETE: "complete",
    RUN_FAILED: "failed",
}


def where(path: StoreLike, group: str | None) -> str:
    """A store or one of its groups, as messages name it."""
    return f"{path}" if group is None else f"{path} (group {group!r})"


def is_zarr(path: Path | Location, key: str = "") -> bool:
    """Whether ``path`` (or its key ``key``) is a zarr store or group (its metadata file is
    there)."""
    loc = as_location(path)
    return any(loc.isfile(join(key, f)) for f in ("zarr.json", ".zgroup", ".zarray"))


def group_attrs(path: StoreLike, group: str | None = None) -> dict[str, Any]:
    """The attributes of a store's group ({} where there is no readable group)."""
    loc = as_location(path)
    try:
        g = zarr.open_group(loc.zarr_store(read_only=True), path=group or "", mode="r")
    except (FileNotFoundError, zarr.errors.GroupNotFoundError, ValueError, KeyError):
        return {}
    return dict(g.attrs)


def data_group(attrs: dict[str, Any], group: str | None) -> str | None:
    """The group that holds a single store's data, from its attributes: the one its
    ``roixr_data`` pointer names (a store replaced on object storage), else ``group``."""
    pointer = attrs.get(DATA)
    return join(group, str(pointer)) if pointer else group


def store_kind(path: StoreLike, group: str | None = None) -> str | None:
    """``"roi_masks"``, ``"roi_index"``, ``"cohort"``, or None (not written by roixr)."""
    loc = as_location(path)
    attrs = group_attrs(loc, group)
    if KIND in attrs:
        return str(attrs[KIND])
    if attrs.get(LEGACY_COHORT):  # written by roixr < 0.2
        return COHORT
    if COMPLETE in attrs:
        held = (v for v in SINGLE_KINDS if loc.isdir(join(group, v)))
        return next(held, SINGLE_KINDS[0])
    return None


def is_complete(
    store: StoreLike, group: str | None = None, *, storage_options: dict[str, Any] | None = None
) -> bool:
    """Whether the store (or one of its groups) was completely written; ``store`` is a path
    or an fsspec URL (with ``storage_options``)."""
    loc = as_location(store, storage_options)
    return bool(group_attrs(loc, group).get(COMPLETE, False))


def is_member(attrs: dict[str, Any]) -> bool:
    """Whether a group of a cohort store is one of its subjects (roixr wrote it: a
    placeholder, a failed or a written subject), not a group a user added (a ``qc``)."""
    return any(k in attrs for k in (COMPLETE, STATUS, KIND))


def cohort_layout(path: StoreLike) -> int:
    """A cohort store's layout: 2, or 1 for a store written by roixr 0.1."""
    return int(group_attrs(path).get(LAYOUT, 1))


def index_documents(path: StoreLike) -> list[tuple[str, dict[str, Any]]]:
    """The documents of a layout-2 cohort's index, ``(key, document)``: one per writing
    client (each writes only its own, whole), readable ones only."""
    loc = as_location(path)
    out = []
    for name in loc.listdir(INDEX):
        if not name.endswith(".json") or name.startswith("."):
            continue
        raw = loc.read_bytes(join(INDEX, name))
        try:
            doc = json.loads(raw) if raw is not None else None
        except ValueError:
            doc = None
        if isinstance(doc, dict) and isinstance(doc.get(SUBJECTS), dict):
            out.append((join(INDEX, name), doc))
    return out


def merge_index(docs: list[tuple[str, dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """The index's entries, each subject's latest (by its ``at`` time) over the documents;
    removed subjects' entries (``"dropped"``) included."""
    merged: dict[str, dict[str, Any]] = {}
    for _, doc in docs:
        for name, entry in doc[SUBJECTS].items():
            if not isinstance(entry, dict):
                continue
            if name not in merged or entry.get("at", 0) >= merged[name].get("at", 0):
                merged[name] = entry
    return merged


def read_index(path: StoreLike) -> dict[str, dict[str, Any]] | None:
    """A layout-2 cohort's index, ``{subject: {"status", "error", "at"}}`` (``"status"``:
    complete, failed or pending); None where it has none (layout 1)."""
    docs = index_documents(path)
    if not docs:
        return None
    merged = merge_index(docs)
    return {n: e for n, e in merged.items() if e.get("status") != DROPPED}


def cohort_members(path: StoreLike) -> list[str]:
    """The subjects of a cohort store, sorted: those of its index (layout 2), else its
    groups that roixr wrote."""
    loc = as_location(path)
    index = read_index(loc)
    if index is not None:
        return sorted(index)
    root = zarr.open_group(loc.zarr_store(read_only=True), mode="r")
    return sorted(name for name, g in root.groups() if is_member(dict(g.attrs)))


def subject_status(attrs: dict[str, Any]) -> Status:
    """A cohort subject's fate from its group's attributes."""
    if attrs.get(COMPLETE):
        return "complete"
    return "failed" if attrs.get(STATUS) == "failed" else "unfinished"


def run_status(code: int) -> Status:
    """A time-series store's run's fate from its ``status`` code (unknown codes: unfinished)."""
    return _RUN_STATUS.get(int(code), "unfinished")


def _chunks_written(loc: Location, key: str | None, name: str) -> tuple[int, int] | None:
    """(chunk files (objects) stored, chunks expected) of a variable, or None if unknown."""
    try:
        store = loc.zarr_store(read_only=True)
        arr = zarr.open_array(store, path=join(key, name), mode="r")
        expected = int(np.prod(arr.cdata_shape))
    except Exception:  # metadata itself unfinished
        return None
    return loc.count_files(join(key, name, "c")), expected


_WRITERS = {COHORT: "roixr.write_cohort", TIMESERIES: "roixr.extract_cohort"}
_OPENERS = {
    COHORT: "roixr.open_cohort()",
    TIMESERIES: "roixr.open_timeseries()",
    **{kind: "roixr.open_roi_masks()" for kind in SINGLE_KINDS},
}
_NAMES = {COHORT: "a cohort store", TIMESERIES: "a time-series store"}


def _wrong_kind(at: str, kind: str, want: str, writing: bool) -> None:
    """Raise for a time-series store opened as another kind, or another kind as one."""
    have = _NAMES.get(kind, f"a single-subject store ({kind!r})")
    wanted = _NAMES.get(want, "a single-subject store")
    raise StoreKindError(
        f"{at} is {have}, not {wanted}.",
        fix="Write to a new path." if writing else f"Open it with {_OPENERS.get(kind)}.",
        option="store",
    )


def check_kind(
    path: StoreLike,
    group: str | None = None,
    *,
    want: Literal["single", "cohort", "timeseries"],
    opener: str,
    writing: bool = False,
) -> str:
    """Check that ``path`` (or its group) is a roixr store of the wanted kind; its kind.

    Parameters
    ----------
    path, group
        The store (a local path, a URL or a :class:`~roixr.store.location.Location`) and,
        optionally, a group in it.
    want : {"single", "cohort", "timeseries"}
        A single store of masks or an index volume (which must also be complete), a
        cohort, or a time-series store (:func:`roixr.extract_cohort`).
    opener : str
        The public function being called, named in the messages.
    writing : bool
        Whether the caller is about to write into the store (a cohort adding subjects, an
        extraction adding runs): the messages then advise another path rather than another
        opener.

    Raises
    ------
    StoreNotFoundError, ForeignStoreError, StoreKindError, IncompleteStoreError
        Each naming the path and what to do.
    """
    loc = as_location(path)
    at = where(loc, group)
    key = group or ""
    if not loc.exists(key):
        writer = _WRITERS.get(want, "masks.roixr.to_zarr()")
        if group is not None and loc.exists("") and store_kind(loc) == COHORT:
            held = cohort_members(loc)
            shown = ", ".join(held[:20]) + (
                f" and {len(held) - 20} more" if len(held) > 20 else ""
            )
            raise StoreNotFoundError(
                f"the cohort store {where(loc, None)} holds no subject {group!r}; it holds "
                f"{len(held)}: {shown or 'none'}.",
                fix="Pass one of them as group=, or open the whole cohort with "
                "roixr.open_cohort().",
                option="store",
            )
        raise StoreNotFoundError(
            f"no zarr store at {at}.",
            fix=f"Check the path, or write one with {writer}.",
            option="store",
        )
    writers = (
        "roixr.extract_cohort()"
        if want == TIMESERIES
        else "masks.roixr.to_zarr() or roixr.write_cohort()"
    )
    other = (
        "Write to a new path." if writing else f"Give {opener} the folder that {writers} wrote."
    )
    if not loc.isdir(key) or not is_zarr(loc, key):
        raise ForeignStoreError(
            f"{at} is not a zarr store (no zarr.json in it).", fix=other, option="store"
        )
    kind = store_kind(loc, group)
    if kind is None:
        raise ForeignStoreError(
            f"{at} is a zarr store that roixr did not write (it has no {KIND} attribute), so "
            "roixr cannot tell what it holds or whether its write finished.",
            fix="Write to a new path." if writing else "Open it with xarray.open_zarr.",
            option="store",
        )
    if (want == TIMESERIES) != (kind == TIMESERIES):
        _wrong_kind(at, kind, want, writing)
    if want == COHORT and kind != COHORT:
        raise StoreKindError(
            f"{at} is a single-subject store ({kind!r}), not a cohort.",
            fix="Write the cohort to a new path."
            if writing
            else "Open it with roixr.open_roi_masks().",
            option="store",
        )
    if want == "single" and kind == COHORT:
        raise StoreKindError(
            f"{at} is a cohort store (one group per subject).",
            fix=f"Open it with roixr.open_cohort(), or one subject with "
            f"{opener}(store, group='<subject>').",
            option="store",
        )
    if want == "single" and not is_complete(loc, group):
        written = _chunks_written(loc, data_group(group_attrs(loc, group), group), kind)
        detail = (
            f"{written[0]} of its {written[1]} chunks of {kind!r} are "
            + ("on disk" if loc.local else "stored")
            if written
            else f"the metadata of {kind!r} is incomplete"
        )
        raise IncompleteStoreError(
            f"the store at {at} was not completely written ({detail}; the write was "
            "interrupted or is still running), and missing data would read as zeros.",
            fix="If no write is running, write it again with mode='w'.",
            option="mode",
        )
    return kind
