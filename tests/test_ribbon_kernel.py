"""The exact partial-volume ribbon kernel: hand-checkable prisms, invariances, and the analytic
ellipsoid-shell phantom (roixr.datasets.phantom)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

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


def test_big_box_prism_exact_fractions():
    """A prism crossing 20 x 20 x 9 voxels (its box beyond the kernel's scratch buffer, every
    triangle cut by many planes): a quarter of the voxel in the first and last layers, whole
    voxels between, split or not."""
    corners = np.array([[-0.5, -0.5, 0.25], [19.5, -0.5, 0.25], [19.5, 19.5, 0.25],
                        [-0.5, 19.5, 0.25]])  # fmt: skip
    pial = corners + np.array([0, 0, 7.5])
    expect = np.zeros((20, 20, 10))
    expect[..., 0] = expect[..., 8] = 0.25
    expect[..., 1:8] = 1.0
    for split in (False, True):
        o, v, x = ribbon_pairs(corners, pial, SQUARE_TRIS, np.array([split, split]), (0, 0, 0),
                               (20, 20, 10))  # fmt: skip
        np.testing.assert_allclose(dense(o, v, x, (20, 20, 10)), expect, atol=1e-12)


def test_bad_triangles_refused():
    """The compiled kernel trusts its indices: triangles outside the mesh, or a split flag
    per triangle missing, are refused before it runs."""
    tri = np.array([[0, 1, 2], [0, 2, 4]])
    with pytest.raises(ValueError, match="outside"):
        ribbon_pairs(SQUARE, SQUARE + 1, tri, np.zeros(2, bool), (0, 0, 0), (2, 2, 2))
    with pytest.raises(ValueError, match="split"):
        ribbon_pairs(SQUARE, SQUARE + 1, SQUARE_TRIS, np.zeros(3, bool), (0, 0, 0), (2, 2, 2))


# --------------------------------------------------------------------------- numba's cache

FIRST_USE = """
import numpy as np
from roixr.sampling.kernels.ribbon_kernel import ribbon_pairs
white = np.array([[0.0, 0, 0], [2, 0, 0], [0, 2, 0]])
print("sum", ribbon_pairs(white, white + [0, 0, 1.5], np.array([[0, 1, 2]]), np.array([True]),
                          (0, 0, 0), (3, 3, 3))[2].sum())
"""


def first_use(env: dict, cwd: Path | None = None, wrap: list | None = None):
    cmd = [*(wrap or []), sys.executable, "-c", FIRST_USE]
    return subprocess.Popen(
        cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def test_workers_starting_together_compile_once(tmp_path):
    """Three processes starting at once on an empty cache: one compiles and saves the kernel,
    the others wait for it and load it from disk; all get the same answer."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"), NUMBA_DEBUG_CACHE="1")
    procs = [first_use(env) for _ in range(3)]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    sums = {line for out in outs for line in out.splitlines() if line.startswith("sum")}
    assert sums == {"sum 3.0"}, outs
    saved = ["data saved" in out for out in outs]
    assert sum(saved) == 1, outs
    assert all("data loaded" in out for out, s in zip(outs, saved, strict=True) if not s), outs


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare")
def test_read_only_install_and_home(tmp_path):
    """roixr installed read-only, run by a user whose home is read-only too (numba alone
    would refuse to define the kernel): the kernel is cached in the temporary directory,
    compiled by the first process and loaded by the next."""
    import roixr

    site, home, tmp = tmp_path / "site", tmp_path / "home", tmp_path / "tmp"
    shutil.copytree(Path(roixr.__file__).parent, site / "roixr",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    home.mkdir()
    tmp.mkdir()
    mounts = f"mount --bind -o ro {site} {site} && mount --bind -o ro {home} {home}"
    probe = subprocess.run(["unshare", "-m", "sh", "-c", f"{mounts} && touch {site}/x"],
                           capture_output=True, text=True)  # fmt: skip
    if "Read-only" not in probe.stderr:
        pytest.skip(f"cannot mount read-only here: {probe.stderr.strip()}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NUMBA_", "XDG_"))}
    env.update(HOME=str(home), TMPDIR=str(tmp), PYTHONPATH=str(site), NUMBA_DEBUG_CACHE="1",
               PYTHONDONTWRITEBYTECODE="1")  # fmt: skip
    outs = []
    for _ in range(2):
        proc = first_use(env, cwd=tmp_path, wrap=["unshare", "-m", "sh", "-c",
                                                  f'{mounts} && exec "$0" "$@"'])  # fmt: skip
        outs.append(proc.communicate(timeout=600)[0])
        assert proc.returncode == 0, outs[-1]
        assert "sum 3.0" in outs[-1], outs[-1]
    assert f"data saved to '{tmp}" in outs[0], outs[0]
    assert "data saved" not in outs[1] and f"data loaded from '{tmp}" in outs[1], outs[1]


THREADS_FIRST_USE = """
from concurrent.futures import ThreadPoolExecutor
import numpy as np
from roixr.sampling.kernels.ribbon_kernel import mesh_orientation
white = np.array([[0.0, 0, 0], [2, 0, 0], [0, 2, 0]])
with ThreadPoolExecutor(4) as pool:
    got = list(pool.map(lambda _: mesh_orientation(white, white + [0, 0, 1], [[0, 1, 2]]),
                        range(8)))
print(got)
"""


def test_first_use_from_threads():
    """Chunks run in threads: the kernel's first use from several at once, in a fresh process
    (numba not yet imported), loads it once for all."""
    out = subprocess.run([sys.executable, "-c", THREADS_FIRST_USE], capture_output=True,
                         text=True, timeout=600)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str([1.0] * 8)
