"""Samplers: how voxels are sampled from the cortical surface, registered by name.

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
from itertools import pairwise
from typing import Any, Protocol

import numpy as np

from roixr.errors import OptionError
from roixr.rois.table import RoiTable
from roixr.sampling.chunk import Chunk, SamplerResult
from roixr.sampling.surfaces import Surfaces

__all__ = [
    "PrepareFn",
    "SampleFn",
    "Sampler",
    "get_sampler",
    "register_sampler",
    "samplers",
    "vertex_parts",
]


class SampleFn(Protocol):
    """``sample(surfaces, table, chunk, prepared, workers) -> SamplerResult``."""

    def __call__(
        self, surfaces: Surfaces, table: RoiTable, chunk: Chunk, prepared: Any, workers: int
    ) -> SamplerResult: ...


class PrepareFn(Protocol):
    """``prepare(surfaces, coord, shape, bounds, part)``: vertex-side work, once per grid."""

    def __call__(
        self,
        surfaces: Surfaces,
        coord: np.ndarray,
        shape: tuple[int, int, int],
        bounds: tuple[np.ndarray, ...],
        part: slice,
    ) -> Any: ...


@dataclass(frozen=True, kw_only=True)
class Sampler:
    """A sampler.

    Attributes
    ----------
    name : str or float
        Its name (a number for distance thresholds).
    sample : SampleFn
        ``sample(surfaces, table, chunk, prepared, workers) -> SamplerResult`` for one chunk;
        ``prepared`` is this chunk's share of what ``prepare`` returned (or None); ``workers``
        is how many threads it may use.
    fractional : bool
        Whether it returns fractions in [0, 1] (else booleans).
    cortex : bool
        Whether it defines the ``"Cortex"`` row (:attr:`SamplerResult.cortex`).
    prepare : PrepareFn, optional
        ``prepare(surfaces, coord, shape, bounds, part)`` runs once per subject, grid and
        vertex range ``part`` (the ranges run in parallel). It sees only the surfaces, never
        the ROIs, so it may run while the ROIs are being read.
    share : callable, optional
        ``share(parts, b)``: block ``b``'s share of the prepared parts, handed to ``sample``.
    needs_tree : bool
        Whether it (or the hemisphere of its voxels) uses the fiducial surface's k-d tree;
        the local executor builds the tree while the ROIs are read only when it does.
    """

    name: str | float
    sample: SampleFn
    fractional: bool = False
    cortex: bool = False
    prepare: PrepareFn | None = None
    share: Callable[[list, int], Any] | None = None
    needs_tree: bool = True

    @property
    def label(self) -> str | float:
        """The name as stored in attrs (a float for distances)."""
        return self.name if isinstance(self.name, str) else float(self.name)


def vertex_parts(n: int) -> list[slice]:
    """Vertex ranges for a sampler's preparation: a few per core, so it runs in parallel."""
    k = max(1, min(2 * (os.cpu_count() or 1), n // 4096))
    edges = np.linspace(0, n, k + 1).astype(int)
    return [slice(int(a), int(b)) for a, b in pairwise(edges)]


_REGISTRY: dict[str, Sampler] = {}


def register_sampler(
    name: str,
    *,
    sample: SampleFn,
    fractional: bool = False,
    cortex: bool = False,
    prepare: PrepareFn | None = None,
    share: Callable[[list, int], Any] | None = None,
    needs_tree: bool = True,
    overwrite: bool = False,
) -> Sampler:
    """Register a sampler under a name, so ``roi_masks(..., sampler=name)`` finds it.

    Parameters are the attributes of :class:`Sampler`; ``overwrite`` replaces a sampler
    already registered under that name.

    Returns
    -------
    Sampler
    """
    if not isinstance(name, str) or not name:
        raise OptionError(f"a registered sampler needs a non-empty string name, got {name!r}")
    if name in _REGISTRY and not overwrite:
        raise OptionError(
            f"a sampler named {name!r} is already registered; pass overwrite=True to replace it"
        )
    if (prepare is None) != (share is None):
        raise OptionError(f"sampler {name!r}: give both prepare= and share=, or neither")
    sampler = Sampler(
        name=name,
        sample=sample,
        fractional=fractional,
        cortex=cortex,
        prepare=prepare,
        share=share,
        needs_tree=needs_tree,
    )
    _REGISTRY[name] = sampler
    return sampler


def samplers() -> list[str]:
    """Names of the registered samplers."""
    _load_builtins()
    return list(_REGISTRY)


def get_sampler(sampler: str | float | Sampler) -> Sampler:
    """A sampler by name, a distance in mm, or a :class:`Sampler` itself.

    Raises
    ------
    OptionError
        For an unknown name or a negative or non-finite distance.
    """
    _load_builtins()
    if isinstance(sampler, Sampler):
        return sampler
    if isinstance(sampler, numbers.Real) and not isinstance(sampler, bool):
        from roixr.sampling.kernels.distance import distance_within

        d = float(sampler)
        if not np.isfinite(d) or d < 0:
            raise OptionError(
                f"a distance sampler must be a finite number ≥ 0 mm, got {sampler!r}"
            )
        return distance_within(sampler)
    if isinstance(sampler, str) and sampler in _REGISTRY:
        return _REGISTRY[sampler]
    raise OptionError(
        f"unknown sampler {sampler!r}. Use one of {list(_REGISTRY)}, a distance in mm (e.g. "
        "2), or register your own with roixr.register_sampler."
    )


def _load_builtins() -> None:
    """Register the built-in samplers (their modules register on import)."""
    import roixr.sampling.kernels  # noqa: F401
