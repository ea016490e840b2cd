"""Cohorts: many subjects' masks as one ``xarray.DataTree``, computed on a dask cluster.

``subjects`` is a mapping ``{name: (subject, xfm)}``. Each subject keeps its own functional
grid, so each is a node of the tree (a group of the store) rather than a slice of one array.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import uuid
import warnings
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import dask
import xarray as xr
import zarr

from roixr._version import __version__
from roixr.errors import (
    CohortError,
    CohortMismatchError,
    ForeignStoreError,
    IncompleteCohortWarning,
    IncompleteStoreError,
    OptionError,
    OutputPathError,
    RoixrError,
    StoreError,
    StoreKindError,
    StoreNotFoundError,
)
from roixr.io.subject import SubjectLike
from roixr.masks import roi_masks
from roixr.store import (
    COHORT,
    COMPLETE,
    KIND,
    group_attrs,
    is_complete,
    is_zarr,
    plain_labels,
    store_kind,
    to_zarr,
)
from roixr.timeseries import BoldLike, MasksLike, open_nifti, roi_timeseries

__all__ = [
    "cohort_masks",
    "cohort_options",
    "cohort_status",
    "cohort_timeseries",
    "drop_subjects",
    "open_cohort",
    "write_cohort",
]

OPTIONS = "roixr_options"
PER_SUBJECT = "per subject"
STATUS = "roixr_status"
ERROR = "roixr_error"

_NAME = re.compile(r"^[A-Za-z0-9_\-][A-Za-z0-9_.\-]*$")


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
        if not (isinstance(value, tuple) and len(value) in (2, 3)):
            raise OptionError(
                f"subjects[{name!r}] must be a (subject, xfm) pair or a (subject, xfm, source) "
                f"triple, got {value!r:.80}"
            )


def _per_subject(subjects: Mapping[str, tuple], options: Mapping[str, Any]) -> dict[str, Any]:
    """The options with ``source`` marked per subject when subjects name their own."""
    own = [name for name, value in subjects.items() if len(value) == 3]
    if not own:
        return dict(options)
    if options.get("source") is not None or options.get("overlay_file") is not None:
        raise OptionError(
            f"subjects {own[:5]} name their own ROI source; pass no shared source= (or "
            "overlay_file=), or name a source for every subject"
        )
    return {**options, "source": PER_SUBJECT}


def _subject_options(value: tuple, options: Mapping[str, Any]) -> dict[str, Any]:
    """A subject's roi_masks options: its own source when it names one."""
    out = dict(options)
    if out.get("source") == PER_SUBJECT:
        out["source"] = value[2] if len(value) == 3 else None
    return out


def cohort_masks(subjects: Mapping[str, tuple[SubjectLike, str]], **options: Any) -> xr.DataTree:
    """Lazy masks of many subjects, one DataTree node per subject.

    Parameters
    ----------
    subjects : mapping
        ``{name: (subject, xfm)}`` or ``{name: (subject, xfm, source)}``; a subject is a
        :class:`roixr.Subject`, folder or name; ``xfm`` a transform name or a
        ``(reference_image, registration)`` pair; ``source`` the subject's own ROI source
        (then no shared ``source=``).
    **options
        Passed to :func:`roixr.roi_masks` (``rois``, ``sampler``, ``threshold``, ...).

    Returns
    -------
    xarray.DataTree
        Node ``/<name>`` holds that subject's ``roi_masks`` variable, in its own grid.
    """
    _check(subjects)
    shared = _per_subject(subjects, options)
    nodes = {
        f"/{name}": roi_masks(value[0], value[1], **_subject_options(value, shared)).to_dataset()
        for name, value in subjects.items()
    }
    return xr.DataTree.from_dict(nodes)


def _canonical_source(source: Any) -> Any:
    if source is None or source == PER_SUBJECT:
        return source
    if isinstance(source, str | os.PathLike):
        p = Path(source)
        return str(p.resolve()) if p.exists() else str(source)
    if isinstance(source, Mapping):
        from dask.base import tokenize

        return f"mapping {tokenize(source)}"
    return str(getattr(source, "description", type(source).__name__))


