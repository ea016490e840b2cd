"""ROI time series of a cohort's runs on a dask cluster, into one store: ``extract_cohort``.

Two phases, each one task per unit of work, submitted in bounded batches:

1. **masks**, one task per distinct (subject, grid, registration), never per run: the
   task samples the masks and writes them with :func:`roixr.to_zarr` into the group
   ``masks/<id>`` of the store, returning only the ROI names and coverage. Runs whose
   references share a grid (shape and affine, whatever the file) share the task.
2. **series**, one task per run: it opens the run's masks from the store and its series
   with :func:`roixr.open_nifti`, reduces them with :func:`roixr.roi_timeseries` on the
   synchronous scheduler (memory: one masks array and one time chunk), and writes the
   run's own chunk of ``roi_timeseries``. Only a short status returns to the client.

Masks reach the series tasks through the store rather than as futures: the cluster holds
nothing between tasks (a future per (subject, grid) would pin masks in worker memory until
the last of its runs ran), a masks group already complete is reused by a re-run instead of
being sampled again, a series task retried after its worker died reads the same masks, and
the masks stay beside the series as their provenance. The price is that each run reads its
masks (compressed, a few hundred kB) again.

The client is the only writer of everything else (:class:`SeriesStore`): it marks a run
complete only after its task returned, that is after its data is on disk.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from typing import Any

import dask
import numpy as np

from roixr.cohort.cluster import Progress, bounded, cluster_client
from roixr.cohort.options import cohort_options
from roixr.cohort.run_plan import Anatomy, Run, error_text, plan_runs, read_runs, subject_source
from roixr.cohort.series_store import RunInfo, SeriesStore, write_run
from roixr.errors import CohortError, OptionError, OutputPathError, RoixrError
from roixr.io.subject import Subject
from roixr.masks import roi_masks
from roixr.store.format import MASKS_GROUP, RUN_COMPLETE, RUN_FAILED, is_complete
from roixr.store.location import Location, StoreLike, as_location, check_shared
from roixr.store.single import open_roi_masks, to_zarr
from roixr.timeseries import open_nifti, roi_timeseries
from roixr.timeseries.reduction import STATS

__all__ = ["extract_cohort"]

FLUSH_SECONDS = 1.0  # the client records results at most this often (and at the end)


# --- the tasks ----------------------------------------------------------------------------


def _masks_task(store: str | Location, group: str, anatomy: Anatomy, reference: str,
                registration: str, source: Any, options: dict[str, Any],
                again: bool) -> tuple | str:  # fmt: skip
    """One (subject, grid, registration): its masks sampled and written to ``group``, or
    reused if complete there. Returns (ROI names, coverage) or the error as text."""
    try:
        with dask.config.set(scheduler="sync"):
            if not again and is_complete(store, group):
                masks = open_roi_masks(store, group=group)
            else:
                subject = Subject.from_surfaces(
                    white=anatomy.white, pial=anatomy.pial, anatomical=anatomy.t1w,
                    name=anatomy.name,
                )  # fmt: skip
                own = subject_source(source, anatomy.freesurfer, anatomy.name)
                masks = roi_masks(subject, (reference, registration), source=own, **options)
                to_zarr(masks, store, mode="w", group=group)
            names = [str(r) for r in masks["roi"].values]
            cover = [None if np.isnan(c) else float(c) for c in masks["coverage"].values]
    except RoixrError as err:
        return error_text(err)
    return names, cover


def _series_task(store: str | Location, index: int, bold: str, group: str, rows: list[int],
                 stat: str) -> tuple[str | None, float | None]:  # fmt: skip
    """One run: its ROI time series written into its own chunk. Returns (error or None,
    repetition time or None)."""
    try:
        with dask.config.set(scheduler="sync"):
            masks = open_roi_masks(store, group=group)
            series = roi_timeseries(open_nifti(bold), masks, stat)  # type: ignore[arg-type]
            values = np.asarray(series.transpose("roi", "hemisphere", ...).values, np.float32)
    except Exception as err:  # a bad file, a grid mismatch: this run's failure, as text
        return error_text(err, f" reading {bold}"), None
    write_run(store, index, rows, values if values.ndim == 3 else values[..., None])
    tr = series.attrs.get("bold_tr")
    return None, None if tr is None else float(tr)


# --- the client ---------------------------------------------------------------------------


def _outcome(future: Any) -> Any:
    """A task's result; a crash (a worker lost too often, a bug) as error text."""
    try:
        return future.result()
    except Exception as err:
        return error_text(err)


