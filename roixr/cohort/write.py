"""Writing a cohort on a dask cluster: one task per subject, each subject's group marked
complete only after its data, failures recorded in the store, re-runs redo what is left."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import zarr

from roixr import __version__
from roixr.cohort.cluster import cluster_client
from roixr.cohort.options import (
    check_subjects,
    cohort_options,
    differences,
    per_subject,
    subject_options,
)
from roixr.cohort.status import check_cohort
from roixr.errors import (
    CohortError,
    CohortMismatchError,
    OptionError,
    OutputPathError,
    RoixrError,
    StoreError,
)
from roixr.io.subject import SubjectLike
from roixr.masks import roi_masks
from roixr.store.format import (
    COHORT,
    COMPLETE,
    ERROR,
    KIND,
    OPTIONS,
    STATUS,
    VERSION,
    group_attrs,
    is_complete,
)
from roixr.store.location import Location, StoreLike, as_location, check_shared
from roixr.store.single import to_zarr

__all__ = ["write_cohort"]


def _open_root(loc: Location, options: dict[str, Any]) -> None:
    """Create the cohort root, or check that an existing one is a cohort of these options."""
    path = loc.path
    if (path.exists() and not path.is_dir()) if path is not None else loc.isfile():
        raise StoreError(f"{loc} is a file; give write_cohort a folder for the cohort store")
    if path is not None and not path.parent.is_dir():
        raise OutputPathError(
            f"the folder {path.parent} for the cohort store {path.name!r} does not exist; "
            "create it first."
        )
    loc.check_writable("the cohort store")
    if not loc.is_empty():
        check_cohort(loc, opener="roixr.write_cohort", writing=True)
        stored = group_attrs(loc).get(OPTIONS)
        if stored is not None:
            diff = differences(stored, options)
            if diff:
                raise CohortMismatchError(
                    f"the cohort store {loc} was written with other options; a cohort never "
                    f"mixes them. Different here: {'; '.join(diff)}. Pass the store's options, "
                    "or write these subjects to another store."
                )
    root = zarr.open_group(loc.zarr_store(), mode="a", zarr_format=3)
    if OPTIONS not in root.attrs:
        root.attrs.update({KIND: COHORT, OPTIONS: options, VERSION: __version__})


def _write_subject(name: str, subject, xfm, store: str | Location, options: dict) -> str | None:
    """One subject, start to finish, inside one worker task: read, sample, write, mark.

    The chunks are computed one after another (the synchronous scheduler), so a worker's
    memory is bounded by one subject's geometry and one chunk, whatever the cohort size.
    Returns None, or the problem with the subject's input as text.
    """
    import dask

    try:
        with dask.config.set(scheduler="sync"):
            masks = roi_masks(subject, xfm, **options)
            loc = as_location(store)
            loc.remove(name)  # its placeholder
            to_zarr(masks, loc, mode="w", group=name)
    except RoixrError as err:  # bad input: report it as text (no exception pickling)
        return f"{type(err).__name__}: {err}"
    return None


def _mark(loc: Location, name: str, **attrs: Any) -> None:
    """Replace a subject's group by an empty one with these attrs (pending or failed)."""
    if loc.path is not None:
        shutil.rmtree(loc.path / name, ignore_errors=True)
    else:
        loc.remove(name)
    group = zarr.open_group(loc.zarr_store(), path=name, mode="w", zarr_format=3)
    group.attrs.update({COMPLETE: False, **attrs})


