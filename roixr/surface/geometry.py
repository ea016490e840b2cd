"""From a subject and its ROI table to the kernels' :class:`SurfaceGeometry`."""

from __future__ import annotations

import hashlib

import numpy as np
import scipy.sparse as sp

from roixr.io.subject import Subject
from roixr.kernels.geometry import SurfaceGeometry
from roixr.surface.flatmap import flat_mesh_vertices
from roixr.surface.rois import RoiTable

__all__ = ["surface_geometry", "with_table"]


def surface_geometry(subject: Subject) -> SurfaceGeometry:
    """The surface arrays every chunk kernel shares, without ROIs: enough for the work that
    needs only the surfaces (a sampler's preparation, the k-d tree). :func:`with_table` adds
    the ROIs."""
    white, pial = subject.merged_points("white"), subject.merged_points("pial")
    n_lh, flat = subject.n_vertices("lh"), flat_mesh_vertices(subject)
    return SurfaceGeometry(white, pial, n_lh, flat, sp.csr_array((0, len(white)), dtype=bool))


def with_table(geometry: SurfaceGeometry, table: RoiTable) -> SurfaceGeometry:
    """``geometry`` with the ROI table's membership, and a token hashed from both."""
    g, members = geometry, table.members.astype(bool)
    token = _token(g.white, g.pial, g.n_lh, g.flat_mesh, members.indptr, members.indices,
                   table.names)  # fmt: skip
    return geometry.with_members(members, token)


def _token(*parts) -> str:
    """A content hash of arrays and plain values (no dask import: the drop-in avoids it)."""
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        if isinstance(part, np.ndarray):
            h.update(f"{part.dtype.str}{part.shape}".encode())
            h.update(np.ascontiguousarray(part).view(np.uint8).ravel())
        else:
            h.update(repr(part).encode())
        h.update(b"|")
    return h.hexdigest()
