"""Cohorts: many subjects' masks as one ``xarray.DataTree``, computed on a dask cluster.

``subjects`` is a mapping ``{name: (subject, xfm)}``. Each subject keeps its own functional
grid, so each is a node of the tree (a group of the store) rather than a slice of one array.
"""

from __future__ import annotations

import contextlib
import os
import re
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dask
import xarray as xr
import zarr

from roixr.errors import (
    CohortError,
    IncompleteStoreError,
    OptionError,
    RoixrError,
    StoreNotFoundError,
)
from roixr.io.subject import SubjectLike
from roixr.masks import roi_masks
from roixr.store import COMPLETE, is_complete, plain_labels, to_zarr
from roixr.timeseries import BoldLike, MasksLike, open_nifti, roi_timeseries

__all__ = ["cohort_masks", "cohort_timeseries", "open_cohort", "write_cohort"]

_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")


def _check(subjects: Mapping[str, tuple[SubjectLike, str]]) -> None:
    if not isinstance(subjects, Mapping) or not subjects:
        raise OptionError(
            "subjects must be a non-empty mapping {name: (subject, xfm)}, got "
            f"{type(subjects).__name__}"
        )
    for name, value in subjects.items():
        if not isinstance(name, str) or not _NAME.match(name):
            raise OptionError(
                f"subject name {name!r} cannot name a group: use letters, digits, '_', '-', '.'"
            )
        if not (isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], str)):
            raise OptionError(
                f"subjects[{name!r}] must be a (subject, xfm) pair, got {value!r:.80}"
            )


def cohort_masks(subjects: Mapping[str, tuple[SubjectLike, str]], **options: Any) -> xr.DataTree:
    """Lazy masks of many subjects, one DataTree node per subject.

    Parameters
    ----------
    subjects : mapping
        ``{name: (subject, xfm)}``; a subject is a :class:`roixr.Subject`, folder or name.
    **options
        Passed to :func:`roixr.roi_masks` (``rois``, ``sampler``, ``threshold``, ...).

    Returns
    -------
    xarray.DataTree
        Node ``/<name>`` holds that subject's ``roi_masks`` variable, in its own grid.
    """
    _check(subjects)
    nodes = {
        f"/{name}": roi_masks(subject, xfm, **options).to_dataset()
        for name, (subject, xfm) in subjects.items()
    }
    return xr.DataTree.from_dict(nodes)


@contextlib.contextmanager
def _client(client) -> Iterator[Any]:
    if client is not None:
        yield client
        return
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster:
        with Client(cluster) as own:
            yield own


def _write_subject(name: str, subject, xfm: str, store: str, options: dict) -> str | None:
    """One subject, start to finish, inside one worker task: read, sample, write, mark.

    The chunks are computed one after another (the synchronous scheduler), so a worker's
    memory is bounded by one subject's geometry and one chunk, whatever the cohort size.
    Returns None, or the problem with the subject's input as text.
    """
    import dask

    try:
        with dask.config.set(scheduler="sync"):
            masks = roi_masks(subject, xfm, **options)
            to_zarr(masks, store, mode="w", group=name)
    except RoixrError as err:  # bad input: report it as text (no exception pickling)
        return f"{type(err).__name__}: {err}"
    return None