def write_cohort(
    subjects: Mapping[str, tuple[SubjectLike, Any]],
    store: StoreLike,
    *,
    client=None,
    progress: bool = False,
    redo: bool | Iterable[str] = False,
    storage_options: dict[str, Any] | None = None,
    **options: Any,
) -> list[str]:
    """Compute a cohort's masks on a dask cluster and write them to one zarr store.

    Each subject is one task on the cluster (read, sample chunk by chunk, write, mark), so
    subjects spread over the workers and a worker's memory is bounded by one subject's
    chunks, not by the cohort's size. Each subject's group is marked complete only after all
    its data is written. Subjects already complete in the store are skipped, so a re-run
    after an interruption or a failure redoes only what is unfinished or failed, and
    subjects can be added later without rewriting the others. A worker that dies
    mid-subject has its task rerun elsewhere; the group is rewritten from the start.

    The store records the options; adding subjects with other options is refused, so a
    cohort never mixes samplers, ROIs or thresholds. A subject that fails is recorded in
    the store as failed, with its error (see :func:`cohort_status`); the others are written
    and :func:`open_cohort` opens them.

    Parameters
    ----------
    subjects : mapping
        ``{name: (subject, xfm)}`` or ``{name: (subject, xfm, source)}``, as
        :func:`cohort_masks` takes them.
    store : path-like or str
        The store's folder (created if missing; its parent must exist), or an fsspec URL
        (``s3://bucket/cohort.zarr``; the bucket must exist). The workers write their
        subjects' groups there themselves, so a URL must be reachable from them (not
        ``memory://`` with workers in other processes).
    client : distributed.Client, optional
        The cluster to use; by default a ``LocalCluster`` of two worker processes is
        started and closed (a script doing so needs an ``if __name__ == "__main__":``
        guard).
    progress : bool
        Show a progress bar.
    redo : bool or list of str
        Rewrite these subjects (True: all given) even if complete.
    storage_options : dict, optional
        For a URL: the options of its fsspec filesystem (credentials, endpoint), passed to
        the workers too.
    **options
        Passed to :func:`roixr.roi_masks`.

    Returns
    -------
    list of str
        The subjects written by this call.

    Raises
    ------
    CohortMismatchError
        If the store holds a cohort made with other options (nothing is computed).
    CohortError
        If some subjects failed; the others are written and marked complete.
    """
    check_subjects(subjects)
    path = as_location(store, storage_options)
    check_shared(path, client, "write_cohort")
    options = per_subject(subjects, options)
    wanted = cohort_options(options)
    _open_root(path, wanted)
    again = set(subjects) if redo is True else set(redo or ())
    unknown = sorted(again - set(subjects))
    if unknown:
        raise OptionError(f"redo names subjects not given in subjects: {unknown}")
    todo = [name for name in subjects if name in again or not is_complete(path, name)]
    if not todo:
        return []
    for name in todo:  # planned subjects exist, unfinished, until their task completes them
        _mark(path, name, **{STATUS: "pending"})
    failed: dict[str, str] = {}
    with cluster_client(client, "write_cohort") as cl:
        futures = {}
        for name in todo:
            value = subjects[name]
            own = subject_options(value, options)
            key = f"roixr-write-{name}-{uuid.uuid4().hex}"
            target = str(path) if path.local else path  # a URL goes with its options
            futures[name] = cl.submit(
                _write_subject, name, value[0], value[1], target, own, key=key, pure=False
            )
        if progress:
            from distributed import progress as show

            show(list(futures.values()))
        for name, future in futures.items():
            try:
                problem = future.result()
            except Exception as err:  # a crash, not bad input: record it, keep the others
                problem = f"{type(err).__name__}: {err}"
            if problem is not None:
                failed[name] = problem
                _mark(path, name, **{STATUS: "failed", ERROR: problem})
    if failed:
        shown = list(failed.items())[:10]
        lines = "\n".join(f"  {name}: {why}" for name, why in shown)
        more = f"\n  ... and {len(failed) - 10} more" if len(failed) > 10 else ""
        raise CohortError(
            f"{len(failed)} of {len(todo)} subjects failed; the others are written, and the "
            f"failures are recorded in the store:\n{lines}{more}\n",
            fix="roixr.open_cohort opens the others and roixr.cohort.cohort_status lists the "
            "failures. Fix these and run write_cohort again to redo only them, or remove "
            "them with roixr.cohort.drop_subjects.",
            option="redo",
        )
    return todo
