"""Vectorised point-in-polygon tests with matplotlib's (and so pycortex's) rules.

A point is inside a shape when it is inside any of its subpaths, each subpath tested with
the even-odd rule and closed implicitly. The crossing predicate is matplotlib's
``point_in_path_impl`` expression evaluated in float64, so boundary cases agree with pycortex.
Points are sorted by y once; each polygon then touches only the points in its y-range, and
each edge only the points its y-span covers: the work is about (points in the polygon's
band) × (edges crossing a horizontal line), never points × edges.
"""

from __future__ import annotations

import numpy as np

__all__ = ["PointSet"]


class PointSet:
    """Points prepared for many point-in-polygon queries.

    Parameters
    ----------
    points : ndarray
        ``(n, 2)`` float64 coordinates.
    """

    def __init__(self, points: np.ndarray) -> None:
        points = np.asarray(points, dtype=float)
        self.n = len(points)
        self.order = np.argsort(points[:, 1], kind="stable")
        self.xs = points[self.order, 0]
        self.ys = points[self.order, 1]

    def inside(self, polygons: list[np.ndarray]) -> np.ndarray:
        """Sorted unique indices of the points inside any of the closed polygons."""
        hits = []
        for poly in polygons:
            if len(poly) < 2:
                continue
            lo, hi = poly.min(axis=0), poly.max(axis=0)
            # a point can be inside only if min(y) < ty <= max(y) and tx <= max(x)
            a, b = np.searchsorted(self.ys, [lo[1], hi[1]], side="right")
            band = a + np.flatnonzero(self.xs[a:b] <= hi[0])
            if band.size:
                hits.append(self.order[band[_odd_crossings(self.xs[band], self.ys[band], poly)]])
        return np.unique(np.concatenate(hits)) if hits else np.empty(0, dtype=np.int64)


def _odd_crossings(tx_all: np.ndarray, ys: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Even-odd test of points (sorted by y) against one closed polygon."""
    x0, y0 = poly[:, 0], poly[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)  # edge i runs from vertex i to vertex i+1
    # an edge can toggle a point only if exactly one end has y >= ty: min(y) < ty <= max(y)
    start = np.searchsorted(ys, np.minimum(y0, y1), side="right")
    counts = np.searchsorted(ys, np.maximum(y0, y1), side="right") - start
    total = int(counts.sum())
    if total == 0:
        return np.zeros(len(ys), dtype=bool)
    edge = np.repeat(np.arange(len(x0)), counts)
    which = np.repeat(start - (np.cumsum(counts) - counts), counts) + np.arange(total)
    tx, ty = tx_all[which], ys[which]
    ex0, ey0, ex1, ey1 = x0[edge], y0[edge], x1[edge], y1[edge]
    yflag1 = ey1 >= ty
    toggles = ((ey1 - ty) * (ex0 - ex1) >= (ex1 - tx) * (ey0 - ey1)) == yflag1
    return (np.bincount(which[toggles], minlength=len(ys)) % 2).astype(bool)