def write_cohort(
    subjects: Mapping[str, tuple[SubjectLike, str]],
    store: str | os.PathLike,
    *,
    client=None,
    progress: bool = False,
    **options: Any,
) -> list[str]:
    """Compute a cohort's masks on a dask cluster and write them to one zarr store.

    Each subject is one task on the cluster (read, sample chunk by chunk, write, mark), so
    subjects spread over the workers and a worker's memory is bounded by one subject's
    chunks, not by the cohort's size. Each subject's group is marked complete only after all
    its data is written. Subjects already complete in the store are skipped, so a re-run
    after an interruption redoes only what is unfinished, and subjects can be added later
    without rewriting the others. A worker that dies mid-subject has its task rerun
    elsewhere; the group is rewritten from the start.

    Parameters
    ----------
    subjects : mapping
        ``{name: (subject, xfm)}``.
    store : path-like
        The store's folder (created if missing).
    client : distributed.Client, optional
        The cluster to use; by default a ``LocalCluster`` of two worker processes is
        started and closed.
    progress : bool
        Show a progress bar.
    **options
        Passed to :func:`roixr.roi_masks`.

    Returns
    -------
    list of str
        The subjects written by this call.

    Raises
    ------
    CohortError
        If some subjects failed; the others are written and marked complete.
    """
    _check(subjects)
    path = Path(store)
    root = zarr.open_group(str(path), mode="a", zarr_format=3)
    root.attrs["roixr_cohort"] = True
    todo = [name for name in subjects if not is_complete(path, name)]
    if not todo:
        return []
    for name in todo:  # planned subjects exist, unfinished, until their task completes them
        zarr.open_group(str(path), path=name, mode="a", zarr_format=3).attrs[COMPLETE] = False
    failed: dict[str, str] = {}
    with _client(client) as cl:
        futures = {}
        for name in todo:
            subject, xfm = subjects[name]
            key = f"roixr-write-{name}-{uuid.uuid4().hex}"
            futures[name] = cl.submit(
                _write_subject, name, subject, xfm, str(path), options, key=key, pure=False
            )
        if progress:
            from distributed import progress as show

            show(list(futures.values()))
        for name, future in futures.items():
            try:
                problem = future.result()
            except Exception as err:  # a crash, not bad input: report it, keep the others
                problem = f"{type(err).__name__}: {err}"
            if problem is not None:
                failed[name] = problem
    if failed:
        lines = "\n".join(f"  {name}: {why}" for name, why in failed.items())
        raise CohortError(
            f"{len(failed)} of {len(todo)} subjects failed; the others are written. Fix these "
            f"and run write_cohort again to redo only them:\n{lines}"
        )
    return todo


def unfinished(store: str | os.PathLike) -> list[str]:
    """Subject groups of a cohort store whose write did not finish."""
    root = zarr.open_group(str(store), mode="r")
    return sorted(name for name, _ in root.groups() if not is_complete(store, name))


def open_cohort(store: str | os.PathLike) -> xr.DataTree:
    """Open a cohort store lazily, refusing it if any subject's write did not finish.

    Raises
    ------
    StoreNotFoundError
        If there is no store.
    IncompleteStoreError
        Naming the subjects whose write did not finish (re-run :func:`write_cohort`).
    """
    path = Path(store)
    if not path.exists():
        raise StoreNotFoundError(f"no cohort store at {path}. Write one with roixr.write_cohort.")
    bad = unfinished(path)
    if bad:
        raise IncompleteStoreError(
            f"the cohort store {path} has subjects whose write did not finish: {bad}. Run "
            "roixr.write_cohort again with the same subjects to complete them."
        )
    tree = xr.open_datatree(path, engine="zarr", consolidated=False, chunks={})
    tree = tree.map_over_datasets(plain_labels)
    for node in tree.subtree:
        node.attrs.pop(COMPLETE, None)
    tree.attrs.pop("roixr_cohort", None)
    return tree


# --- time series ---------------------------------------------------------------------------


def _cohort_masks(masks: Any) -> dict[str, Any]:
    if isinstance(masks, str | os.PathLike):
        masks = open_cohort(masks)
    if isinstance(masks, xr.DataTree):
        return {str(name): node.to_dataset() for name, node in masks.children.items()}
    if isinstance(masks, Mapping):
        return dict(masks)
    raise OptionError(
        "masks must be a cohort DataTree (roixr.cohort_masks / open_cohort), a cohort store "
        f"path, or a mapping {{subject: masks}}; got {type(masks).__name__}."
    )


