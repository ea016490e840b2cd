"""The dask executor: the plan as a lazy ``(row, hemisphere, x, y, z)`` array.

One task per voxel chunk runs :func:`roixr.sampling.engine.sample_chunk` and returns the
chunk's dense block (coverage needs no sampling: see :func:`roixr.sampling.options.coverage`).
The surfaces and the ROI table enter the graph once, each under a content token; a
sampler's one-off preparation runs as a few tasks over vertex ranges, and each chunk task
takes its own share of their results. Chunks run in parallel, so each kernel uses one
thread.
"""

from __future__ import annotations

import dask.array as da
import numpy as np
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph

from roixr.sampling.chunk import Chunk
from roixr.sampling.engine import dense_block, sample_chunk
from roixr.sampling.parallel import vertex_parts
from roixr.sampling.plan import Plan

__all__ = ["build"]

Chunks = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]


def _run(surfaces, table, sampler, options, dtype, coord, shape, start, stop, parts, b):
    chunk = Chunk(start, stop, coord, shape)
    prepared = None if parts is None else sampler.share(parts, b)
    columns = sample_chunk(surfaces, table, sampler, options, chunk, prepared, workers=1)
    return dense_block(columns, chunk, dtype)


def _prepare(sampler, surfaces, coord, shape, bounds, part):
    return sampler.prepare(surfaces, coord, shape, bounds, part)


def build(plan: Plan, chunks: Chunks) -> da.Array:
    """Build the lazy mask array (kernel rows).

    Every task's key is a content hash of what it computes (the surfaces, the ROI table,
    the grid, the chunks, the sampler and the options), so the same masks built twice have
    the same keys and different masks different ones. Each chunk is one task that returns
    its block: there are no intermediate per-chunk keys (which graph optimisation fuses
    differently in different computations, so a ``distributed`` scheduler would see one
    key with two different tasks).

    Parameters
    ----------
    plan : Plan
    chunks : tuple of tuple of int
        The spatial chunks.

    Returns
    -------
    dask.array.Array
        ``(len(plan.rows), 2, x, y, z)`` with ``chunks`` over x, y, z.
    """
    s, o, coord, shape = plan.sampler, plan.options, plan.coord, plan.shape
    skey = f"roixr-surfaces-{plan.surfaces.token}"
    tkey = f"roixr-table-{plan.table_token}"
    token = tokenize(
        plan.surfaces.token, plan.table_token, coord, shape, chunks, s.label, o, plan.dtype.str
    )
    mname = f"roi-masks-{token}"
    bounds = tuple(np.concatenate([[0], np.cumsum(c)]).astype(int) for c in chunks)
    nblocks = tuple(len(c) for c in chunks)
    dsk: dict = {skey: plan.surfaces, tkey: plan.table}
    parts = None
    if s.prepare is not None:
        ptoken = tokenize(plan.surfaces.token, coord, shape, chunks, s.label)
        parts = []
        for i, part in enumerate(vertex_parts(plan.surfaces.n_vertices)):
            parts.append((f"roixr-prepare-{ptoken}", i))
            dsk[parts[-1]] = (_prepare, s, skey, coord, shape, bounds, part)
    for b, idx in enumerate(np.ndindex(*nblocks)):
        start = tuple(int(bounds[a][i]) for a, i in enumerate(idx))
        stop = tuple(int(bounds[a][i + 1]) for a, i in enumerate(idx))
        dsk[(mname, 0, 0, *idx)] = (
            _run, skey, tkey, s, o, plan.dtype, coord, shape, start, stop, parts, b
        )  # fmt: skip
    return da.Array(
        HighLevelGraph({mname: dsk}, {mname: set()}),
        mname,
        chunks=((len(plan.rows),), (2,), *chunks),
        meta=np.empty((0, 0, 0, 0, 0), dtype=plan.dtype),
    )
