"""The exact partial-volume ribbon kernel: hand-checkable prisms, invariances, and the analytic
ellipsoid-shell phantom (roixr.datasets.phantom)."""

from __future__ import annotations

import numpy as np
import pytest

from roixr.datasets import phantom as ph
from roixr.sampling.kernels.ribbon_kernel import (
    mesh_orientation,
    prism_volumes,
    ribbon_pairs,
    ribbon_pairs_reference,
)

SQUARE = np.array([[-0.5, -0.5, 0.0], [1.5, -0.5, 0.0], [1.5, 1.5, 0.0], [-0.5, 1.5, 0.0]])
SQUARE_TRIS = np.array([[0, 1, 2], [0, 2, 3]])


def dense(o, v, x, shape, n_vertices=None):
    n = int(np.prod(shape))
    if n_vertices is None:
        return np.bincount(v, x, n).reshape(shape)
    return np.bincount(o * n + v, x, n_vertices * n).reshape(n_vertices, *shape)


def random_mesh(seed, n=40, m=60, fold=1.0):
    rng = np.random.default_rng(seed)
    white = rng.uniform(0.0, 5.0, (n, 3))
    pial = white + rng.normal(0.0, fold, (n, 3))
    tri = np.array([rng.choice(n, 3, replace=False) for _ in range(m)])
    return white, pial, tri, rng.random(m) < 0.5


@pytest.mark.parametrize("split", [False, True])
def test_prism_fills_voxels(split):
    white = SQUARE - [0, 0, 0.5]
    pial = SQUARE + np.array([0, 0, 1.5])
    o, v, x = ribbon_pairs(white, pial, SQUARE_TRIS, np.array([split, split]), (0, 0, 0),
                           (2, 2, 2))  # fmt: skip
    np.testing.assert_allclose(dense(o, v, x, (2, 2, 2)), 1.0, atol=1e-14)
    per_vertex = np.bincount(o, x, 4)
    expect = [8.0, 0, 0, 0] if not split else [8 / 3, 4 / 3, 8 / 3, 4 / 3]
    np.testing.assert_allclose(per_vertex, expect, atol=1e-13)


def test_half_voxels_and_chunk_edge():
    # ribbon from z = 0 to z = 1: half of each voxel in k = 0 and k = 1
    pial = SQUARE + np.array([0, 0, 1.0])
    o, v, x = ribbon_pairs(SQUARE, pial, SQUARE_TRIS, np.zeros(2, bool), (0, 0, 0), (2, 2, 3))
    got = dense(o, v, x, (2, 2, 3))
    np.testing.assert_allclose(got[..., 0], 0.5, atol=1e-14)
    np.testing.assert_allclose(got[..., 1], 0.5, atol=1e-14)
    np.testing.assert_allclose(got[..., 2], 0.0, atol=1e-14)
    # a chunk holding only k = 1 still gets its half (flux from above / below the chunk)
    o, v, x = ribbon_pairs(SQUARE, pial, SQUARE_TRIS, np.zeros(2, bool), (0, 1, 1), (2, 2, 2))
    np.testing.assert_allclose(dense(o, v, x, (2, 1, 1)), 0.5, atol=1e-14)


def test_tilted_prism_known_volume():
    # a sheared prism: volume is base area x height whatever the shear
    white = SQUARE * [1.3, 0.7, 1] + [0.2, 0.1, -0.3]
    pial = white + np.array([0.9, -0.4, 2.2])
    _o, _v, x = ribbon_pairs(white, pial, SQUARE_TRIS, np.array([True, False]), (-3, -3, -3),
                           (6, 6, 6))  # fmt: skip
    area = 4.0 * 1.3 * 0.7
    assert x.sum() == pytest.approx(area * 2.2, rel=1e-13)
    np.testing.assert_allclose(prism_volumes(white, pial, SQUARE_TRIS).sum(), area * 2.2)


@pytest.mark.parametrize("seed", range(4))
def test_pieces_sum_to_prisms(seed):
    white, pial, tri, _ = random_mesh(seed, fold=0.7)
    pv = prism_volumes(white, pial, tri)
    # unsplit: every prism is owned by its first vertex
    o, _v, x = ribbon_pairs(white, pial, tri, np.zeros(len(tri), bool), (-5, -5, -5), (11, 11, 11),
                           orientation=1)  # fmt: skip
    np.testing.assert_allclose(np.bincount(o, x, len(white)),
                               np.bincount(tri[:, 0], pv, len(white)), atol=1e-11)  # fmt: skip
    # split: columns of a triangle add up to its prism
    o, _v, x = ribbon_pairs(white, pial, tri, np.ones(len(tri), bool), (-5, -5, -5), (11, 11, 11),
                           orientation=1)  # fmt: skip
    assert x.sum() == pytest.approx(pv.sum(), abs=1e-11)


