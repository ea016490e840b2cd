"""The sampler registry: how voxels are sampled from the cortical surface.

A sampler is a function over one voxel chunk. Built in, with pycortex's meanings:

========================== ==================================================================
``"cortical"``             voxel centre within the ribbon: distance to the nearest fiducial
                           vertex ≤ that vertex's thickness
``"thick"``, ``"thin"``    distance to the nearest fiducial vertex < 8 mm / < 2 mm
a number                   distance ≤ that many mm
``"cortical-conservative"`` fraction of the (flatmap) vertices in the voxel that are in the ROI
``"cortical-liberal"``     fraction of the white→pial line samples (64 per vertex) in the voxel
                           that belong to the ROI
========================== ==================================================================

Add your own with :func:`register_sampler`.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from itertools import pairwise
from typing import Any

import numpy as np

from roixr.errors import OptionError
from roixr.kernels.distance import below, cortical_rule, distance_sampler, within
from roixr.kernels.geometry import Chunk, SamplerResult, SurfaceGeometry
from roixr.kernels.mapper import (
    Pairs,
    mapper_sampler,
    pair_lines,
    pair_vertices,
    vertex_points,
)

__all__ = ["Sampler", "get_sampler", "register_sampler", "samplers", "vertex_parts"]

SampleFn = Callable[[SurfaceGeometry, Chunk, Any], SamplerResult]
PrepareFn = Callable[[SurfaceGeometry, np.ndarray, tuple, tuple], Any]


@dataclass(frozen=True)
class Sampler:
    """A registered sampler.

    Attributes
    ----------
    name : str or float
        Its name (a number for distance thresholds).
    sample : callable
        ``sample(geometry, chunk, prepared) -> SamplerResult`` for one chunk; ``prepared`` is
        this chunk's share of what ``prepare`` returned (or None).
    fractional : bool
        Whether it returns fractions in [0, 1] (else booleans).
    prepare : callable, optional
        ``prepare(geometry, coord, shape, bounds, part)`` runs once per subject, transform
        and vertex range ``part`` (a slice; the ranges run in parallel), in the graph.
    share : callable, optional
        ``share(parts, b)``: block ``b``'s share of the prepared parts, handed to ``sample``.
    surfaces_only : bool
        ``prepare`` reads only the surfaces, never ``geometry.members``: it may then run
        while the ROIs are still being labelled (the drop-in ``get_roi_masks`` does).
    """

    name: str | float
    sample: SampleFn
    fractional: bool = False
    prepare: PrepareFn | None = None
    share: Callable[[list, int], Any] | None = None
    surfaces_only: bool = False

    @property
    def supports_cortex(self) -> bool:
        """Whether the ``"Cortex"`` pseudo-ROI is defined (binary samplers only)."""
        return not self.fractional


def _distance(rule, max_distance, geometry, chunk, prepared) -> SamplerResult:
    if callable(max_distance):
        max_distance = max_distance(geometry)
    return distance_sampler(geometry, chunk, rule, max_distance)


def _max_thickness(geometry: SurfaceGeometry) -> float:
    return float(geometry.thickness.max()) if geometry.n_vertices else 0.0


def _mapper_sample(geometry, chunk, prepared) -> SamplerResult:
    return mapper_sampler(geometry, chunk, prepared)


def _prepare(points, geometry, coord, shape, bounds, part=slice(None), edge="exact"):
    return pair_vertices(points(geometry, coord, part), shape, bounds, edge=edge)


def _prepare_lines(geometry, coord, shape, bounds, part=slice(None), edge="exact"):
    return pair_lines(geometry, coord, shape, bounds, part, edge=edge)


def _share(parts: list, b: int):
    return Pairs.concat([p.block(b) for p in parts])


def vertex_parts(n: int) -> list[slice]:
    """Vertex ranges for a sampler's preparation: a few per core, so it runs in parallel."""
    k = max(1, min(2 * (os.cpu_count() or 1), n // 4096))
    edges = np.linspace(0, n, k + 1).astype(int)
    return [slice(int(a), int(b)) for a, b in pairwise(edges)]


_REGISTRY: dict[str, Sampler] = {}


def register_sampler(sampler: Sampler, *, overwrite: bool = False) -> Sampler:
    """Register a sampler under its name, so ``roi_masks(..., sampler=name)`` finds it."""
    if not isinstance(sampler.name, str):
        raise OptionError(f"a registered sampler needs a string name, got {sampler.name!r}")
    if sampler.name in _REGISTRY and not overwrite:
        raise OptionError(
            f"a sampler named {sampler.name!r} is already registered; pass overwrite=True "
            "to replace it"
        )
    _REGISTRY[sampler.name] = sampler
    return sampler


def samplers() -> list[str]:
    """Names of the registered samplers."""
    return list(_REGISTRY)


def get_sampler(sampler: str | float | Sampler) -> Sampler:
    """A sampler by name, a distance in mm, or a :class:`Sampler` itself.

    Raises
    ------
    OptionError
        For an unknown name or a negative or non-finite distance.
    """
    if isinstance(sampler, Sampler):
        return sampler
    if isinstance(sampler, numbers.Real) and not isinstance(sampler, bool):
        d = float(sampler)
        if not np.isfinite(d) or d < 0:
            raise OptionError(
                f"a distance sampler must be a finite number ≥ 0 mm, got {sampler!r}"
            )
        return Sampler(sampler, partial(_distance, within(d), d))
    if isinstance(sampler, str) and sampler in _REGISTRY:
        return _REGISTRY[sampler]
    raise OptionError(
        f"unknown sampler {sampler!r}. Use one of {samplers()}, a distance in mm (e.g. 2), or "
        "register your own with roixr.samplers.register_sampler."
    )


for _s in (
    Sampler("cortical", partial(_distance, cortical_rule, _max_thickness)),
    Sampler("thick", partial(_distance, below(8.0), 8.0)),
    Sampler("thin", partial(_distance, below(2.0), 2.0)),
    Sampler(
        "cortical-conservative",
        _mapper_sample,
        True,
        partial(_prepare, vertex_points),
        _share,
        surfaces_only=True,
    ),
    Sampler("cortical-liberal", _mapper_sample, True, _prepare_lines, _share, surfaces_only=True),
):
    register_sampler(_s)
