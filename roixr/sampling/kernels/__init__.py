"""Chunk kernels of the built-in samplers (pure numpy, the ribbon's integral in numba).

- :mod:`~roixr.sampling.kernels.distance`: ``cortical``, ``thick``, ``thin`` and distances;
- :mod:`~roixr.sampling.kernels.mapper`: ``cortical-conservative`` and ``cortical-liberal``;
- :mod:`~roixr.sampling.kernels.ribbon`: ``ribbon`` (exact partial volume), whose geometry is
  :mod:`~roixr.sampling.kernels.ribbon_kernel`;
- :mod:`~roixr.sampling.kernels.voxels`: helpers the kernels share.

Each kernel module defines its samplers as constants (:class:`~roixr.sampling.Sampler`
objects); :mod:`roixr.sampling.registry` lists them. Importing a kernel registers nothing.
"""

from roixr.sampling.kernels import distance, mapper, ribbon

__all__ = ["distance", "mapper", "ribbon"]