def _check_stackable(results: dict[str, xr.DataArray], time_dim: str) -> None:
    def axis(r: xr.DataArray) -> tuple:
        return r.sizes.get(time_dim), r[time_dim].values.tolist() if time_dim in r.coords else None

    (first, a), *rest = ((name, axis(r)) for name, r in results.items())
    for name, b in rest:
        if a != b:
            raise OptionError(
                f"cannot stack along 'subject': the time axes of {first!r} and {name!r} "
                "differ (length or TR). Use stack=False for a DataTree, or select a common "
                "time range first."
            )


def _stack(results: dict[str, xr.DataArray]) -> xr.DataArray:
    parts = []
    for name, r in results.items():
        r = r.expand_dims(subject=[name])
        if "coverage" in r.coords:
            r = r.assign_coords(coverage=r["coverage"].expand_dims(subject=[name]))
        parts.append(r)
    return xr.concat(parts, dim="subject", join="outer", coords="minimal", compat="override",
                     combine_attrs="drop_conflicts")  # fmt: skip


def cohort_timeseries(
    masks: xr.DataTree | Mapping[str, MasksLike] | str | os.PathLike,
    bolds: Mapping[str, BoldLike],
    *,
    client: Any = None,
    stack: bool = False,
    compute: bool = True,
    chunks: Any = "auto",
    **options: Any,
) -> xr.DataTree | xr.DataArray:
    """ROI time series of a cohort: each subject's bold series with that subject's masks.

    Parameters
    ----------
    masks : xarray.DataTree, mapping or path-like
        A cohort DataTree (:func:`roixr.cohort_masks`, :func:`roixr.open_cohort`), a cohort
        store path, or ``{subject: masks}`` (anything :func:`roi_timeseries` takes).
    bolds : mapping
        ``{subject: bold}``: a NIfTI path (opened with ``chunks``) or a DataArray. Only
        these subjects are computed; each needs masks.
    client : distributed.Client, optional
        Compute on this cluster. By default the active dask scheduler computes (a
        ``distributed.Client`` made earlier is used automatically).
    stack : bool, default False
        Return one DataArray stacked along a new ``subject`` dim (ROIs outer-joined, NaN
        where a subject lacks one; ``coverage`` becomes ``(subject, roi)``; attrs that
        differ between subjects are dropped). The time axes must agree.
    compute : bool, default True
        False returns the lazy result.
    chunks : default "auto"
        ``chunks`` of :func:`open_nifti` for paths.
    **options
        Passed to :func:`roi_timeseries` (``stat``, ``time_dim``, ``tol``).

    Returns
    -------
    xarray.DataTree or xarray.DataArray
        A tree with node ``/<subject>`` holding ``roi_timeseries``; with ``stack``, a
        ``(subject, roi, hemisphere, time)`` DataArray.

    Raises
    ------
    OptionError
        A subject with a bold series has no masks, or ``stack`` with time axes that differ.
    GridMismatchError
        A subject's series is not on its masks' grid (the message names the subject).
    """
    subject_masks = _cohort_masks(masks)
    missing = [name for name in bolds if name not in subject_masks]
    if missing:
        raise OptionError(
            f"no masks for the subject(s) {missing}; the masks hold {sorted(subject_masks)}."
        )
    results = {}
    for name, bold in bolds.items():
        if isinstance(bold, str | os.PathLike):
            bold = open_nifti(bold, chunks=chunks)
        try:
            results[name] = roi_timeseries(bold, subject_masks[name], **options)
        except RoixrError as err:
            raise type(err)(f"subject {name!r}: {err}") from err
    if stack:  # before computing
        _check_stackable(results, options.get("time_dim", "time"))
    if compute:
        arrays = list(results.values())
        if client is not None:
            arrays = client.gather(client.compute(arrays))
        else:
            arrays = dask.compute(*arrays)
        results = dict(zip(results, arrays, strict=True))
    if stack:
        return _stack(results)
    return xr.DataTree.from_dict({f"/{k}": v.to_dataset() for k, v in results.items()})
