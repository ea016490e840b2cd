"""Writing a cohort on a dask cluster: one task per subject, each subject's group marked
complete only after its data, failures recorded in the store, re-runs redo what is left."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from typing import Any

from roixr import __version__
from roixr.cohort.cluster import Progress, bounded, cluster_client
from roixr.cohort.options import (
    check_subjects,
    cohort_options,
    differences,
    per_subject,
    subject_options,
)
from roixr.cohort.status import IndexWriter, check_cohort, cohort_status
from roixr.errors import (
    CohortError,
    CohortMismatchError,
    OptionError,
    OutputPathError,
    RoixrError,
    StoreError,
    StoreKindError,
)
from roixr.io.subject import SubjectLike
from roixr.masks import roi_masks
from roixr.store.compact import write_group, write_subject, written_since
from roixr.store.format import (
    COHORT,
    COMPLETE,
    DATA,
    ERROR,
    KIND,
    LAYOUT,
    LAYOUT_NOW,
    OPTIONS,
    STATUS,
    VERSION,
    group_attrs,
)
from roixr.store.location import Location, StoreLike, as_location, check_shared, join
from roixr.store.single import provenance

__all__ = ["write_cohort"]

_FLUSH = 2.0
"""Seconds between writes of the index while subjects complete (and once at the end)."""


def _open_root(loc: Location, options: dict[str, Any]) -> None:
    """Create the cohort root (layout 2, an empty index), or check that an existing one is
    a cohort of these options, in the layout this version writes."""
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
        attrs = group_attrs(loc)
        if int(attrs.get(LAYOUT, 1)) != LAYOUT_NOW:
            raise StoreKindError(
                f"the cohort store {loc} is in layout {attrs.get(LAYOUT, 1)} (one group of "
                "many files per subject, written by roixr 0.1), and this version adds "
                f"subjects only in layout {LAYOUT_NOW}. It still opens as it is.",
                fix="Copy it into the current layout with roixr.cohort.upgrade_cohort(old, "
                "new) (or 'roixr upgrade OLD NEW'), then write to the new store.",
                option="upgrade",
            )
        stored = attrs.get(OPTIONS)
        if stored is not None:
            diff = differences(stored, options)
            if diff:
                raise CohortMismatchError(
                    f"the cohort store {loc} was written with other options; a cohort never "
                    f"mixes them. Different here: {'; '.join(diff)}. Pass the store's options, "
                    "or write these subjects to another store."
                )
        return
    write_group(loc, "", {KIND: COHORT, OPTIONS: options, VERSION: __version__,
                          LAYOUT: LAYOUT_NOW})  # fmt: skip
    IndexWriter(loc).flush()  # an index, empty: the store is in layout 2


def _write_subject(name: str, subject, xfm, store: str | Location, options: dict,
                   replaces: str | None) -> str | None:  # fmt: skip
    """One subject, start to finish, inside one worker task: read, sample, write, mark.

    The chunks are computed one after another (the synchronous scheduler) into the
    subject's one shard, so a worker's memory is bounded by one subject's geometry, one
    chunk and the shard, whatever the cohort size; the subject's group names its data and
    says it is complete only once that is written (:func:`roixr.store.compact.write_subject`).
    Returns None, or the problem with the subject's input as text.
    """
    import dask

    loc = as_location(store)
    if written_since(loc, name, replaces) is not None:
        return None  # another attempt at this task (its worker retired) completed it
    try:
        with dask.config.set(scheduler="sync"):
            masks = roi_masks(subject, xfm, **options)
            write_subject(masks, loc, name, provenance(masks), replaces)
    except RoixrError as err:  # bad input: report it as text (no exception pickling)
        return f"{type(err).__name__}: {err}"
    return None


def _mark_failed(loc: Location, name: str, error: str) -> None:
    """A subject whose task failed: its group says so (and holds no data)."""
    data = group_attrs(loc, name).get(DATA)
    write_group(loc, name, {COMPLETE: False, STATUS: "failed", ERROR: error})
    if data:
        loc.remove(join(name, str(data)))


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
    again = set(subjects) if redo is True else set(redo or ())
    unknown = sorted(again - set(subjects))
    if unknown:
        raise OptionError(f"redo names subjects not given in subjects: {unknown}")
    _open_root(path, wanted)
    status = cohort_status(path)
    todo = [n for n in subjects if n in again or status.get(n, {}).get("status") != "complete"]
    if not todo:
        return []
    index = IndexWriter(path)
    replaces: dict[str, str | None] = {}
    for name in todo:  # a subject's task removes the leftovers of earlier attempts once
        if status.get(name, {}).get("status") == "complete":  # it completes the subject
            replaces[name] = group_attrs(path, name).get(DATA)
        index.set(name, "pending")
    index.flush()  # planned subjects are unfinished until their task ends
    failed: dict[str, str] = {}
    target = str(path) if path.local else path  # a URL goes with its options
    calls = (
        (name, _write_subject,
         (name, subjects[name][0], subjects[name][1], target,
          subject_options(subjects[name], options), replaces.get(name)))
        for name in todo
    )  # fmt: skip
    bar = Progress("subjects", len(todo), progress)
    last = time.monotonic()
    try:
        with cluster_client(client, "write_cohort") as cl:
            for name, future in bounded(cl, calls, "roixr-write"):
                try:
                    problem = future.result()
                except Exception as err:  # a crash, not bad input: record it, keep the others
                    problem = f"{type(err).__name__}: {err}"
                del future
                if problem is None:
                    index.set(name, "complete")
                else:
                    failed[name] = problem
                    _mark_failed(path, name, problem)
                    index.set(name, "failed", problem)
                bar.step(problem is not None)
                if time.monotonic() - last > _FLUSH:
                    index.flush()
                    last = time.monotonic()
    finally:  # what is known is recorded, even if interrupted
        index.flush()
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
