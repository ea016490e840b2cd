"""From a subject and its ROI table to the kernels' :class:`SurfaceGeometry`."""

from __future__ import annotations

import hashlib

import numpy as np

from roixr.io.subject import Subject
from roixr.kernels.geometry import SurfaceGeometry
from roixr.surface.flatmap import flat_mesh_vertices
from roixr.surface.rois import RoiTable

__all__ = ["surface_geometry"]


def surface_geometry(subject: Subject, table: RoiTable) -> SurfaceGeometry:
    """The arrays every chunk kernel shares, with a token hashed from them."""
    white, pial = subject.merged_points("white"), subject.merged_points("pial")
    flat = flat_mesh_vertices(subject)
    members = table.members.astype(bool)
    token = _token(white, pial, table.n_lh, flat, members.indptr, members.indices, table.names)
    return SurfaceGeometry(white, pial, table.n_lh, flat, members, token)


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
