"""Surface ROIs: ROI sources → a sparse ``(roi × vertex)`` membership table.

Every kind of ROI definition (an overlays SVG, vertex sets, or any object implementing
:class:`RoiSource`) ends in one :class:`RoiTable`; nothing downstream knows its origin.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable

import numpy as np

from roixr.errors import MissingRoiWarning, RoiNotFoundError
from roixr.io.subject import SubjectLike, as_subject
from roixr.rois.protocol import RoiSource, SourceLike, as_source
from roixr.rois.table import RoiTable

__all__ = ["RoiSource", "RoiTable", "as_source", "requested_names", "roi_table", "roi_verts"]


def requested_names(
    rois: str | Iterable[str] | None,
    available: list[str],
    source: RoiSource,
    *,
    fail: bool = True,
    extra: tuple[str, ...] = (),
    stacklevel: int = 2,
) -> list[str]:
    """The requested ROI names, checked against a source's names (duplicates removed).

    Parameters
    ----------
    rois : str, iterable of str or None
        None asks for all of ``available``.
    available : list of str
    source : RoiSource
        For messages.
    fail : bool
        Raise for missing names; else warn (:class:`MissingRoiWarning`) and skip them.
    extra : tuple of str
        Names accepted besides the source's (``"Cortex"``).
    """
    if rois is None:
        return list(available)
    if not isinstance(rois, (str, Iterable)):
        raise RoiNotFoundError(
            f"rois must be an ROI name, a list of names or None, got {type(rois).__name__} "
            f"{rois!r:.60}"
        )
    names = list(dict.fromkeys([rois] if isinstance(rois, str) else list(rois)))
    bad = [n for n in names if not isinstance(n, str)]
    if bad:
        raise RoiNotFoundError(f"ROI names must be strings, got {bad!r:.80}")
    missing = [n for n in names if n not in available and n not in extra]
    if missing and fail:
        raise RoiNotFoundError(
            f"ROI(s) {missing} not found in {source.description}. Available ROIs: {available}.",
            fix="Check the spelling (names are case-sensitive), or pass "
            "fail_for_missing_rois=False to skip missing ROIs.",
            option="fail_for_missing_rois",
        )
    if missing:
        warnings.warn(
            f"ROI(s) {missing} not found in {source.description}; skipped.",
            MissingRoiWarning,
            stacklevel=stacklevel + 1,
        )
    return [n for n in names if n not in missing]


def roi_table(
    subject: SubjectLike,
    rois: str | Iterable[str] | None = None,
    *,
    source: SourceLike = None,
    overlay_file: str | os.PathLike | None = None,
) -> RoiTable:
    """The ``(roi × vertex)`` membership table of the requested ROIs of a source."""
    subj = as_subject(subject)
    src = as_source(source, overlay_file)
    names = requested_names(rois, src.names(subj), src, stacklevel=3)
    return src.table(subj, names)


def roi_verts(
    subject: SubjectLike,
    rois: str | Iterable[str] | None = None,
    overlay_file: str | os.PathLike | None = None,
    *,
    source: SourceLike = None,
) -> dict[str, np.ndarray]:
    """Vertex indices of each ROI of a subject.

    Parameters
    ----------
    subject : Subject, path-like or str
        A :class:`roixr.Subject`, a subject folder, or a subject name (looked up in
        ``ROIXR_FILESTORE``, then pycortex's filestore).
    rois : str or list of str, optional
        ROI names; all ROIs of the source, in its order, when None.
    overlay_file : path-like, optional
        Another overlays SVG instead of the subject's ``overlays.svg``.
    source : optional
        Any ROI source (see :func:`roixr.rois.as_source`); the subject's overlays by default.

    Returns
    -------
    dict of str to ndarray
        Sorted int64 vertex indices per ROI, both hemispheres in one numbering (right
        hemisphere after left), as pycortex's ``get_roi_verts``.

    Raises
    ------
    RoiNotFoundError
        If a requested ROI is not in the source.
    OverlayError, SVGPathError
        If the overlays cannot be read or a path does not parse.

    Warns
    -----
    EmptyRoiWarning
        For an ROI layer without paths.

    Examples
    --------
    >>> import tempfile, roixr
    >>> path = roixr.datasets.synthetic_subject(tempfile.mkdtemp() + "/synth")
    >>> verts = roixr.roi_verts(path, ["V1"])
    >>> list(verts), verts["V1"].dtype
    (['V1'], dtype('int64'))
    """
    table = roi_table(subject, rois, source=source, overlay_file=overlay_file)
    return {name: table.verts(name) for name in table.names}
