"""How a sampler's vertex-side preparation is split so that it runs in parallel."""

from __future__ import annotations

import os
from itertools import pairwise

import numpy as np

__all__ = ["vertex_parts"]


def vertex_parts(n: int) -> list[slice]:
    """Vertex ranges for a sampler's preparation: a few per core, so it runs in parallel.

    Parameters
    ----------
    n : int
        Number of vertices.

    Returns
    -------
    list of slice
        Contiguous ranges covering ``range(n)`` in order, at most two per core and none
        shorter than about 4096 vertices (one range for small meshes).
    """
    k = max(1, min(2 * (os.cpu_count() or 1), n // 4096))
    edges = np.linspace(0, n, k + 1).astype(int)
    return [slice(int(a), int(b)) for a, b in pairwise(edges)]