def cohort_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The options that decide a cohort's masks, with defaults filled in, as plain values.

    ``chunks`` is left out: it changes how the masks are computed, not what they are.

    Raises
    ------
    OptionError
        For an option :func:`roixr.roi_masks` does not take.
    """
    import inspect

    from roixr.sampling.registry import get_sampler

    params = inspect.signature(roi_masks).parameters
    allowed = [n for n in params if n not in ("subject", "xfm")]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise OptionError(
            f"unknown option(s) {unknown} for a cohort; the options are those of "
            f"roixr.roi_masks: {allowed}"
        )
    full = {n: options.get(n, params[n].default) for n in allowed if n != "chunks"}
    if isinstance(full["source"], tuple | list):
        full["source"] = [_canonical_source(s) for s in full["source"]]
    rois = full["rois"]
    full["rois"] = [rois] if isinstance(rois, str) else (None if rois is None else list(rois))
    full["sampler"] = get_sampler(full["sampler"]).label
    for key in ("source", "overlay_file"):
        if not isinstance(full[key], list):
            full[key] = _canonical_source(full[key])
    for key in ("allow_overlap", "fail_for_missing_rois", "exclude_empty_rois"):
        full[key] = bool(full[key])
    return full


def _differences(stored: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    keys = sorted(set(stored) | set(wanted))
    return [
        f"{k}={wanted.get(k)!r} (the store has {stored.get(k)!r})"
        for k in keys
        if stored.get(k) != wanted.get(k)
    ]


def _open_root(path: Path, options: dict[str, Any]) -> None:
    """Create the cohort root, or check that an existing one is a cohort of these options."""
    if path.exists() and not path.is_dir():
        raise StoreError(f"{path} is a file; give write_cohort a folder for the cohort store")
    if not path.parent.is_dir():
        raise OutputPathError(
            f"the folder {path.parent} for the cohort store {path.name!r} does not exist; "
            "create it first."
        )
    if path.exists() and any(path.iterdir()):
        kind = store_kind(path)
        if kind is None:
            raise ForeignStoreError(
                f"{path} exists and is not a roixr cohort store (it is "
                f"{'a zarr store roixr did not write' if is_zarr(path) else 'not a zarr store'}"
                "); write the cohort to a new path."
            )
        if kind != COHORT:
            raise StoreKindError(
                f"{path} is a single-subject store ({kind!r}), not a cohort; write the cohort "
                "to a new path."
            )
        stored = group_attrs(path).get(OPTIONS)
        if stored is not None:
            diff = _differences(stored, options)
            if diff:
                raise CohortMismatchError(
                    f"the cohort store {path} was written with other options; a cohort never "
                    f"mixes them. Different here: {'; '.join(diff)}. Pass the store's options, "
                    "or write these subjects to another store."
                )
    root = zarr.open_group(str(path), mode="a", zarr_format=3)
    if OPTIONS not in root.attrs:
        root.attrs.update({KIND: COHORT, OPTIONS: options, "roixr_version": __version__})


def _check_main_guard() -> None:
    """Starting worker processes re-imports the main script under spawn: without a
    ``__main__`` guard the script would start clusters recursively. Refuse it up front."""
    import ast
    import multiprocessing

    import __main__

    file = getattr(__main__, "__file__", None)
    if file is None or multiprocessing.get_start_method(allow_none=True) == "fork":
        return
    try:
        tree = ast.parse(Path(file).read_text())
    except (OSError, SyntaxError, ValueError):
        return
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "__name__" in ast.unparse(node.test):
            return
    raise CohortError(
        f"write_cohort starts a local cluster of worker processes, and each of them imports "
        f"your script {file} again, which would start write_cohort again. Put the call under "
        "'if __name__ == \"__main__\":', or pass client= a distributed.Client you made."
    )


@contextlib.contextmanager
def _client(client) -> Iterator[Any]:
    if client is not None:
        yield client
        return
    _check_main_guard()
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster:  # fmt: skip
        with Client(cluster) as own:
            yield own


def _write_subject(name: str, subject, xfm, store: str, options: dict) -> str | None:
    """One subject, start to finish, inside one worker task: read, sample, write, mark.

    The chunks are computed one after another (the synchronous scheduler), so a worker's
    memory is bounded by one subject's geometry and one chunk, whatever the cohort size.
    Returns None, or the problem with the subject's input as text.
    """
    import dask

    try:
        with dask.config.set(scheduler="sync"):
            masks = roi_masks(subject, xfm, **options)
            shutil.rmtree(Path(store) / name, ignore_errors=True)  # its placeholder
            to_zarr(masks, store, mode="w", group=name)
    except RoixrError as err:  # bad input: report it as text (no exception pickling)
        return f"{type(err).__name__}: {err}"
    return None


def _mark(path: Path, name: str, **attrs: Any) -> None:
    """Replace a subject's group by an empty one with these attrs (pending or failed)."""
    shutil.rmtree(path / name, ignore_errors=True)
    group = zarr.open_group(str(path), path=name, mode="w", zarr_format=3)
    group.attrs.update({COMPLETE: False, **attrs})


