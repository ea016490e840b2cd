"""ROI time series of a cohort: each subject's series with that subject's masks."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import dask
import xarray as xr

from roixr.cohort.open import open_cohort
from roixr.errors import OptionError, RoixrError
from roixr.timeseries import BoldLike, MasksLike, open_nifti, roi_timeseries

__all__ = ["cohort_timeseries"]


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
