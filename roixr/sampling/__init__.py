"""Sampling: the sampler registry, the plan, the chunk routine and its two executors.

- :mod:`~roixr.sampling.registry`: samplers by name (:func:`register_sampler`);
- :mod:`~roixr.sampling.kernels`: the built-in chunk kernels (distance, mapper);
- :mod:`~roixr.sampling.plan`: a checked, immutable :class:`Plan`;
- :mod:`~roixr.sampling.engine`: the one chunk routine, :func:`sample_chunk`;
- :mod:`~roixr.sampling.graph` (dask) and :mod:`~roixr.sampling.local` (numpy): executors.
"""

from roixr.sampling.chunk import Chunk, SamplerResult
from roixr.sampling.engine import sample_chunk
from roixr.sampling.options import CORTEX, Options
from roixr.sampling.plan import Plan, make_plan
from roixr.sampling.registry import Sampler, get_sampler, register_sampler, samplers
from roixr.sampling.surfaces import Surfaces, surfaces_of

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
