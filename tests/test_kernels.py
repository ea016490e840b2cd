"""Chunk kernels on their own: the liberal sampler's crossing-based pairs against counting
every line sample, and the hemisphere query's bound."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roixr.sampling import Chunk, Surfaces
from roixr.sampling.kernels.mapper import LINE_POINTS, line_points, pair_lines, pair_vertices
from roixr.sampling.kernels.voxels import compact_indices, to_voxels
from roixr.sampling.parallel import vertex_parts

SHAPE = (7, 6, 5)


def geometry(white: np.ndarray, pial: np.ndarray) -> Surfaces:
    n = len(white)
    return Surfaces(white, pial, np.empty((0, 3), np.int64), n // 2, np.ones(n, dtype=bool))


def canonical(pairs, shape):
    key = pairs.vertex.astype(np.int64) * int(np.prod(shape)) + pairs.voxel
    merged = {}
    for k, c in zip(key.tolist(), pairs.weight.tolist(), strict=True):
        merged[k] = merged.get(k, 0) + c
    return merged


def both(white, pial, coord, shape=SHAPE, bounds=None):
    g = geometry(white, pial)
    bounds = bounds or tuple(np.array([0, n]) for n in shape)
    brute = pair_vertices(line_points(g, coord), shape, bounds)
    fast = pair_lines(g, coord, shape, bounds)
    return canonical(fast, shape), canonical(brute, shape), fast, brute


coords = st.floats(-2.0, 8.0, allow_nan=False, width=64)
half = st.integers(-2, 16).map(lambda i: i / 2)  # lands points on voxel boundaries


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(*[st.one_of(coords, half)] * 6), min_size=1, max_size=40),
    st.sampled_from(["identity", "scaled", "oblique"]),
)
def test_crossings_equal_counting_every_point(segments, kind):
    """Any segments (on boundaries, degenerate, outside the grid, any direction, any
    affine): the same (vertex, voxel, count) pairs as rounding all 64 points."""
    arr = np.array(segments, dtype=np.float64)
    white, pial = arr[:, :3].copy(), arr[:, 3:].copy()
    oblique = [[0.9, 0.3, 0, 0.2], [-0.3, 0.9, 0.1, 0], [0, 0, 1.1, -0.4], [0, 0, 0, 1]]
    coord = {
        "identity": np.eye(4),
        "scaled": np.diag([0.5, 2.0, 1.0, 1.0]),
        "oblique": np.array(oblique),
    }[kind]
    fast, brute, *_ = both(white, pial, coord)
    assert fast == brute


def test_long_segments_and_blocks():
    """Segments crossing many voxels, or with points on a boundary, are counted point by
    point; pairs are sorted by block as pair_vertices sorts them."""
    rng = np.random.default_rng(0)
    white = rng.uniform(-1, 8, (300, 3))
    pial = white + rng.normal(0, 3, (300, 3))
    pial[:5] = white[:5] + 40  # far more crossings than the fast path takes
    white[5:8] = pial[5:8] = [2.5, 1.5, 3.5]  # every point on a boundary: banker's rounding
    bounds = (np.array([0, 3, 7]), np.array([0, 2, 6]), np.array([0, 5]))
    fast, brute, fp, bp = both(white, pial, np.eye(4), bounds=bounds)
    assert fast == brute
    np.testing.assert_array_equal(fp.offsets, bp.offsets)
    assert sum(brute.values()) <= 300 * LINE_POINTS


def test_hemisphere_query_is_bounded_but_exact():
    """Mapper results carry a reach; the hemisphere of a voxel comes from the nearest
    fiducial vertex even when the reach is too small (misses fall back to a full query)."""
    from roixr.sampling.chunk import SamplerResult
    from roixr.sampling.options import Options, apply_options

    white = np.array([[0.0, 0, 0], [5.0, 5, 4]])
    g = geometry(white, white.copy())
    chunk = Chunk((0, 0, 0), SHAPE, np.eye(4), SHAPE)
    voxels = np.ravel_multi_index(([0, 5, 6], [0, 5, 0], [0, 4, 4]), SHAPE)
    for reach in (np.inf, 0.5, 0.0):
        result = SamplerResult(voxels, np.ones((1, 3)), np.array([0, 1]), reach=reach)
        out, _, left = apply_options(result, g, chunk, Options())
        np.testing.assert_array_equal(out, voxels)
        np.testing.assert_array_equal(left, [True, False, False])
    assert chunk.half_diagonal == pytest.approx(np.sqrt(3) / 2)


def test_fractions_filling_a_voxel_are_not_an_overlap():
    """Disjoint ROIs holding 9, 18 and 1 of a voxel's 28 points sum to 1 only up to rounding
    (1.0000000000000002): kept. Two ROIs claiming the same points sum past 1: culled."""
    from roixr.sampling.chunk import SamplerResult
    from roixr.sampling.options import Options, apply_options

    g = geometry(np.zeros((2, 3)), np.zeros((2, 3)))
    chunk = Chunk((0, 0, 0), SHAPE, np.eye(4), SHAPE)
    values = np.array([[9 / 28, 0.5], [18 / 28, 0.5], [1 / 28, 0.5]])
    assert values[:, 0].sum() > 1  # the rounding is real
    result = SamplerResult(np.array([0, 1]), values.copy(), np.array([0]), reach=1.0)
    _, out, _ = apply_options(result, g, chunk, Options())
    np.testing.assert_array_equal(out[:, 0], values[:, 0])
    np.testing.assert_array_equal(out[:, 1], [0, 0, 0])


@pytest.mark.parametrize("size", [10, 10_000])  # marking (dense) and sorting (sparse) paths
def test_compact_indices_is_unique_with_inverse(size):
    index = np.random.default_rng(size).integers(0, size, 300)
    unique, inverse = compact_indices(index, size)
    expected, expected_inverse = np.unique(index, return_inverse=True)
    np.testing.assert_array_equal(unique, expected)
    np.testing.assert_array_equal(inverse, expected_inverse)
    assert inverse.dtype == np.int64


def test_to_voxels_applies_the_affine():
    coord = np.diag([0.5, 2.0, 1.0, 1.0])
    coord[:3, 3] = [1, 2, 3]
    pts = np.array([[0.0, 0, 0], [2, 1, -3]])
    np.testing.assert_array_equal(to_voxels(coord, pts), [[1, 2, 3], [2, 4, 0]])


@pytest.mark.parametrize("n", [0, 1, 5000, 1_000_000])
def test_vertex_parts_cover_the_vertices_in_order(n):
    parts = vertex_parts(n)
    assert parts[0].start == 0
    assert parts[-1].stop == n
    assert all(a.stop == b.start for a, b in pairwise(parts))
    assert sum(p.stop - p.start for p in parts) == n
