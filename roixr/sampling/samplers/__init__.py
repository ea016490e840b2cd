"""The built-in samplers; importing this package registers them."""

from roixr.sampling.samplers import distance, mapper

__all__ = ["distance", "mapper"]
