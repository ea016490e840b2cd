"""Opening a cohort store lazily: its complete subjects, with word of the others."""

from __future__ import annotations

from typing import Any

import xarray as xr

from roixr.cohort.status import cohort_status, left_out
from roixr.forms import plain_labels
from roixr.store.format import INCOMPLETE, data_group, group_attrs
from roixr.store.location import Location, StoreLike, as_location

__all__ = ["open_cohort"]


def open_cohort(
    store: StoreLike, *, strict: bool = False, storage_options: dict[str, Any] | None = None
) -> xr.DataTree:
    """Open a cohort store lazily: its complete subjects.

    Subjects that failed or whose write did not finish are left out, with an
    :class:`~roixr.errors.IncompleteCohortWarning` naming them (and, with ``strict``, an
    error). The tree's ``roixr_incomplete`` attr maps them to their status and error.

    Parameters
    ----------
    store : path-like or str
        The store's folder, or its fsspec URL (``s3://bucket/cohort.zarr``).
    strict : bool
        Raise instead of leaving out subjects that failed or did not finish.
    storage_options : dict, optional
        For a URL: the options of its fsspec filesystem (credentials, endpoint).

    Raises
    ------
    StoreNotFoundError
        If there is no store.
    ForeignStoreError
        If it is not a zarr store, or a zarr store roixr did not write.
    StoreKindError
        If it is a single-subject store (use :func:`roixr.open_roi_masks`).
    IncompleteStoreError
        With ``strict``, naming the subjects that failed or did not finish.
    """
    path = as_location(store, storage_options)
    status = cohort_status(path)
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
    zstore = path.zarr_store(read_only=True)
    nodes = {
        f"/{name}": xr.open_zarr(zstore, group=_data(path, name), consolidated=False, chunks={})
        for name, s in status.items()
        if s["status"] == "complete"
    }
    for ds in nodes.values():
        ds.attrs.clear()
    tree = xr.DataTree.from_dict(nodes).map_over_datasets(plain_labels)
    if bad:
        tree.attrs[INCOMPLETE] = bad
    return tree


def _data(path: Location, name: str) -> str | None:
    """A subject's data group: its own group, or the one it points to where it was replaced
    on object storage (``to_zarr(masks, store, group=name, mode="w")``; local disk swaps
    folders instead, and ``write_cohort`` writes a subject's group anew)."""
    if path.local:
        return name
    return data_group(group_attrs(path, name), name)
