"""The dask executor: the plan as a lazy ``(row, hemisphere, x, y, z)`` array and coverage.

One task per voxel chunk runs :func:`roixr.sampling.engine.sample_chunk` and returns the
chunk's dense block and the vertices it found; the blocks form the mask array, the found
vertices reduce to per-ROI coverage. The surfaces and the ROI table enter the graph once,
each under a content token; a sampler's one-off preparation runs as a few tasks over vertex
ranges whose results are split so each chunk receives only its own share. Chunks run in
parallel, so each kernel uses one thread.
"""

from __future__ import annotations

import operator

import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

from roixr.sampling.chunk import Chunk
from roixr.sampling.engine import dense_block, sample_chunk
from roixr.sampling.options import coverage
from roixr.sampling.plan import Plan
from roixr.sampling.registry import vertex_parts

__all__ = ["build"]

Chunks = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]


def _run(surfaces, table, sampler, options, dtype, coord, shape, start, stop, prepared):
    chunk = Chunk(start, stop, coord, shape)
    columns = sample_chunk(surfaces, table, sampler, options, chunk, prepared, workers=1)
    return dense_block(columns, chunk, dtype), columns.found


def _prepare(sampler, surfaces, coord, shape, bounds, part):
    return sampler.prepare(surfaces, coord, shape, bounds, part)


def _share(sampler, parts, b):
    return sampler.share(parts, b)


def build(plan: Plan, chunks: Chunks) -> tuple[da.Array, da.Array]:
    """Build the lazy mask array (kernel rows) and the lazy coverage of the real ROIs.

    Parameters
    ----------
    plan : Plan
    chunks : tuple of tuple of int
        The spatial chunks.

    Returns
    -------
    masks : dask.array.Array
        ``(len(plan.rows), 2, x, y, z)`` with ``chunks`` over x, y, z.
    coverage : dask.array.Array
        ``(n_roi,)`` float64 percent of each real ROI's vertices found.
    """
    s, o, coord, shape = plan.sampler, plan.options, plan.coord, plan.shape
    skey = f"roixr-surfaces-{plan.surfaces.token}"
    tkey = f"roixr-table-{plan.table_token}"
    token = tokenize(
        plan.surfaces.token, plan.table_token, coord, shape, chunks, s.label, o, plan.dtype.str
    )
    kname, mname = f"roixr-chunk-{token}", f"roi-masks-{token}"
    fname, cname = f"roixr-found-{token}", f"roixr-coverage-{token}"
    bounds = tuple(np.concatenate([[0], np.cumsum(c)]).astype(int) for c in chunks)
    nblocks = tuple(len(c) for c in chunks)
    dsk: dict = {skey: plan.surfaces, tkey: plan.table}
    pkeys = []
    if s.prepare is not None:
        for i, part in enumerate(vertex_parts(plan.surfaces.n_vertices)):
            pkeys.append((f"roixr-prepare-{token}", i))
            dsk[pkeys[-1]] = (_prepare, s, skey, coord, shape, bounds, part)
    for b, idx in enumerate(np.ndindex(*nblocks)):
        start = tuple(int(bounds[a][i]) for a, i in enumerate(idx))
        stop = tuple(int(bounds[a][i + 1]) for a, i in enumerate(idx))
        prepared = None
        if pkeys:
            prepared = (f"roixr-share-{token}", *idx)
            dsk[prepared] = (_share, s, list(pkeys), b)
        dsk[(kname, *idx)] = (
            _run, skey, tkey, s, o, plan.dtype, coord, shape, start, stop, prepared
        )  # fmt: skip
        dsk[(mname, 0, 0, *idx)] = (operator.getitem, (kname, *idx), 0)
        dsk[(fname, *idx)] = (operator.getitem, (kname, *idx), 1)
    dsk[(cname, 0)] = (coverage, tkey, [(fname, *idx) for idx in np.ndindex(*nblocks)])
    # one dict, two layer names: each array finds its own name as a layer; merged graphs
    # share the kernel tasks, so masks and coverage computed together run each chunk once
    masks = da.Array(
        HighLevelGraph({mname: dsk}, {mname: set()}),
        mname,
        chunks=((len(plan.rows),), (2,), *chunks),
        meta=np.empty((0, 0, 0, 0, 0), dtype=plan.dtype),
    )
    cover = da.Array(
        HighLevelGraph({cname: dsk}, {cname: set()}),
        cname,
        chunks=((len(plan.table.names),),),
        meta=np.empty((0,), dtype=float),
    )
    return masks, cover