def write_cohort(
    subjects: Mapping[str, tuple[SubjectLike, Any]],
    store: str | os.PathLike,
    *,
    client=None,
    progress: bool = False,
    redo: bool | Iterable[str] = False,
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
    store : path-like
        The store's folder (created if missing; its parent must exist).
    client : distributed.Client, optional
        The cluster to use; by default a ``LocalCluster`` of two worker processes is
        started and closed (a script doing so needs an ``if __name__ == "__main__":``
        guard).
    progress : bool
        Show a progress bar.
    redo : bool or list of str
        Rewrite these subjects (True: all given) even if complete.
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
    _check(subjects)
    path = Path(store)
    options = _per_subject(subjects, options)
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
    with _client(client) as cl:
        futures = {}
        for name in todo:
            value = subjects[name]
            own = _subject_options(value, options)
            key = f"roixr-write-{name}-{uuid.uuid4().hex}"
            futures[name] = cl.submit(
                _write_subject, name, value[0], value[1], str(path), own, key=key, pure=False
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
            f"{len(failed)} of {len(todo)} subjects failed; the others are written and "
            f"roixr.open_cohort opens them. The failures are recorded in the store "
            f"(roixr.cohort.cohort_status). Fix these and run write_cohort again to redo only "
            f"them, or remove them with roixr.cohort.drop_subjects:\n{lines}{more}"
        )
    return todo


def cohort_status(store: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """Each subject of a cohort store: ``{"status": "complete" | "failed" | "unfinished",
    "error": text or None}``, sorted by name.

    Raises the errors of :func:`open_cohort` for a path that is not a cohort store.
    """
    path = Path(store)
    _check_cohort(path)
    root = zarr.open_group(str(path), mode="r")
    out = {}
    for name in sorted(n for n, _ in root.groups()):
        attrs = group_attrs(path, name)
        if attrs.get(COMPLETE):
            status = "complete"
        elif attrs.get(STATUS) == "failed":
            status = "failed"
        else:
            status = "unfinished"
        out[name] = {"status": status, "error": attrs.get(ERROR)}
    return out


def unfinished(store: str | os.PathLike) -> list[str]:
    """Subject groups of a cohort store whose write did not finish (failed ones included)."""
    return [n for n, s in cohort_status(store).items() if s["status"] != "complete"]


def drop_subjects(store: str | os.PathLike, names: Iterable[str]) -> None:
    """Remove subjects (complete, failed or unfinished) from a cohort store.

    Raises
    ------
    OptionError
        Naming subjects the store does not hold (nothing is removed).
    """
    path = Path(store)
    held = cohort_status(path)
    names = [names] if isinstance(names, str) else list(names)
    missing = sorted(set(names) - set(held))
    if missing:
        raise OptionError(
            f"the cohort store {path} holds no subject(s) {missing}; it holds {sorted(held)}"
        )
    for name in names:
        shutil.rmtree(path / name)


def _check_cohort(path: Path) -> None:
    if not path.exists():
        raise StoreNotFoundError(
            f"no cohort store at {path}. Check the path, or write one with roixr.write_cohort."
        )
    if not path.is_dir() or not is_zarr(path):
        raise ForeignStoreError(
            f"{path} is not a zarr store (no zarr.json in it); give roixr.open_cohort the "
            "folder roixr.write_cohort wrote."
        )
    kind = store_kind(path)
    if kind is None:
        raise ForeignStoreError(
            f"{path} is a zarr store that roixr did not write, so roixr cannot tell which "
            "subjects are complete. Open it with xarray.open_datatree."
        )
    if kind != COHORT:
        raise StoreKindError(
            f"{path} is a single-subject store ({kind!r}), not a cohort; open it with "
            "roixr.open_roi_masks()."
        )


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
        names = ", ".join(f"{n} ({s['status']})" for n, s in list(bad.items())[:20])
        more = f" and {len(bad) - 20} more" if len(bad) > 20 else ""
        text = (
            f"the cohort store {path} has {len(bad)} subject(s) that failed or whose write "
            f"did not finish: {names}{more}. roixr.cohort.cohort_status(store) gives their "
            "errors; run roixr.write_cohort again to redo them, or remove them with "
            "roixr.cohort.drop_subjects."
        )
        if strict:
            raise IncompleteStoreError(text)
        warnings.warn(
            text + " Only the complete subjects are opened.", IncompleteCohortWarning,
            stacklevel=2,
        )  # fmt: skip
    nodes = {
        f"/{name}": xr.open_zarr(path, group=name, consolidated=False, chunks={})
        for name, s in status.items()
        if s["status"] == "complete"
    }
    for ds in nodes.values():
        ds.attrs.clear()
    tree = xr.DataTree.from_dict(nodes).map_over_datasets(plain_labels)
    if bad:
        tree.attrs["roixr_incomplete"] = bad
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
