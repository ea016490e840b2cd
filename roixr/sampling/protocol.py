"""What a sampler is: the :class:`Sampler` record and the signatures of its functions.

A leaf module: it imports only plain data modules (the chunk, the surface geometry, the ROI
table), so the built-in kernels (:mod:`roixr.sampling.kernels`) and the registry
(:mod:`roixr.sampling.registry`) can both import it without importing each other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from roixr.rois.table import RoiTable
from roixr.sampling.chunk import Chunk, SamplerResult
from roixr.sampling.geometry import Surfaces

__all__ = ["PrepareFn", "SampleFn", "Sampler"]


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
