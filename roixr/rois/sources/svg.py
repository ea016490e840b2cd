"""ROIs drawn on the flatmap in a pycortex ``overlays.svg``.

The table follows pycortex's ``get_roi_verts``: vertices whose flatmap position is inside
the ROI's paths and that belong to the flatmap's mesh, plus the vertices cut out of the
flatmap that neighbour them (pycortex PR 504). There is no Python loop over vertices.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from roixr.errors import EmptyRoiWarning, SubjectFileNotFoundError
from roixr.io.subject import Subject
from roixr.io.svg.overlays import Overlays, read_overlays
from roixr.rois.flatmap import cut_neighbours, flat_svg_coords
from roixr.rois.polygons import PointSet
from roixr.rois.table import RoiTable

__all__ = ["SvgSource"]


class SvgSource:
    """ROIs of the ``rois`` layer of an overlays SVG.

    Parameters
    ----------
    path : path-like, optional
        The SVG file; the subject's own ``overlays.svg`` when None.
    warn : bool
        Warn (:class:`~roixr.errors.EmptyRoiWarning`) for ROI layers without paths.
    """

    def __init__(self, path: str | os.PathLike | None = None, *, warn: bool = True) -> None:
        self.path = None if path is None else Path(path).expanduser().resolve()
        self.warn = warn
        self._lock = threading.Lock()
        self._cache: dict[Path, Overlays] = {}

    @property
    def description(self) -> str:
        """What the ROIs come from."""
        return str(self.path) if self.path is not None else "overlays.svg"

    def __repr__(self) -> str:
        return f"SvgSource({self.description!r})"

    def overlays(self, subject: Subject) -> Overlays:
        """The parsed overlays for ``subject`` (read once per source and file)."""
        path = self.path if self.path is not None else subject.path / "overlays.svg"
        if not subject.has_surface("flat"):
            raise SubjectFileNotFoundError(
                f"subject {subject.name!r} has no flatmap, and ROIs drawn in an overlays SVG "
                f"({path}) are placed by it.",
                fix="Pass source= another kind of ROI source (FreeSurfer labels or annotations "
                "such as source='aparc', GIfTI or CIFTI labels, vertex sets), or flat=(lh, rh) "
                "to roixr.Subject.from_surfaces.",
                option="source",
            )
        with self._lock:
            if path not in self._cache:
                self._cache[path] = read_overlays(path)
            return self._cache[path]

    def names(self, subject: Subject) -> list[str]:
        """The ROI layers, in document order."""
        return list(self.overlays(subject).rois)

    def table(self, subject: Subject, names: Sequence[str]) -> RoiTable:
        """Vertex membership of the named ROI layers."""
        overlays = self.overlays(subject)
        if not subject.has_surface("flat"):
            raise SubjectFileNotFoundError(
                f"subject {subject.name!r} has no flatmap, and ROIs drawn in an overlays SVG "
                f"({overlays.path}) are placed by it.",
                fix="Pass source= another kind of ROI source (FreeSurfer labels or annotations, "
                "GIfTI or CIFTI labels, vertex sets).",
                option="source",
            )
        shapes = overlays.rois
        points = PointSet(flat_svg_coords(subject, overlays.width, overlays.height))
        good = subject.flat_mesh_vertices()
        adj = cut_neighbours(subject, good)
        rows, cols = [], []
        for r, name in enumerate(names):
            polygons = shapes[name].polygons()
            if not polygons:
                if self.warn:
                    warnings.warn(
                        f"ROI {name!r} in {overlays.path} has no paths; it has no vertices.",
                        EmptyRoiWarning,
                        stacklevel=5,
                    )
                continue
            idx = points.inside(polygons)
            idx = idx[good[idx]]
            idx = np.union1d(idx, adj[idx].indices)  # cut-out neighbours (pycortex PR 504)
            if not idx.size and self.warn:
                warnings.warn(
                    f"ROI {name!r} in {overlays.path} has paths, but they enclose no vertex "
                    "of the flatmap; it has no vertices. Check that it is drawn over the "
                    "flatmap (and not, for example, in another layer's coordinates).",
                    EmptyRoiWarning,
                    stacklevel=5,
                )
            rows.append(np.full(idx.size, r))
            cols.append(idx)
        n = len(good)
        row = np.concatenate(rows) if rows else np.empty(0, dtype=np.int64)
        col = np.concatenate(cols) if cols else np.empty(0, dtype=np.int64)
        members = sp.csr_array((np.ones(row.size, dtype=bool), (row, col)), shape=(len(names), n))
        return RoiTable(tuple(names), members, subject.n_vertices("lh"))