@pytest.mark.parametrize("seed", range(3))
def test_numba_matches_signed_cone_reference(seed):
    # two independent exact methods: divergence-theorem flux (numba) and signed tetrahedra
    # cut by the grid (numpy)
    white, pial, tri, split = random_mesh(seed, n=25, m=30)
    lo, hi = (-1, 0, -2), (6, 5, 7)
    shape = tuple(np.subtract(hi, lo))
    a = dense(*ribbon_pairs(white, pial, tri, split, lo, hi, orientation=1), shape, len(white))
    b = dense(*ribbon_pairs_reference(white, pial, tri, split, lo, hi, orientation=1), shape,
              len(white))  # fmt: skip
    np.testing.assert_allclose(a, b, atol=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_chunk_invariance(seed):
    white, pial, tri, split = random_mesh(seed, fold=1.5)
    rng = np.random.default_rng(seed)
    lo, hi = np.array([-3, -3, -3]), np.array([9, 9, 9])
    shape = tuple(hi - lo)
    whole = dense(*ribbon_pairs(white, pial, tri, split, lo, hi), shape, len(white))
    cuts = [np.unique(np.r_[lo[d], rng.integers(lo[d], hi[d], 3), hi[d]]) for d in range(3)]
    pieced = np.zeros_like(whole)
    for a0, a1 in zip(cuts[0][:-1], cuts[0][1:], strict=True):
        for b0, b1 in zip(cuts[1][:-1], cuts[1][1:], strict=True):
            for c0, c1 in zip(cuts[2][:-1], cuts[2][1:], strict=True):
                clo, chi = (a0, b0, c0), (a1, b1, c1)
                part = dense(*ribbon_pairs(white, pial, tri, split, clo, chi),
                             tuple(np.subtract(chi, clo)), len(white))  # fmt: skip
                pieced[:, a0 - lo[0] : a1 - lo[0], b0 - lo[1] : b1 - lo[1],
                       c0 - lo[2] : c1 - lo[2]] += part  # fmt: skip
    np.testing.assert_allclose(pieced, whole, atol=1e-13)


def test_folded_mesh_finite_and_orientation():
    white, pial, tri, split = random_mesh(7, fold=3.0)
    pial[:5] = white[:5]  # zero-thickness vertices
    pial[5] = white[6]  # crossing columns
    o, v, x = ribbon_pairs(white, pial, tri, split, (-10, -10, -10), (15, 15, 15))
    assert np.all(np.isfinite(x))
    total = dense(o, v, x, (25, 25, 25))
    assert np.all(np.isfinite(total))
    # flipping every triangle flips the sign of the mesh orientation: same result by default
    o2, v2, x2 = ribbon_pairs(white, pial, tri[:, ::-1], split, (-10, -10, -10), (15, 15, 15))
    np.testing.assert_allclose(dense(o2, v2, x2, (25, 25, 25)), total, atol=1e-12)


def test_mesh_orientation_follows_the_winding():
    """+1 when the normals point from white to pial; reversed triangles (or a pial below the
    white) give -1, and forcing the wrong sign negates every volume."""
    pial = SQUARE + np.array([0, 0, 1.0])
    assert mesh_orientation(SQUARE, pial, SQUARE_TRIS) == 1.0
    assert mesh_orientation(SQUARE, pial, SQUARE_TRIS[:, ::-1]) == -1.0
    assert mesh_orientation(pial, SQUARE, SQUARE_TRIS) == -1.0
    split = np.zeros(2, bool)
    _, _, x = ribbon_pairs(SQUARE, pial, SQUARE_TRIS, split, (0, 0, 0), (2, 2, 2))
    _, _, y = ribbon_pairs(SQUARE, pial, SQUARE_TRIS, split, (0, 0, 0), (2, 2, 2),
                           orientation=-1.0)  # fmt: skip
    assert x.sum() == pytest.approx(4.0)
    np.testing.assert_array_equal(y, -x)


# --------------------------------------------------------------------------- phantom


def test_phantom_truth_exact_volume():
    affine, shape = ph.phantom_grids()["2x2x3"]
    truth = ph.phantom_truth(affine, shape, rois=False)
    exact = 2 * 4 / 3 * np.pi * (np.prod(ph.WHITE_AXES + ph.THICKNESS) - np.prod(ph.WHITE_AXES))
    vol = truth["ribbon"].sum() * abs(np.linalg.det(affine[:3, :3]))
    assert vol == pytest.approx(exact, rel=1e-10)
    assert truth["ribbon"].min() >= -1e-12 and truth["ribbon"].max() <= 1 + 1e-12
