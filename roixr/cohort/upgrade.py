"""Copying a cohort store of layout 1 (roixr 0.1) into the current layout."""

from __future__ import annotations

from typing import Any

import dask

from roixr import __version__
from roixr.cohort.status import IndexWriter, check_cohort, cohort_status
from roixr.errors import OptionError, OutputPathError, StoreExistsError
from roixr.store.compact import write_group, write_subject
from roixr.store.format import (
    KIND,
    LAYOUT,
    LAYOUT_NOW,
    OPTIONS,
    PROVENANCE,
    VERSION,
    cohort_layout,
    group_attrs,
)
from roixr.store.location import StoreLike, as_location
from roixr.store.single import open_roi_masks

__all__ = ["upgrade_cohort"]


def upgrade_cohort(
    old: StoreLike,
    new: StoreLike,
    *,
    storage_options: dict[str, Any] | None = None,
    new_storage_options: dict[str, Any] | None = None,
) -> list[str]:
    """Copy a cohort store written by roixr 0.1 (layout 1) into a new store in the current
    layout (:mod:`roixr.store.format`), which :func:`roixr.write_cohort` can add to.

    The old store is only read. Complete subjects are copied exactly (data, coordinates,
    attributes, provenance); failed and unfinished ones are recorded as they were, so a
    run of :func:`roixr.write_cohort` on the new store redoes them.

    Parameters
    ----------
    old, new : path-like or str
        The old store, and where to write the new one (it must not exist; its parent
        folder, or its bucket, must). Either may be an fsspec URL.
    storage_options, new_storage_options : dict, optional
        The options of the old and the new URL's filesystem.

    Returns
    -------
    list of str
        The subjects copied (the complete ones).

    Raises
    ------
    StoreNotFoundError, ForeignStoreError, StoreKindError
        If ``old`` is not a cohort store.
    OptionError
        If ``old`` is already in the current layout.
    StoreExistsError, OutputPathError
        If ``new`` exists, or its parent folder does not.
    """
    src = as_location(old, storage_options)
    dst = as_location(new, new_storage_options)
    check_cohort(src, opener="roixr.cohort.upgrade_cohort")
    if cohort_layout(src) == LAYOUT_NOW:
        raise OptionError(
            f"the cohort store {src} is already in layout {LAYOUT_NOW}; nothing to upgrade.",
            fix="Write to it with roixr.write_cohort as it is.",
        )
    if dst.path is not None and not dst.path.parent.is_dir():
        raise OutputPathError(
            f"the folder {dst.path.parent} for the new cohort store does not exist; create it "
            "first."
        )
    dst.check_writable("the new cohort store")
    if not dst.is_empty():
        raise StoreExistsError(
            f"{dst} already exists; upgrade_cohort writes a new store and never overwrites.",
            fix="Give another path for the new store.",
        )
    root = group_attrs(src)
    status = cohort_status(src)
    write_group(dst, "", {KIND: root.get(KIND, "cohort"), OPTIONS: root.get(OPTIONS),
                          VERSION: __version__, LAYOUT: LAYOUT_NOW})  # fmt: skip
    index = IndexWriter(dst)
    for name, s in status.items():  # failed and unfinished ones recorded as they were
        if s["status"] != "complete":
            index.set(name, "failed" if s["status"] == "failed" else "pending", s["error"])
    index.flush()
    copied = []
    with dask.config.set(scheduler="sync"):
        for name, s in status.items():
            if s["status"] != "complete":
                continue
            masks = open_roi_masks(src, group=name)
            provenance = dict(group_attrs(src, name).get(PROVENANCE, {}))
            write_subject(masks, dst, name, provenance)
            index.set(name, "complete")
            copied.append(name)
    index.flush()
    return copied
