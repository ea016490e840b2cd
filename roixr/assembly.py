"""Dask assembly: the lazy ``(roi, hemisphere, x, y, z)`` array and its coverage.

One task per voxel chunk runs the sampler and the options (a pure numpy kernel) and returns
the chunk's block and the vertices it found; the block becomes the mask array, the found
vertices reduce to per-ROI coverage. The surface geometry enters the graph once, under a
cheap token; a sampler's one-off preparation (vertex → voxel pairs) is one task whose
result is split so each chunk receives only its own share.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

from roixr.kernels import Chunk, Options, SurfaceGeometry, coverage, finalize
from roixr.samplers import Sampler, vertex_parts

__all__ = ["Plan", "build"]


@dataclass(frozen=True)
class Plan:
    """What to compute: the geometry, the grid, the sampler and the options."""

    geometry: SurfaceGeometry
    coord: np.ndarray
    shape: tuple[int, int, int]
    chunks: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]
    sampler: Sampler
    options: Options
    n_out: int


def _run(geometry, coord, shape, start, stop, sampler, options, prepared):
    chunk = Chunk(start, stop, coord, shape)
    return finalize(sampler.sample(geometry, chunk, prepared), geometry, chunk, options)


def _prepare(sampler, geometry, coord, shape, bounds, part):
    return sampler.prepare(geometry, coord, shape, bounds, part)


def _share(sampler, parts, b):
    return sampler.share(parts, b)


def build(plan: Plan) -> tuple[da.Array, da.Array]:
    """Build the lazy mask array and the lazy per-ROI coverage of the real ROIs.

    Returns
    -------
    masks : dask.array.Array
        ``(n_out, 2, x, y, z)`` with ``plan.chunks`` over x, y, z.
    coverage : dask.array.Array
        ``(n_roi,)`` float64 percent of each real ROI's vertices found.
    """
    g, s, o = plan.geometry, plan.sampler, plan.options
    token = tokenize(g.token, plan.coord, plan.shape, plan.chunks, s.name, o, plan.n_out)
    gkey = f"roixr-geometry-{g.token}"
    kname, mname = f"roixr-chunk-{token}", f"roi-masks-{token}"
    fname, cname = f"roixr-found-{token}", f"roixr-coverage-{token}"
    bounds = tuple(np.concatenate([[0], np.cumsum(c)]).astype(int) for c in plan.chunks)
    nblocks = tuple(len(c) for c in plan.chunks)
    dsk: dict = {gkey: g}
    pkeys = []
    if s.prepare is not None:
        for i, part in enumerate(vertex_parts(g.n_vertices)):
            pkeys.append((f"roixr-prepare-{token}", i))
            dsk[pkeys[-1]] = (_prepare, s, gkey, plan.coord, plan.shape, bounds, part)
    for b, idx in enumerate(np.ndindex(*nblocks)):
        start = tuple(int(bounds[a][i]) for a, i in enumerate(idx))
        stop = tuple(int(bounds[a][i + 1]) for a, i in enumerate(idx))
        prepared = None
        if pkeys:
            prepared = ("roixr-share-" + token, *idx)
            dsk[prepared] = (_share, s, list(pkeys), b)
        dsk[(kname, *idx)] = (_run, gkey, plan.coord, plan.shape, start, stop, s, o, prepared)
        dsk[(mname, 0, 0, *idx)] = (operator.getitem, (kname, *idx), 0)
        dsk[(fname, *idx)] = (operator.getitem, (kname, *idx), 1)
    dsk[(cname, 0)] = (coverage, gkey, [(fname, *idx) for idx in np.ndindex(*nblocks)])
    # one dict, two layer names: each array finds its own name as a layer; merged graphs
    # share the kernel tasks, so masks and coverage computed together run each chunk once
    masks = da.Array(
        HighLevelGraph({mname: dsk}, {mname: set()}),
        mname,
        chunks=((plan.n_out,), (2,), *plan.chunks),
        meta=np.empty((0, 0, 0, 0, 0), dtype=o.dtype),
    )
    cover = da.Array(
        HighLevelGraph({cname: dsk}, {cname: set()}),
        cname,
        chunks=((g.n_rois,),),
        meta=np.empty((0,), dtype=float),
    )
    return masks, cover
