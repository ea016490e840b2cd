"""ROI membership of surface vertices from the overlay's ``rois`` layer.

The result is a sparse ``(roi × vertex)`` table: row r marks the vertices of ROI r, in the
merged numbering (left hemisphere first, then right), following pycortex's
``get_roi_verts``: vertices whose flatmap position is inside the ROI's paths and that belong
to the flatmap's mesh, plus the vertices cut out of the flatmap that neighbour them
(pycortex PR 504). There is no Python loop over vertices.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from roixr.errors import RoiNotFoundError
from roixr.io.subject import SubjectLike, as_subject
from roixr.surface.flatmap import cut_neighbours, flat_mesh_vertices, flat_svg_coords
from roixr.surface.pip import PointSet

__all__ = ["EmptyRoiWarning", "RoiTable", "roi_table", "roi_verts"]


class EmptyRoiWarning(UserWarning):
    """An ROI layer has no paths, or its paths enclose no vertex."""


@dataclass(frozen=True)
class RoiTable:
    """Vertex membership of ROIs.

    Attributes
    ----------
    names : tuple of str
        ROI names, one per row.
    members : scipy.sparse.csr_array
        ``(n_rois, n_vertices)`` bool.
    n_lh : int
        Number of left-hemisphere vertices (the rest are right-hemisphere).
    """

    names: tuple[str, ...]
    members: sp.csr_array
    n_lh: int

    def select(self, names: list[str]) -> RoiTable:
        """The table of a subset of its ROIs, in the given order."""
        rows = [self.names.index(n) for n in names]
        return RoiTable(tuple(names), self.members[rows], self.n_lh)

    def verts(self, name: str) -> np.ndarray:
        """Sorted int64 vertex indices of one ROI."""
        row = self.names.index(name)
        indptr, indices = self.members.indptr, self.members.indices
        return np.sort(indices[indptr[row] : indptr[row + 1]]).astype(np.int64)


def _requested(rois: str | Iterable[str] | None, available: list[str], source: str) -> list[str]:
    if rois is None:
        return available
    names = [rois] if isinstance(rois, str) else list(rois)
    missing = [n for n in names if n not in available]
    if missing:
        raise RoiNotFoundError(
            f"ROI(s) {missing} not found in {source}. Available ROIs: {available}. Check the "
            "spelling (names are case-sensitive), or pass rois=None for all of them."
        )
    return list(dict.fromkeys(names))


def roi_table(
    subject: SubjectLike,
    rois: str | Iterable[str] | None = None,
    overlay_file: str | os.PathLike | None = None,
    *,
    warn: bool = True,
) -> RoiTable:
    """Vertex membership of ROIs as a sparse ``(roi × vertex)`` table.

    Parameters are those of :func:`roi_verts`; ``warn=False`` leaves out the warnings for
    layers without paths (callers that report empty ROIs otherwise, or run this in a thread,
    where catching warnings is not safe).

    Returns
    -------
    RoiTable
    """
    subj = as_subject(subject)
    overlays = subj.overlays(overlay_file)
    shapes = overlays.rois
    names = _requested(rois, list(shapes), str(overlays.path))
    points = PointSet(flat_svg_coords(subj, overlays.width, overlays.height))
    good = flat_mesh_vertices(subj)
    adj = cut_neighbours(subj, good)
    rows, cols = [], []
    for r, name in enumerate(names):
        polygons = shapes[name].polygons()
        if not polygons:
            if warn:
                warnings.warn(
                    f"ROI {name!r} in {overlays.path} has no paths; it has no vertices.",
                    EmptyRoiWarning,
                    stacklevel=3,
                )
            continue
        idx = points.inside(polygons)
        idx = idx[good[idx]]
        idx = np.union1d(idx, adj[idx].indices)  # cut-out neighbours (pycortex PR 504)
        rows.append(np.full(idx.size, r))
        cols.append(idx)
    n = len(good)
    row = np.concatenate(rows) if rows else np.empty(0, dtype=np.int64)
    col = np.concatenate(cols) if cols else np.empty(0, dtype=np.int64)
    members = sp.csr_array((np.ones(row.size, dtype=bool), (row, col)), shape=(len(names), n))
    return RoiTable(tuple(names), members, subj.n_vertices("lh"))


def roi_verts(
    subject: SubjectLike,
    rois: str | Iterable[str] | None = None,
    overlay_file: str | os.PathLike | None = None,
) -> dict[str, np.ndarray]:
    """Vertex indices of each ROI drawn in a subject's overlays.

    Parameters
    ----------
    subject : Subject, path-like or str
        A :class:`roixr.Subject`, a subject folder, or a subject name (looked up in
        ``ROIXR_FILESTORE``, then pycortex's filestore).
    rois : str or list of str, optional
        ROI names; all ROIs of the ``rois`` layer, in document order, when None.
    overlay_file : path-like, optional
        Another overlays SVG instead of the subject's ``overlays.svg``.

    Returns
    -------
    dict of str to ndarray
        Sorted int64 vertex indices per ROI, both hemispheres in one numbering (right
        hemisphere after left), as pycortex's ``get_roi_verts``.

    Raises
    ------
    RoiNotFoundError
        If a requested ROI is not in the overlays.
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
    table = roi_table(subject, rois, overlay_file)
    return {name: table.verts(name) for name in table.names}
