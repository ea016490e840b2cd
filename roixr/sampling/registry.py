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
``"ribbon"``               the exact share of the voxel's volume that lies between the white
                           and pial surfaces in the ROI's columns (partial volume); ``"Cortex"``
                           alone gives the grey-matter partial-volume map
========================== ==================================================================

The built-in samplers are constants of their kernel modules (:mod:`roixr.sampling.kernels`),
listed here; add your own with :func:`register_sampler`.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

from roixr.errors import OptionError
from roixr.sampling.kernels import distance, mapper, ribbon
from roixr.sampling.protocol import PrepareFn, SampleFn, Sampler

__all__ = ["get_sampler", "register_sampler", "samplers"]

_BUILTINS = (
    distance.CORTICAL,
    distance.THICK,
    distance.THIN,
    mapper.CONSERVATIVE,
    mapper.LIBERAL,
    ribbon.RIBBON,
)
_REGISTRY: dict[str, Sampler] = {str(s.name): s for s in _BUILTINS}


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

    Parameters are the attributes of :class:`~roixr.sampling.Sampler`; ``overwrite``
    replaces a sampler already registered under that name.

    Returns
    -------
    Sampler

    Raises
    ------
    OptionError
        For an empty name, a name already registered (without ``overwrite``), or only one
        of ``prepare`` and ``share``.
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
    """Names of the registered samplers (the built-in ones first)."""
    return list(_REGISTRY)


def get_sampler(sampler: str | float | Sampler) -> Sampler:
    """A sampler by name, a distance in mm, or a :class:`~roixr.sampling.Sampler` itself.

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
        return distance.distance_within(sampler)
    if isinstance(sampler, str) and sampler in _REGISTRY:
        return _REGISTRY[sampler]
    raise OptionError(
        f"unknown sampler {sampler!r}.",
        fix=f"Use one of {samplers()}, a distance in mm (e.g. 2), or register your own with "
        "roixr.register_sampler.",
        option="sampler",
    )
