"""Sampling: the sampler registry, the plan, the chunk routine and its two executors.

- :mod:`~roixr.sampling.protocol`: what a sampler is (:class:`Sampler`), a leaf;
- :mod:`~roixr.sampling.geometry`: the surfaces every kernel shares (:class:`Surfaces`);
- :mod:`~roixr.sampling.chunk`: one voxel chunk and a sampler's result for it;
- :mod:`~roixr.sampling.kernels`: the built-in chunk kernels (distance, mapper, ribbon);
- :mod:`~roixr.sampling.registry`: samplers by name (:func:`register_sampler`);
- :mod:`~roixr.sampling.options`: threshold, 'Cortex', overlap and hemispheres per chunk;
- :mod:`~roixr.sampling.plan`: a checked, immutable :class:`Plan`;
- :mod:`~roixr.sampling.engine`: the one chunk routine, :func:`sample_chunk`;
- :mod:`~roixr.sampling.graph` (dask) and :mod:`~roixr.sampling.local` (numpy): executors,
  with :mod:`~roixr.sampling.parallel` splitting the vertex-side preparation.
"""

from roixr.sampling.chunk import Chunk, SamplerResult
from roixr.sampling.engine import sample_chunk
from roixr.sampling.geometry import Surfaces, surfaces_of
from roixr.sampling.options import CORTEX, Options
from roixr.sampling.plan import Plan, make_plan
from roixr.sampling.protocol import Sampler
from roixr.sampling.registry import get_sampler, register_sampler, samplers

__all__ = [
    "CORTEX",
    "Chunk",
    "Options",
    "Plan",
    "Sampler",
    "SamplerResult",
    "Surfaces",
    "get_sampler",
    "make_plan",
    "register_sampler",
    "sample_chunk",
    "samplers",
    "surfaces_of",
]
