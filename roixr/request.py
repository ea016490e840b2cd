"""What to sample, checked and resolved into the kernels' inputs.

A request names a subject, a transform, ROIs, a sampler and the options; :func:`make_request`
checks them, reads what the kernels need (surfaces, the transform, the ROI table) and returns
a :class:`Request`. No dask and no xarray: the lazy masks (:mod:`roixr.masks`, through the
dask assembly) and the eager drop-in (:mod:`roixr.compat`, through :mod:`roixr.eager`) both
start here, so they resolve ROIs and options the same way.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from roixr.errors import OptionError, RoiNotFoundError
from roixr.io.subject import Subject, SubjectLike, as_subject
from roixr.io.transforms import Transform
from roixr.kernels import Options, SurfaceGeometry
from roixr.samplers import Sampler, get_sampler
from roixr.surface.geometry import surface_geometry, with_table
from roixr.surface.rois import RoiTable, roi_table

__all__ = ["CORTEX", "MissingRoiWarning", "Request", "make_request"]

CORTEX = "Cortex"


class MissingRoiWarning(UserWarning):
    """Requested ROIs are missing from the overlays, or 'Cortex' was dropped."""


@dataclass(frozen=True)
class Request:
    """A checked request, with what the kernels need.

    Attributes
    ----------
    subject : Subject
    transform : Transform
    sampler : Sampler
    options : Options
    names : list of str
        The real ROIs, in output order.
    out_names : list of str
        The output ROIs: ``names`` with ``"Cortex"`` at ``options.cortex_at`` if requested.
    surfaces : SurfaceGeometry
        The surfaces without ROIs, for work that needs only them.
    table : RoiTable or Future
        The ROI table of ``names``, or a future of it (computed in a thread).
    """

    subject: Subject
    transform: Transform
    sampler: Sampler
    options: Options
    names: list[str]
    out_names: list[str]
    surfaces: SurfaceGeometry
    table: RoiTable | Future

    @property
    def coord(self) -> np.ndarray:
        """The transform's 4×4 surface mm → voxel matrix, float64."""
        return np.asarray(self.transform.coord, dtype=float)

    @cached_property
    def geometry(self) -> SurfaceGeometry:
        """Surfaces and the ``(roi × vertex)`` table of the real ROIs (waits for the table)."""
        table = self.table.result() if isinstance(self.table, Future) else self.table
        return with_table(self.surfaces, table)


def make_request(
    subject: SubjectLike,
    xfm: str,
    rois: str | Iterable[str] | None,
    sampler: str | float | Sampler,
    *,
    threshold: float | None = None,
    allow_overlap: bool = False,
    fail_for_missing_rois: bool = True,
    drop_vertexless: bool = False,
    overlay_file: str | os.PathLike | None = None,
    background: bool = False,
) -> Request:
    """Check a request and read what its kernels need.

    Parameters are those of :func:`roixr.roi_masks`; ``drop_vertexless`` leaves out ROIs
    without vertices (the part of ``exclude_empty_rois`` known before sampling), and
    ``background`` labels the ROIs' vertices in a thread, so that work needing only the
    surfaces can run meanwhile (errors surface from :attr:`Request.geometry`). Warnings
    point at the caller of the public function that called this one.

    Raises
    ------
    OptionError, RoiNotFoundError, TransformError, TransformNotFoundError
        As :func:`roixr.roi_masks` documents.
    """
    smp = get_sampler(sampler)
    _check_threshold(threshold, smp)
    subj = as_subject(subject).preload()
    transform = subj.transform(xfm)
    overlays = subj.overlays(overlay_file)
    names, cortex_at = _names(
        rois, list(overlays.rois), fail_for_missing_rois, smp, str(overlays.path)
    )
    # empty layers are not warned about here: coverage reports them
    table: RoiTable | Future
    if background and not drop_vertexless:
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="roixr-roi-table")
        table = pool.submit(roi_table, subj, names, overlay_file, warn=False)
        pool.shutdown(wait=False)
    else:
        table = roi_table(subj, names, overlay_file, warn=False)
    if drop_vertexless:  # ROIs without vertices have no voxels: drop them before sampling
        keep = [n for n in names if table.verts(n).size]
        if cortex_at is not None:
            cortex_at = len([n for n in names[:cortex_at] if n in keep])
        names, table = keep, table.select(keep)
    options = Options(
        threshold=None if threshold is None else float(threshold),
        allow_overlap=bool(allow_overlap),
        cortex_at=cortex_at,
        fractional=smp.fractional,
    )
    out_names = list(names)
    if cortex_at is not None:
        out_names.insert(cortex_at, CORTEX)
    surfaces = surface_geometry(subj)
    return Request(subj, transform, smp, options, names, out_names, surfaces, table)


def _check_threshold(threshold: float | None, sampler: Sampler) -> None:
    if threshold is None:
        return
    if isinstance(threshold, bool) or not 0 <= float(threshold) <= 1:
        raise OptionError(
            f"threshold must be a number in [0, 1], got {threshold!r}; it turns fractions "
            "into booleans (fraction > threshold)"
        )
    if not sampler.fractional:
        warnings.warn(
            f"threshold={threshold} has no effect with the binary sampler {sampler.name!r}",
            UserWarning,
            stacklevel=4,
        )


def _names(rois, available: list[str], fail: bool, sampler: Sampler, source: str):
    """The real ROI names to sample, and the output position of 'Cortex' (or None)."""
    if rois is None:
        return available, None
    names = list(dict.fromkeys([rois] if isinstance(rois, str) else list(rois)))
    missing = [n for n in names if n not in available and n != CORTEX]
    if missing and fail:
        raise RoiNotFoundError(
            f"ROI(s) {missing} not found in {source}. Available ROIs: {available}. Check the "
            "spelling, or pass fail_for_missing_rois=False to skip missing ROIs."
        )
    if missing:
        warnings.warn(f"ROI(s) {missing} not found in {source}; skipped.", MissingRoiWarning,
                      stacklevel=4)  # fmt: skip
    names = [n for n in names if n not in missing]
    if CORTEX in names and not sampler.supports_cortex:
        warnings.warn(
            f"the 'Cortex' pseudo-ROI is only defined for distance samplers, not "
            f"{sampler.name!r}; it is left out.",
            MissingRoiWarning,
            stacklevel=4,
        )
        names.remove(CORTEX)
    if CORTEX in names:
        at = names.index(CORTEX)
        return [n for n in names if n != CORTEX], at
    return names, None
