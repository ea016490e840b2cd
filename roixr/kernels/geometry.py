"""Surface geometry shared by every chunk, and the description of one chunk."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

__all__ = ["Chunk", "SamplerResult", "SurfaceGeometry"]


@dataclass(eq=False)
class SurfaceGeometry:
    """Everything a chunk kernel needs about the surfaces and the ROIs, as plain arrays.

    Attributes
    ----------
    white, pial : ndarray
        ``(n, 3)`` vertex coordinates (mm), both hemispheres merged, left first.
    n_lh : int
        Number of left-hemisphere vertices.
    flat_mesh : ndarray
        ``(n,)`` bool: vertices used by the flatmap's triangles.
    members : scipy.sparse.csr_array
        ``(n_roi, n)`` bool ROI membership of vertices.
    token : str
        A cheap deterministic name for dask (a hash of the source arrays).

    Notes
    -----
    The k-d tree of the fiducial surface is built on first use in each process and is not
    pickled, so shipping the geometry to workers stays cheap.
    """

    white: np.ndarray
    pial: np.ndarray
    n_lh: int
    flat_mesh: np.ndarray
    members: sp.csr_array
    token: str = ""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def n_vertices(self) -> int:
        """Vertex count of both hemispheres."""
        return int(self.white.shape[0])

    @property
    def n_rois(self) -> int:
        """Number of (real) ROIs."""
        return int(self.members.shape[0])

    @cached_property
    def fiducial(self) -> np.ndarray:
        """The midpoint of white and pial, computed as pycortex does (in the input dtype)."""
        return (self.white + self.pial) / 2

    @cached_property
    def thickness(self) -> np.ndarray:
        """Pial–white distance per vertex."""
        return np.sqrt(((self.pial - self.white) ** 2).sum(1))

    @cached_property
    def members_by_vertex(self) -> sp.csr_array:
        """``(n, n_roi)`` bool: the ROIs each vertex belongs to."""
        return sp.csr_array(self.members.T)

    @property
    def tree(self) -> cKDTree:
        """k-d tree of the fiducial surface (built once per process, thread-safe)."""
        tree = self.__dict__.get("_tree")
        if tree is None:
            with self._lock:
                tree = self.__dict__.get("_tree")
                if tree is None:
                    # unbalanced, uncompacted: half the build time, queries as fast
                    tree = cKDTree(self.fiducial, balanced_tree=False, compact_nodes=False)
                    self.__dict__["_tree"] = tree
        return tree

    def with_members(self, members: sp.csr_array, token: str = "") -> SurfaceGeometry:
        """The same surfaces with another ROI table, sharing what was computed from the
        surfaces (fiducial, thickness, the k-d tree once built)."""
        other = SurfaceGeometry(self.white, self.pial, self.n_lh, self.flat_mesh, members, token)
        for cached in ("fiducial", "thickness", "_tree"):
            if cached in self.__dict__:
                other.__dict__[cached] = self.__dict__[cached]
        return other

    def __getstate__(self) -> dict:
        state = {k: v for k, v in self.__dict__.items() if not k.startswith("_")}
        for cached in ("fiducial", "thickness", "members_by_vertex"):
            state.pop(cached, None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __dask_tokenize__(self) -> str:
        return self.token

    def roi_values(self, vertices: np.ndarray) -> np.ndarray:
        """``(n_roi, len(vertices))`` bool membership of the given vertices."""
        if len(vertices) == 0:
            return np.zeros((self.n_rois, 0), dtype=bool)
        return self.members_by_vertex[vertices].toarray().T


@dataclass(frozen=True)
class Chunk:
    """One voxel chunk of the reference grid.

    Attributes
    ----------
    start, stop : tuple of int
        Voxel index bounds (i, j, k) of the chunk, stop exclusive.
    coord : ndarray
        4×4 surface mm → voxel matrix.
    shape : tuple of int
        The whole grid's shape.
    """

    start: tuple[int, int, int]
    stop: tuple[int, int, int]
    coord: np.ndarray
    shape: tuple[int, int, int]

    @property
    def chunk_shape(self) -> tuple[int, int, int]:
        """``(cx, cy, cz)``."""
        return tuple(b - a for a, b in zip(self.start, self.stop, strict=True))  # type: ignore[return-value]

    @property
    def workers(self) -> int:
        """Threads for k-d tree queries: all cores when this chunk is the whole grid (no
        other chunk runs beside it), else one (dask runs chunks in parallel)."""
        return -1 if self.chunk_shape == tuple(self.shape) else 1

    @property
    def size(self) -> int:
        """Number of voxels."""
        return int(np.prod(self.chunk_shape))

    def voxel_indices(self, flat: np.ndarray | None = None) -> np.ndarray:
        """``(n, 3)`` integer voxel indices (i, j, k) of the chunk's voxels (all, C order, or
        those at the given flat indices)."""
        if flat is None:
            flat = np.arange(self.size)
        local = np.stack(np.unravel_index(flat, self.chunk_shape), axis=1)
        return local + np.asarray(self.start)

    @property
    def half_diagonal(self) -> float:
        """Largest distance (mm) from a voxel's centre to a point that rounds into it."""
        corners = np.array(np.meshgrid([-0.5, 0.5], [-0.5, 0.5], [-0.5, 0.5])).reshape(3, -1)
        return float(np.sqrt(((np.linalg.inv(self.coord)[:3, :3] @ corners) ** 2).sum(0)).max())

    def voxel_mm(self, flat: np.ndarray | None = None) -> np.ndarray:
        """``(n, 3)`` voxel centres in surface mm (pycortex's ``xfm.inv(idx)``)."""
        idx = self.voxel_indices(flat)
        inv = np.linalg.inv(self.coord)
        return np.dot(inv, np.hstack([idx, np.ones((len(idx), 1))]).T)[:3].T


@dataclass
class SamplerResult:
    """What a sampler returns for one chunk, before options are applied.

    Only the chunk's voxels that may be nonzero are listed (a column-compressed result), so
    kernels never touch the empty bulk of a volume.

    Attributes
    ----------
    voxels : ndarray
        ``(m,)`` int flat indices (C order over the chunk) of the voxels described.
    values : ndarray
        ``(n_roi, m)``: bool (binary samplers) or float64 fractions, for those voxels.
    found : ndarray
        int vertex indices that the sampler found in this chunk (for coverage).
    cortical : bool
        Whether ``voxels`` are exactly the chunk's cortical voxels (distance samplers), which
        defines the ``"Cortex"`` pseudo-ROI.
    nearest : ndarray or None
        ``(m,)`` nearest fiducial vertex of each listed voxel, where the sampler knows it.
    reach : float
        Where ``nearest`` is None: a distance (mm) within which every listed voxel's centre
        has a fiducial vertex, so the hemisphere query can be bounded (``inf``: unknown).
    """

    voxels: np.ndarray
    values: np.ndarray
    found: np.ndarray
    cortical: bool = False
    nearest: np.ndarray | None = None
    reach: float = np.inf
