"""One voxel chunk of the reference grid, and what a sampler returns for it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Chunk", "SamplerResult"]


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

    @classmethod
    def whole(cls, coord: np.ndarray, shape: tuple[int, int, int]) -> Chunk:
        """The chunk covering the whole grid."""
        return cls((0, 0, 0), tuple(int(s) for s in shape), coord, shape)  # type: ignore[arg-type]

    @property
    def chunk_shape(self) -> tuple[int, int, int]:
        """``(cx, cy, cz)``."""
        cx, cy, cz = (b - a for a, b in zip(self.start, self.stop, strict=True))
        return cx, cy, cz

    @property
    def is_whole(self) -> bool:
        """Whether the chunk covers the whole grid."""
        return self.chunk_shape == tuple(self.shape)

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

    def local_index(self, flat_grid: np.ndarray) -> np.ndarray:
        """Flat indices over the whole grid → flat indices over this chunk (voxels inside)."""
        if self.is_whole:
            return flat_grid
        _, cy, cz = self.chunk_shape
        i, j, k = np.unravel_index(flat_grid, self.shape)
        x0, y0, z0 = self.start
        return ((i - x0) * cy + (j - y0)) * cz + (k - z0)

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
        int vertex indices that the sampler found in this chunk.
    cortex : ndarray or None
        ``(m,)`` the ``"Cortex"`` row: cortical voxels (or the ribbon's fraction) in none of
        the ROIs; None for samplers that do not define it.
    nearest : ndarray or None
        ``(m,)`` nearest fiducial vertex of each listed voxel, where the sampler knows it.
    reach : float
        Where ``nearest`` is None: a distance (mm) within which every listed voxel's centre
        has a fiducial vertex, so the hemisphere query can be bounded (``inf``: unknown).
    left : ndarray or None
        ``(m,)`` bool hemisphere of each listed entry, for samplers that keep hemispheres
        apart (a voxel may then be listed twice, once per hemisphere); else the hemisphere
        is that of the voxel's nearest fiducial vertex.
    """

    voxels: np.ndarray
    values: np.ndarray
    found: np.ndarray
    cortex: np.ndarray | None = None
    nearest: np.ndarray | None = None
    reach: float = np.inf
    left: np.ndarray | None = None
