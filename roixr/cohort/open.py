"""Opening a cohort store lazily: its complete subjects, with word of the others."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import xarray as xr

from roixr.cohort.status import cohort_status, left_out
from roixr.errors import StoreNotFoundError
from roixr.forms import plain_labels
from roixr.store.compact import open_subject
from roixr.store.format import COORDS, INCOMPLETE, data_group, group_attrs
from roixr.store.location import Location, StoreLike, as_location

__all__ = ["open_cohort"]


def open_cohort(
    store: StoreLike,
    *,
    subjects: Iterable[str] | None = None,
    strict: bool = False,
    storage_options: dict[str, Any] | None = None,
) -> xr.DataTree:
    """Open a cohort store lazily: its complete subjects, or those of them named.

    Subjects that failed or whose write did not finish are left out, with an
    :class:`~roixr.errors.IncompleteCohortWarning` naming them (and, with ``strict``, an
    error). The tree's ``roixr_incomplete`` attr maps them to their status and error.

    Parameters
    ----------
    store : path-like or str
        The store's folder, or its fsspec URL (``s3://bucket/cohort.zarr``).
    subjects : iterable of str, optional
        Open only these subjects (default: all). A tree of thousands of nodes takes
        seconds to build whatever the store (xarray builds each node's objects); a few
        subjects of a 10,000-subject store open in a fraction of a second, since the
        store's index says which subjects it holds without reading them.
    strict : bool
        Raise instead of leaving out subjects that failed or did not finish.
    storage_options : dict, optional
        For a URL: the options of its fsspec filesystem (credentials, endpoint).

    Raises
    ------
    StoreNotFoundError
        If there is no store, or it holds none of the ``subjects`` named.
    ForeignStoreError
        If it is not a zarr store, or a zarr store roixr did not write.
    StoreKindError
        If it is a single-subject store (use :func:`roixr.open_roi_masks`).
    IncompleteStoreError
        With ``strict``, naming the subjects that failed or did not finish.
    """
    path = as_location(store, storage_options)
    status = cohort_status(path)
    if subjects is not None:
        wanted = [subjects] if isinstance(subjects, str) else list(dict.fromkeys(subjects))
        missing = [n for n in wanted if n not in status]
        if missing:
            held = sorted(status)
            more = f" and {len(held) - 20} more" if len(held) > 20 else ""
            shown = ", ".join(held[:20]) + more
            raise StoreNotFoundError(
                f"the cohort store {path} holds no subject(s) {missing[:20]}; it holds "
                f"{len(held)}: {shown or 'none'}.",
                fix="Pass subjects= names it holds (roixr.cohort.cohort_status(store) lists "
                "them), or none to open them all.",
            )
        status = {n: status[n] for n in wanted}
    bad = {n: s for n, s in status.items() if s["status"] != "complete"}
    if bad:
        left_out(
            f"the cohort store {path} has {len(bad)} subject(s) that failed or whose write "
            "did not finish",
            bad,
            fix="roixr.cohort.cohort_status(store) gives their errors; run roixr.write_cohort "
            "again to redo them, or remove them with roixr.cohort.drop_subjects.",
            option="redo",
            strict=strict,
        )
    good = [name for name, s in status.items() if s["status"] == "complete"]
    nodes = {name: xr.DataTree(_subject(path, name), name=name) for name in good}
    tree = xr.DataTree(children=nodes)
    if bad:
        tree.attrs[INCOMPLETE] = bad
    return tree


def _subject(path: Location, name: str) -> xr.Dataset:
    """One complete subject as a Dataset: in the compact layout (layout 2), or as
    :func:`roixr.to_zarr` writes a group (layout 1; on object storage, the group its
    ``roixr_data`` names where it was replaced)."""
    attrs = group_attrs(path, name)
    if COORDS in attrs:
        masks = open_subject(path, name, attrs)
        return plain_labels(masks.to_dataset())
    group = name if path.local else data_group(attrs, name)
    ds = xr.open_zarr(path.zarr_store(read_only=True), group=group, consolidated=False, chunks={})
    ds.attrs.clear()
    return plain_labels(ds)
