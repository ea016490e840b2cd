"""Opening a cohort store lazily: its complete subjects, with word of the others."""

from __future__ import annotations

import os
from pathlib import Path

import xarray as xr

from roixr.cohort.status import cohort_status, left_out
from roixr.forms import plain_labels
from roixr.store.format import INCOMPLETE

__all__ = ["open_cohort"]


def open_cohort(store: str | os.PathLike, *, strict: bool = False) -> xr.DataTree:
    """Open a cohort store lazily: its complete subjects.

    Subjects that failed or whose write did not finish are left out, with an
    :class:`~roixr.errors.IncompleteCohortWarning` naming them (and, with ``strict``, an
    error). The tree's ``roixr_incomplete`` attr maps them to their status and error.

    Parameters
    ----------
    store : path-like
    strict : bool
        Raise instead of leaving out subjects that failed or did not finish.

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
    path = Path(store)
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
    nodes = {
        f"/{name}": xr.open_zarr(path, group=name, consolidated=False, chunks={})
        for name, s in status.items()
        if s["status"] == "complete"
    }
    for ds in nodes.values():
        ds.attrs.clear()
    tree = xr.DataTree.from_dict(nodes).map_over_datasets(plain_labels)
    if bad:
        tree.attrs[INCOMPLETE] = bad
    return tree
