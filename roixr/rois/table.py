"""``RoiTable``: which vertices belong to which ROI, the one form every ROI source ends in."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

__all__ = ["RoiTable"]


@dataclass(frozen=True, eq=False)
class RoiTable:
    """Vertex membership of ROIs.

    Attributes
    ----------
    names : tuple of str
        ROI names, one per row.
    members : scipy.sparse.csr_array
        ``(n_rois, n_vertices)`` bool, vertices numbered left hemisphere first.
    n_lh : int
        Number of left-hemisphere vertices (the rest are right-hemisphere).
    colors : dict of str to str
        ``{name: "#rrggbb"}`` for ROIs whose source gives a colour.
    """

    names: tuple[str, ...]
    members: sp.csr_array
    n_lh: int
    colors: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_hemispheres(
        cls,
        names: Sequence[str],
        lh: sp.sparray | np.ndarray,
        rh: sp.sparray | np.ndarray,
        colors: Mapping[str, str] | None = None,
    ) -> RoiTable:
        """A table from one ``(n_rois, n_vertices_of_hemisphere)`` membership per hemisphere.

        Parameters
        ----------
        names : sequence of str
        lh, rh : sparse array or ndarray
            Bool (or 0/1) membership of each hemisphere's vertices.
        colors : dict, optional
        """
        lh, rh = sp.csr_array(lh, dtype=bool), sp.csr_array(rh, dtype=bool)
        members = sp.csr_array(sp.hstack([lh, rh], format="csr"), dtype=bool)
        return cls(tuple(names), members, int(lh.shape[1]), dict(colors or {}))

    @property
    def n_vertices(self) -> int:
        """Vertex count of both hemispheres."""
        return int(self.members.shape[1])

    def select(self, names: Sequence[str]) -> RoiTable:
        """The table of a subset of its ROIs, in the given order."""
        rows = [self.names.index(n) for n in names]
        colors = {n: c for n, c in self.colors.items() if n in names}
        return RoiTable(tuple(names), sp.csr_array(self.members[rows]), self.n_lh, colors)

    def verts(self, name: str) -> np.ndarray:
        """Sorted int64 vertex indices of one ROI."""
        row = self.names.index(name)
        indptr, indices = self.members.indptr, self.members.indices
        return np.sort(indices[indptr[row] : indptr[row + 1]]).astype(np.int64)

    def counts(self) -> np.ndarray:
        """Number of vertices of each ROI."""
        return np.diff(self.members.indptr).astype(np.int64)

    @property
    def by_vertex(self) -> sp.csr_array:
        """``(n_vertices, n_rois)`` bool: the ROIs each vertex belongs to (built once)."""
        cached = self.__dict__.get("_by_vertex")
        if cached is None:
            cached = sp.csr_array(self.members.T)
            object.__setattr__(self, "_by_vertex", cached)
        return cached

    def values_of(self, vertices: np.ndarray) -> np.ndarray:
        """``(n_rois, len(vertices))`` bool membership of the given vertices."""
        if len(vertices) == 0:
            return np.zeros((len(self.names), 0), dtype=bool)
        return self.by_vertex[vertices].toarray().T

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_by_vertex"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
