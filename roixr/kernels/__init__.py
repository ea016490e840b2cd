"""Chunk kernels: pure numpy functions over one voxel chunk (no dask, no xarray).

A kernel receives the subject's precomputed :class:`SurfaceGeometry`, the chunk's voxel
slices and the transform, and returns that chunk's ``(roi, hemisphere, cx, cy, cz)`` values
plus the vertices it found in the volume (for coverage).
"""

from roixr.kernels.finalize import Options, apply_options, coverage, finalize
from roixr.kernels.geometry import Chunk, SamplerResult, SurfaceGeometry

__all__ = [
    "Chunk",
    "Options",
    "SamplerResult",
    "SurfaceGeometry",
    "apply_options",
    "coverage",
    "finalize",
]
