"""Flatmap geometry in SVG space, and the vertices cut out of the flatmap.

pycortex places the flatmap in the overlay's viewport like this (``cortex.db.get_overlay`` and
``SVGOverlay.set_coords``): hemispheres are nudged together (left shifted so its largest x is
0, right so its smallest x is 0), merged, each axis normalised to [0, 1] over all vertices in
float32, scaled to the viewport's (width, height), and y flipped. We repeat it bit for bit.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from roixr.io.subject import Subject

__all__ = ["cut_neighbours", "flat_svg_coords"]


def flat_svg_coords(subject: Subject, width: float, height: float) -> np.ndarray:
    """Every vertex's flatmap position in the overlay's viewport, ``(n, 2)`` float64."""
    lh = subject.surface("flat", "lh").points[:, :2].copy()
    rh = subject.surface("flat", "rh").points[:, :2].copy()
    lh[:, 0] -= lh[:, 0].max(0)
    rh[:, 0] -= rh[:, 0].min(0)
    coords = np.concatenate([lh, rh])
    if np.any(coords.max(0) > 1) or np.any(coords.min(0) < 0):
        coords -= coords.min(0)
        coords /= coords.max(0)
    out = coords * np.array([width, height])  # float64, as pycortex's ``coords * svgshape``
    out[:, 1] = height - out[:, 1]
    return out


def cut_neighbours(subject: Subject, good: np.ndarray) -> sp.csr_matrix:
    """Sparse ``(n, n)``: ``[i, j]`` set when j is cut from the flatmap and i's neighbour.

    Neighbours are taken on the full (white) mesh, as pycortex's PR 504 does.
    """
    rows, cols = [], []
    for hemi, part in subject.hemisphere_slices.items():
        polys = subject.surface("white", hemi).polys
        polys = polys[~good[part][polys].all(axis=1)] + part.start  # touching a cut vertex
        rows.append(polys[:, [0, 1, 2, 1, 2, 0]].ravel())
        cols.append(polys[:, [1, 2, 0, 0, 1, 2]].ravel())
    i, j = np.concatenate(rows), np.concatenate(cols)
    keep = ~good[j]
    n = len(good)
    return sp.csr_matrix((np.ones(int(keep.sum()), dtype=bool), (i[keep], j[keep])), shape=(n, n))