def _options(source: Any, rois: Any, sampler: Any, stat: Any, options: dict) -> dict:
    svg = isinstance(source, str | os.PathLike) and str(source).lower().endswith(".svg")
    if source is None or svg or options.get("overlay_file") is not None:
        svg_file = source if svg else options.get("overlay_file")
        what = (
            "No ROI source was given, and the default (the subject's overlays SVG)"
            if svg_file is None
            else f"The overlays SVG {str(svg_file)!r}"
        )
        raise OptionError(
            f"{what} places ROIs with a flatmap, which the subjects of a runs table (surfaces "
            "from fMRIPrep or HCP) do not have.",
            fix="Pass source= an annotation looked up per subject ('aparc', "
            "'aparc.a2009s'), label files (.annot, .label, .label.gii, .dlabel.nii) or a "
            "mapping of vertex sets.",
            option="source",
        )
    if not isinstance(stat, str) or stat not in STATS:
        raise OptionError(
            f"stat must be one of {list(STATS)}; got {stat!r}.",
            fix="Pass one statistic by name (extract_cohort stores one value per ROI, "
            "hemisphere and volume).",
            option="stat",
        )
    wanted = cohort_options({"source": source, "rois": rois, "sampler": sampler, **options})
    return {**wanted, "stat": STATS[stat]}


def _failure(failed: dict[str, str], total: int) -> CohortError:
    shown = "\n".join(f"  {name}: {why}" for name, why in list(failed.items())[:10])
    more = f"\n  ... and {len(failed) - 10} more" if len(failed) > 10 else ""
    return CohortError(
        f"{len(failed)} of {total} runs failed; the others are written, and the failures are "
        f"recorded in the store:\n{shown}{more}\n",
        fix="roixr.open_timeseries opens the others and roixr.cohort.timeseries_status lists "
        "the failures. Fix these and run extract_cohort again to redo only them.",
        option="redo_runs",
    )


