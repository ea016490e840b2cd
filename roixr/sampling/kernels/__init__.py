"""Chunk kernels of the built-in samplers (pure numpy); importing this package registers them."""

from roixr.sampling.kernels import distance, mapper, ribbon

__all__ = ["distance", "mapper", "ribbon"]
