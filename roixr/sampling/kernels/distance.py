"""Distance samplers: a voxel is in an ROI when its centre is close to one of the ROI's
vertices on the fiducial surface (its nearest vertex), as pycortex's ``get_vox_dist``.

The nearest-vertex query is bounded by the sampler's largest distance: voxels farther from
the surface than that cannot be in any ROI, so the k-d tree prunes them early.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from roixr.rois.table import RoiTable
from roixr.sampling.chunk import Chunk, SamplerResult
from roixr.sampling.geometry import Surfaces
from roixr.sampling.protocol import Sampler

__all__ = [
    "CORTICAL",
    "THICK",
    "THIN",
    "below",
    "cortical_rule",
    "distance_sampler",
    "distance_within",
    "within",
]

Rule = Callable[[np.ndarray, np.ndarray, Surfaces], np.ndarray]


def distance_sampler(
    surfaces: Surfaces,
    table: RoiTable,
    chunk: Chunk,
    rule: Rule,
    max_distance: float,
    workers: int = 1,
) -> SamplerResult:
    """Sample one chunk with a distance rule.

    Parameters
    ----------
    surfaces : Surfaces
    table : RoiTable
    chunk : Chunk
    rule : callable
        ``rule(dist, nearest, surfaces) -> bool mask`` on voxels that have a vertex within
        ``max_distance`` (the cortical mask).
    max_distance : float
        No voxel farther than this from every vertex can pass ``rule``.
    workers : int
        Threads for the k-d tree query.

    Returns
    -------
    SamplerResult
        With the 'Cortex' row: the cortical voxels in no ROI.
    """
    n = surfaces.n_vertices
    bound = np.nextafter(max_distance, np.inf) * (1 + 1e-12)
    dist, nearest = surfaces.tree.query(
        chunk.voxel_mm(), distance_upper_bound=bound, workers=workers
    )
    near = np.flatnonzero(nearest < n)
    voxels = near[rule(dist[near], nearest[near], surfaces)]
    nn = nearest[voxels]
    values = table.values_of(nn)
    cortex = ~np.asarray(values.any(axis=0))
    return SamplerResult(voxels, values, np.unique(nn), cortex, nn)


def cortical_rule(dist: np.ndarray, nearest: np.ndarray, surfaces: Surfaces) -> np.ndarray:
    """Within the ribbon: distance ≤ the nearest vertex's thickness (pycortex 'cortical')."""
    return dist <= surfaces.thickness[nearest]


def _below(limit: float, dist: np.ndarray, nearest: np.ndarray, surfaces) -> np.ndarray:
    return dist < limit


def _within(limit: float, dist: np.ndarray, nearest: np.ndarray, surfaces) -> np.ndarray:
    return dist <= limit


def below(limit: float) -> Rule:
    """Distance strictly below ``limit`` (pycortex's 'thick' < 8 mm and 'thin' < 2 mm)."""
    return partial(_below, limit)


def within(limit: float) -> Rule:
    """Distance at most ``limit`` (pycortex's numeric ``gm_sampler``)."""
    return partial(_within, limit)


def _sample(rule: Rule, max_distance: Any, surfaces, table, chunk, prepared, workers):
    if callable(max_distance):
        max_distance = max_distance(surfaces)
    return distance_sampler(surfaces, table, chunk, rule, max_distance, workers)


def _max_thickness(surfaces: Surfaces) -> float:
    return float(surfaces.thickness.max()) if surfaces.n_vertices else 0.0


def distance_within(distance: float) -> Sampler:
    """The sampler of voxels within ``distance`` mm of an ROI's vertex (pycortex's number)."""
    d = float(distance)
    return Sampler(name=distance, sample=partial(_sample, within(d), d), cortex=True)


CORTICAL = Sampler(
    name="cortical", sample=partial(_sample, cortical_rule, _max_thickness), cortex=True
)
"""pycortex's ``cortical``: within the nearest fiducial vertex's thickness."""

THICK = Sampler(name="thick", sample=partial(_sample, below(8.0), 8.0), cortex=True)
"""pycortex's ``thick``: nearest fiducial vertex closer than 8 mm."""

THIN = Sampler(name="thin", sample=partial(_sample, below(2.0), 2.0), cortex=True)
"""pycortex's ``thin``: nearest fiducial vertex closer than 2 mm."""