def extract_cohort(
    runs: Any,
    store: StoreLike,
    *,
    source: Any = None,
    rois: str | Iterable[str] | None = None,
    sampler: Any = "cortical",
    stat: str = "mean",
    client: Any = None,
    progress: bool = False,
    redo: bool | str | Iterable[str] = False,
    storage_options: dict[str, Any] | None = None,
    **options: Any,
) -> list[str]:
    """Extract the ROI time series of a cohort's runs on a dask cluster, into one zarr store.

    Masks are computed once per distinct (subject, grid, registration), never per run:
    runs whose reference images share a grid (shape and affine) and a registration share
    them. Then each run is one task: its series is read, reduced with
    :func:`roixr.roi_timeseries` and written into the run's own chunk of the store, so a
    worker's memory is bounded by one run and no two tasks write the same chunk. A run is
    marked complete only after its data is written; a run that fails (an unreadable or
    truncated file, a series off its reference's grid, labels missing, a ``problem`` in
    the table) is recorded as failed with its error while the others complete. A re-run
    redoes only the runs that are not complete, and adds runs the store does not hold yet;
    a worker that dies mid-run has its task rerun elsewhere. Open the result with
    :func:`roixr.open_timeseries`. Only one extraction may write a store at a time.

    Parameters
    ----------
    runs : pandas.DataFrame
        One row per run, as :func:`roixr.find_runs` gives it: the BIDS entities
        (``subject``, ``session``, ``task``, ``acquisition``, ``direction``, ``run``,
        ``echo``, ``space``), ``bold``, ``reference`` (the image whose grid the masks are
        made in), ``registration`` (of that image to the surfaces' space, or
        ``"identity"``), ``white_L``, ``white_R``, ``pial_L``, ``pial_R`` (surfaces in the
        anatomical scanner RAS), ``freesurfer`` (the subject's FreeSurfer directory, or
        None), ``t1w`` and ``problem`` (None, or why the run cannot be processed).
    store : path-like or str
        The store's folder (created if missing; its parent must exist), or an fsspec URL
        (``s3://bucket/series.zarr``; the bucket must exist), which the workers write to
        themselves (not ``memory://`` with workers in other processes).
    source : optional
        The ROIs: what :func:`roixr.roi_masks` takes, or an annotation name (``"aparc"``,
        ``"aparc.a2009s"``) looked up in each subject's FreeSurfer ``label/`` folder.
    rois, sampler
        As :func:`roixr.roi_masks`.
    stat : str, default "mean"
        The statistic of :func:`roixr.roi_timeseries` (one; ``count`` is stored as float).
    client : distributed.Client, optional
        The cluster; by default a ``LocalCluster`` of two worker processes is started and
        closed (a script doing so needs an ``if __name__ == "__main__":`` guard).
    progress : bool
        Show progress bars on stderr.
    redo : bool, str or list of str
        Extract these runs (True: all of ``runs``) again even if complete, masks included.
    storage_options : dict, optional
        For a URL: the options of its fsspec filesystem (credentials, endpoint), passed to
        the workers too.
    **options
        The other options of :func:`roixr.roi_masks` (``threshold``, ``allow_overlap``,
        ``fail_for_missing_rois``, ``exclude_empty_rois``, ``chunks``, ...).

    Returns
    -------
    list of str
        The runs this call completed, by name (``sub-01_ses-1_task-rest_run-1_space-T1w``:
        the entities the table gives), in the table's order.

    Raises
    ------
    OptionError
        For bad options, a malformed runs table, or ``redo`` naming runs not in it.
    CohortMismatchError
        If the store holds runs extracted with other options (nothing is computed).
    CohortError
        If some runs failed; the others are written and marked complete.
    """
    rows = read_runs(runs)
    wanted = _options(source, rois, sampler, stat, options)
    loc = as_location(store, storage_options)
    if loc.path is not None:
        path = loc.path.absolute()
        loc = as_location(path)
        if not path.parent.is_dir():
            raise OutputPathError(
                f"the folder {path.parent} for the store {path.name!r} does not exist; create "
                "it first (roixr does not create parent folders)."
            )
    check_shared(loc, client, "extract_cohort")
    loc.check_writable("the store")
    if loc.isfile():
        raise OutputPathError(f"{loc} is a file; give extract_cohort a folder for the store.")
    target: str | Location = str(loc) if loc.local else loc  # what the tasks are given
    names = {r.name for r in rows}
    again = names if redo is True else {redo} if isinstance(redo, str) else set(redo or ())
    if again - names:
        raise OptionError(
            f"redo names runs not in the runs table: {sorted(again - names)[:10]}; runs are "
            f"named like {sorted(names)[0]!r}."
        )
    ts = SeriesStore(loc, wanted)
    known = ts.index()
    todo = [r for r in rows if r.name in again or r.name not in known
            or ts.status[known[r.name]] != RUN_COMPLETE]  # fmt: skip
    if not todo:
        ts.finish()
        return []
    plan_runs(todo)
    ts.root.require_group(MASKS_GROUP)
    groups: dict[str, list[Run]] = {}
    for r in todo:
        if r.problem is None:
            groups.setdefault(r.group, []).append(r)
    mask_options = {"rois": rois, "sampler": sampler, **options}
    failed: dict[str, str] = {}
    done: list[str] = []
    with cluster_client(client, "extract_cohort") as cl:
        masks: dict[str, Any] = {}
        bar = Progress("masks", len(groups), progress)
        mask_calls = (
            (g, _masks_task, (target, g, rs[0].anatomy, rs[0].reference, rs[0].registration,
                              source, mask_options, any(r.name in again for r in rs)))
            for g, rs in groups.items()
        )  # fmt: skip
        for g, future in bounded(cl, mask_calls, "roixr-masks"):
            masks[g] = _outcome(future)
            bar.step(isinstance(masks[g], str))
        found = [n for out in masks.values() if not isinstance(out, str) for n in out[0]]
        ts.add_runs(
            [RunInfo(r.name, r.entities, str(r.bold or ""), r.group, r.n_volumes) for r in todo],
            list(dict.fromkeys(found)),
            max(r.n_volumes for r in todo),
        )
        made = [r for r in todo if r.problem is None and not isinstance(masks[r.group], str)]
        ts.set_coverage({r.name: dict(zip(*masks[r.group], strict=True)) for r in made})
        for r in todo:
            why = r.problem if r.problem is not None else masks[r.group]
            if isinstance(why, str):
                failed[r.name] = why if r.problem else f"computing its masks: {why}"
        ts.record({name: (RUN_FAILED, why, None) for name, why in failed.items()})
        rows_of = {roi: k for k, roi in enumerate(ts.rois)}
        index = ts.index()
        work = [r for r in todo if r.name not in failed]
        run_calls = (
            (r.name, _series_task, (target, index[r.name], str(r.bold), r.group,
                                    [rows_of[n] for n in masks[r.group][0]], wanted["stat"]))
            for r in work
        )  # fmt: skip
        bar = Progress("runs", len(work), progress)
        results: dict[str, tuple[int, str | None, float | None]] = {}
        last = time.monotonic()
        try:
            for name, future in bounded(cl, run_calls, "roixr-series"):
                out = _outcome(future)
                error, tr = out if isinstance(out, tuple) else (out, None)
                results[name] = (RUN_FAILED if error else RUN_COMPLETE, error, tr)
                (done.append(name) if error is None else failed.__setitem__(name, error))
                bar.step(error is not None)
                if time.monotonic() - last > FLUSH_SECONDS:
                    ts.record(results)
                    results, last = {}, time.monotonic()
        finally:  # what is known is recorded, even on an interruption
            ts.record(results)
    ts.finish()
    if failed:
        raise _failure(failed, len(todo))
    finished = set(done)
    return [r.name for r in todo if r.name in finished]  # in the table's order
