"""An analytic cortical-ribbon phantom: nested ellipsoids with exact per-voxel partial volumes.

Geometry
--------
Each hemisphere is the shell between two concentric, axis-aligned ellipsoids centred at
``CENTRES[hemi]`` (mm): "white" with semi-axes ``WHITE_AXES`` and "pial" with semi-axes
``WHITE_AXES + THICKNESS`` (not a parallel surface, but an ellipsoid, so the truth is
analytic; the thickness along the normal is exactly ``THICKNESS`` at the six poles and close to
it elsewhere).  The meshes are icosphere directions ``u_i`` (subdivision ``level``; level 6 is
40962 vertices per hemisphere) pushed radially onto each ellipsoid, so pial vertex ``i`` lies on
the same ray from the centre as white vertex ``i`` and triangles are shared and outward.

ROIs are cones around the centre: direction from the hemisphere centre within ``angle`` of
``axis`` (x mirrored on the left hemisphere).  A vertex belongs to an ROI when its direction does;
the region truth is voxel ∩ shell ∩ cone.

Truth
-----
:func:`phantom_truth` computes, for any 4x4 voxel->mm affine, the exact volume fraction of each
voxel inside the shell, without sampling points: in voxel coordinates an ellipsoid is
``|M x + w| <= 1``; its cross-section at slice ``k = t`` is an ellipse in (i, j), and the area of
the unit square ∩ that ellipse is closed-form (map the ellipse to a disc; disc ∩ convex polygon
is a sum of per-edge disc ∩ triangle areas).  The area is analytic in ``t`` except where the
disc vanishes, passes through a square corner or becomes tangent to an edge line: all those
``t`` are roots of quadratics, so the slab integral is split there and each piece integrated by
Gauss-Legendre after a smoothstep substitution (which removes the square-root endpoint
singularities).  Orders 8 and 16 agree to 5e-9 per voxel and the total to 1e-13 of
4/3 pi (abc_out - abc_in) (see :func:`truth_accuracy`).

ROI truth: voxels whose bounding sphere lies inside (outside) the cone take the hemisphere's
shell fraction (zero) exactly; the others ("cone-edge" voxels) are integrated by 2D composite
Gauss-Legendre (6 x 6 sub-squares of order 6) over exact shell ∩ cone chord lengths along the
voxel's i axis; the kinks of the chord length are not resolved, so this is only ~1e-4 RMS and
5e-3 at worst per voxel (measured on the whole shell against the exact truth).
``phantom_truth`` also returns, per ROI, the voxels within ``margin`` radians of the cone
boundary, where a mesh ROI (built from whole vertex columns) legitimately differs from the
smooth cone.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from roixr.io.subject import Subject

__all__ = [
    "CENTRES",
    "ROIS",
    "THICKNESS",
    "WHITE_AXES",
    "icosphere",
    "phantom_grids",
    "phantom_meshes",
    "phantom_rois",
    "phantom_source",
    "phantom_subject",
    "phantom_truth",
    "truth_accuracy",
]

WHITE_AXES = np.array([25.0, 32.0, 24.0])
THICKNESS = 3.0
CENTRES = {"lh": np.array([-31.0, 0.0, 0.0]), "rh": np.array([31.0, 0.0, 0.0])}
# name -> (axis for the right hemisphere, half-angle in degrees); x is mirrored on the left
ROIS = {
    "front": ((0.0, 1.0, 0.0), 35.0),
    "top": ((0.0, 0.0, 1.0), 30.0),
    "side": ((1.0, -1.0, 1.0), 25.0),
}
HEMIS = ("lh", "rh")


# --------------------------------------------------------------------------- meshes


def icosphere(level: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit-sphere vertices (n, 3) and outward triangles (m, 3) of a subdivided icosahedron."""
    t = (1.0 + 5**0.5) / 2.0
    v = np.array(
        [[-1, t, 0], [1, t, 0], [-1, -t, 0], [1, -t, 0], [0, -1, t], [0, 1, t],
         [0, -1, -t], [0, 1, -t], [t, 0, -1], [t, 0, 1], [-t, 0, -1], [-t, 0, 1]],
        dtype=np.float64,
    )  # fmt: skip
    f = np.array(
        [[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9], [5, 11, 4],
         [11, 10, 2], [10, 7, 6], [7, 1, 8], [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8],
         [3, 8, 9], [4, 9, 5], [2, 4, 11], [6, 2, 10], [8, 6, 7], [9, 8, 1]],
        dtype=np.int64,
    )  # fmt: skip
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    for _ in range(level):
        edges = np.concatenate([f[:, [0, 1]], f[:, [1, 2]], f[:, [2, 0]]])
        key = np.sort(edges, axis=1)
        uniq, inv = np.unique(key, axis=0, return_inverse=True)
        mid = v[uniq[:, 0]] + v[uniq[:, 1]]
        mid /= np.linalg.norm(mid, axis=1, keepdims=True)
        ids = len(v) + inv.reshape(3, -1)
        a, b, c = f[:, 0], f[:, 1], f[:, 2]
        ab, bc, ca = ids[0], ids[1], ids[2]
        f = np.concatenate(
            [np.stack(x, axis=1) for x in ((a, ab, ca), (b, bc, ab), (c, ca, bc), (ab, bc, ca))]
        )
        v = np.concatenate([v, mid])
    n = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    flip = np.einsum("ij,ij->i", n, v[f].mean(axis=1)) < 0
    f[flip] = f[flip][:, [0, 2, 1]]
    return v, f


def _axes(hemi: str) -> tuple[np.ndarray, np.ndarray]:
    return WHITE_AXES, WHITE_AXES + THICKNESS


def phantom_meshes(level: int = 6) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``{hemi: (white (n, 3), pial (n, 3), triangles (m, 3))}`` in mm; triangles outward."""
    u, f = icosphere(level)
    out = {}
    for hemi in HEMIS:
        inner, outer = _axes(hemi)
        w = u / np.linalg.norm(u / inner, axis=1, keepdims=True)
        p = u / np.linalg.norm(u / outer, axis=1, keepdims=True)
        out[hemi] = (w + CENTRES[hemi], p + CENTRES[hemi], f.copy())
    return out


def _roi_axis(name: str, hemi: str) -> tuple[np.ndarray, float]:
    axis, angle = ROIS[name]
    a = np.array(axis, dtype=np.float64)
    if hemi == "lh":
        a[0] = -a[0]
    return a / np.linalg.norm(a), np.deg2rad(angle)


def phantom_rois(level: int = 6) -> dict[str, dict[str, np.ndarray]]:
    """``{roi: {hemi: vertex indices}}``: vertices whose direction lies in the ROI's cone."""
    u, _ = icosphere(level)
    out: dict[str, dict[str, np.ndarray]] = {}
    for name in ROIS:
        out[name] = {}
        for hemi in HEMIS:
            axis, angle = _roi_axis(name, hemi)
            out[name][hemi] = np.flatnonzero(u @ axis > np.cos(angle))
    return out


def phantom_grids() -> dict[str, tuple[np.ndarray, tuple[int, int, int]]]:
    """Test grids ``{name: (voxel->mm affine, shape)}`` covering both hemispheres."""

    def rot(axis, deg):
        a = np.asarray(axis, float) / np.linalg.norm(axis)
        th = np.deg2rad(deg)
        k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
        return np.eye(3) + np.sin(th) * k + (1 - np.cos(th)) * k @ k

    half = np.array([31.0, 0.0, 0.0]) + WHITE_AXES + THICKNESS + 2.0
    corners = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
    corners = corners * half
    grids = {}
    for name, r, zooms in (
        ("1mm", np.eye(3), (1.0, 1.0, 1.0)),
        ("2mm_oblique", rot((1.0, 2.0, 3.0), 25.0), (2.0, 2.0, 2.0)),
        ("2x2x3", np.eye(3), (2.0, 2.0, 3.0)),
    ):
        lin = r @ np.diag(zooms)
        idx = corners @ np.linalg.inv(lin).T
        lo = np.floor(idx.min(axis=0))
        sx, sy, sz = (int(x) for x in np.ceil(idx.max(axis=0)) - lo + 1)
        aff = np.eye(4)
        aff[:3, :3] = lin
        aff[:3, 3] = lin @ lo
        grids[name] = (aff, (sx, sy, sz))
    return grids


# --------------------------------------------------------------------------- exact shell truth


def _disc_poly_area(px, py, r):
    """Area of disc(0, r) ∩ convex polygon; px, py (..., nv) counter-clockwise; r (...)."""
    qx = np.roll(px, -1, axis=-1)
    qy = np.roll(py, -1, axis=-1)
    r = r[..., None]
    r2 = r * r
    dx, dy = qx - px, qy - py
    a = dx * dx + dy * dy
    b = px * dx + py * dy
    c = px * px + py * py - r2
    disc = b * b - a * c
    sq = np.sqrt(np.maximum(disc, 0.0))
    safe = np.where(a > 0, a, 1.0)
    s1 = np.clip((-b - sq) / safe, 0.0, 1.0)
    s2 = np.clip((-b + sq) / safe, 0.0, 1.0)
    s2 = np.where(disc > 0, s2, s1)
    x1, y1 = px + s1 * dx, py + s1 * dy
    x2, y2 = px + s2 * dx, py + s2 * dy

    def sector(ax, ay, bx, by):
        return 0.5 * r2 * np.arctan2(ax * by - ay * bx, ax * bx + ay * by)

    area = sector(px, py, x1, y1) + 0.5 * (x1 * y2 - y1 * x2) + sector(x2, y2, qx, qy)
    return area.sum(axis=-1)


def _quad_roots(a, b, c):
    """Real roots of a t^2 + b t + c (nan when none), both (..., 2)."""
    disc = b * b - 4 * a * c
    sq = np.sqrt(np.where(disc >= 0, disc, np.nan))
    with np.errstate(divide="ignore", invalid="ignore"):
        lin = np.abs(a) < 1e-300
        r1 = np.where(lin, -c / b, (-b - sq) / (2 * a))
        r2 = np.where(lin, np.nan, (-b + sq) / (2 * a))
    return np.stack([r1, r2], axis=-1)


def _ellipsoid_volumes(mm, w, ijk, order):
    """Exact volume of unit voxels ``ijk`` (n, 3) ∩ {x : |mm x + w| <= 1}."""
    b_ = mm[:, :2]
    m3 = mm[:, 2]
    g = b_.T @ b_
    lch = np.linalg.cholesky(g)  # g = L L^T
    lt = lch.T
    ginv = np.linalg.inv(g)
    nrm = np.cross(b_[:, 0], b_[:, 1])
    nrm /= np.linalg.norm(nrm)
    i, j, k = (ijk[:, c].astype(np.float64) for c in range(3))
    n = len(i)
    # breakpoints in t
    bps = []
    nm3, nw = nrm @ m3, nrm @ w
    bps.append(np.broadcast_to((np.array([1.0, -1.0]) - nw) / nm3, (n, 2)))
    m33 = m3 @ m3
    for du in (-0.5, 0.5):
        for dv in (-0.5, 0.5):
            e = np.outer(i + du, b_[:, 0]) + np.outer(j + dv, b_[:, 1]) + w
            bps.append(_quad_roots(np.full(n, m33), 2 * e @ m3, np.einsum("ij,ij->i", e, e) - 1))
    for fixed, col, other in ((i, 0, 1), (j, 1, 0)):
        bo = b_[:, other]
        goo = bo @ bo
        bm = bo @ m3
        for d in (-0.5, 0.5):
            f0 = np.outer(fixed + d, b_[:, col]) + w
            bf = f0 @ bo
            a2 = np.full(n, bm * bm - goo * m33)
            a1 = 2 * bf * bm - 2 * goo * (f0 @ m3)
            a0 = bf * bf - goo * (np.einsum("ij,ij->i", f0, f0) - 1)
            bps.append(_quad_roots(a2, a1, a0))
    t = np.concatenate(bps, axis=1)
    lo_t, hi_t = (k - 0.5)[:, None], (k + 0.5)[:, None]
    t = np.where(np.isfinite(t) & (t > lo_t) & (t < hi_t), t, hi_t)
    t = np.sort(np.concatenate([lo_t, t, hi_t], axis=1), axis=1)
    t = t[:, : int((t < hi_t).sum(axis=1).max()) + 1]  # drop the padding at hi
    # Gauss-Legendre on [0, 1] after the smoothstep t = t0 + L (3 s^2 - 2 s^3)
    x, wq = np.polynomial.legendre.leggauss(order)
    s = 0.5 * (x + 1)
    wq = 0.5 * wq
    h = 3 * s * s - 2 * s**3
    dh = 6 * s - 6 * s * s
    t0 = t[:, :-1, None]
    ln = (t[:, 1:] - t[:, :-1])[:, :, None]
    tt = t0 + ln * h  # (n, nint, order)
    jac = ln * dh * wq
    # ellipse in (u, v) at slice tt
    bt = tt[..., None] * m3 + w  # (n, nint, order, 3)
    rho2 = 1.0 - (bt @ nrm) ** 2
    cen = -(bt @ b_) @ ginv.T  # p*(t), (..., 2)
    cu = np.stack([i - 0.5, i + 0.5, i + 0.5, i - 0.5], axis=1)[:, None, None, :]
    cv = np.stack([j - 0.5, j - 0.5, j + 0.5, j + 0.5], axis=1)[:, None, None, :]
    du = cu - cen[..., 0:1]
    dv = cv - cen[..., 1:2]
    qx = lt[0, 0] * du + lt[0, 1] * dv
    qy = lt[1, 0] * du + lt[1, 1] * dv
    rho = np.sqrt(np.maximum(rho2, 0.0))
    area = np.where(rho2 > 0, _disc_poly_area(qx, qy, rho), 0.0) / np.linalg.det(lt)
    return (area * jac).sum(axis=(1, 2))


def _ellipsoid_fraction(affine, shape, centre, axes, order, batch=4096):
    """Per-voxel volume fraction of the grid inside one ellipsoid (dense array)."""
    mm = affine[:3, :3] / axes[:, None]
    w = (affine[:3, 3] - centre) / axes
    grid = np.indices(shape).reshape(3, -1).T
    val = np.linalg.norm(grid @ mm.T + w, axis=1)
    rad = np.linalg.norm(mm, 2) * np.sqrt(3) / 2 + 1e-9
    out = np.zeros(len(grid))
    out[val + rad <= 1] = 1.0
    todo = np.flatnonzero((val + rad > 1) & (val - rad < 1))
    for s in range(0, len(todo), batch):
        sel = todo[s : s + batch]
        out[sel] = _ellipsoid_volumes(mm, w, grid[sel], order)
    return out.reshape(shape)


def _shell_fraction(affine, shape, hemi, order):
    inner, outer = _axes(hemi)
    c = CENTRES[hemi]
    return _ellipsoid_fraction(affine, shape, c, outer, order) - _ellipsoid_fraction(
        affine, shape, c, inner, order
    )


# --------------------------------------------------------------------------- cone-edge voxels


def _interval_ellipsoid(d, e, axes):
    """[s1, s2] of s with |(d s + e) / axes| <= 1; d (3,), e (..., 3)."""
    a = d / axes
    bq = e / axes
    aa = a @ a
    bb = bq @ a
    cc = np.einsum("...i,...i->...", bq, bq) - 1
    disc = bb * bb - aa * cc
    sq = np.sqrt(np.maximum(disc, 0))
    s1 = (-bb - sq) / aa
    s2 = (-bb + sq) / aa
    empty = disc <= 0
    return np.where(empty, 0.0, s1), np.where(empty, 0.0, s2)


def _interval_cone(d, e, axis, angle):
    """[lo, hi] of s with d s + e in the (convex) cone around ``axis``; empty when lo >= hi."""
    c2 = np.cos(angle) ** 2
    du = d @ axis
    eu = e @ axis
    a = du * du - c2 * (d @ d)
    b = du * eu - c2 * (e @ d)
    c = eu * eu - c2 * np.einsum("...i,...i->...", e, e)
    disc = b * b - a * c
    sq = np.sqrt(np.maximum(disc, 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        r1 = np.minimum((-b - sq) / a, (-b + sq) / a)
        r2 = np.maximum((-b - sq) / a, (-b + sq) / a)
        s0 = -eu / du
    inf = np.inf
    # {q >= 0} as up to two intervals
    neg = a < 0
    i1lo = np.where(neg, r1, -inf)
    i1hi = np.where(neg, r2, r1)
    i2lo = np.where(neg, inf, r2)
    i2hi = np.where(neg, -inf, inf)
    none = neg & (disc < 0)
    allr = ~neg & (disc <= 0)
    i1lo = np.where(none, inf, np.where(allr, -inf, i1lo))
    i1hi = np.where(none, -inf, np.where(allr, inf, i1hi))
    i2lo = np.where(allr, inf, i2lo)
    i2hi = np.where(allr, -inf, i2hi)
    # half-line l(s) = du s + eu >= 0
    if du > 0:
        hlo, hhi = s0, np.full_like(s0, inf)
    elif du < 0:
        hlo, hhi = np.full_like(s0, -inf), s0
    else:  # the line is perpendicular to the axis: all or nothing
        hlo = np.where(eu >= 0, -inf, inf)
        hhi = np.where(eu >= 0, inf, -inf)
    a_lo, a_hi = np.maximum(i1lo, hlo), np.minimum(i1hi, hhi)
    b_lo, b_hi = np.maximum(i2lo, hlo), np.minimum(i2hi, hhi)
    a_ok, b_ok = a_lo < a_hi, b_lo < b_hi
    lo = np.minimum(np.where(a_ok, a_lo, inf), np.where(b_ok, b_lo, inf))
    hi = np.maximum(np.where(a_ok, a_hi, -inf), np.where(b_ok, b_hi, -inf))
    return lo, hi


def _overlap(lo1, hi1, lo2, hi2, lo3, hi3):
    return np.maximum(0.0, np.minimum(np.minimum(hi1, hi2), hi3) - np.maximum(
        np.maximum(lo1, lo2), lo3))  # fmt: skip


def _chord_volumes(affine, ijk, hemi, cone, sub=6, order=6):
    """Voxel ∩ shell (∩ cone) by composite 2D Gauss-Legendre over exact chord lengths."""
    x, wq = np.polynomial.legendre.leggauss(order)
    nodes = ((np.arange(sub)[:, None] + 0.5 * (x + 1)[None, :]) / sub - 0.5).ravel()
    weights = np.tile(0.5 * wq / sub, sub)
    ny = len(nodes)
    yy = np.repeat(nodes, ny)
    zz = np.tile(nodes, ny)
    ww = np.repeat(weights, ny) * np.tile(weights, ny)
    inner, outer = _axes(hemi)
    c = CENTRES[hemi]
    d = affine[:3, 0]
    out = np.zeros(len(ijk))
    for s in range(0, len(ijk), 256):
        v = ijk[s : s + 256].astype(np.float64)
        # point at i = 0 of the line through (j + yy, k + zz)
        e = ((v[:, 1, None] + yy)[..., None] * affine[:3, 1]
             + (v[:, 2, None] + zz)[..., None] * affine[:3, 2] + affine[:3, 3] - c)  # fmt: skip
        clo, chi = v[:, 0, None] - 0.5, v[:, 0, None] + 0.5
        o1, o2 = _interval_ellipsoid(d, e, outer)
        i1, i2 = _interval_ellipsoid(d, e, inner)
        if cone is None:
            k1, k2 = -np.inf, np.inf
        else:
            k1, k2 = _interval_cone(d, e, *cone)
        length = _overlap(o1, o2, k1, k2, clo, chi) - _overlap(i1, i2, k1, k2, clo, chi)
        out[s : s + 256] = length @ ww
    return out


def _cone_classes(affine, shape, hemi, axis, angle, margin):
    """Per voxel: angular distance bounds to the cone boundary -> (inside, outside) masks."""
    grid = np.indices(shape).reshape(3, -1).T
    y = grid @ affine[:3, :3].T + affine[:3, 3] - CENTRES[hemi]
    dist = np.linalg.norm(y, axis=1)
    phi = np.arccos(np.clip(y @ axis / np.maximum(dist, 1e-300), -1, 1))
    rad = np.linalg.norm(affine[:3, :3], 2) * np.sqrt(3) / 2
    alpha = np.where(dist > rad, np.arcsin(np.minimum(1.0, rad / np.maximum(dist, 1e-300))),
                     np.pi)  # fmt: skip
    inside = phi + alpha < angle - margin
    outside = phi - alpha > angle + margin
    return inside.reshape(shape), outside.reshape(shape)


def phantom_truth(
    affine: np.ndarray,
    shape: tuple[int, int, int],
    rois: bool = True,
    order: int = 8,
    margin: float = 0.04,
) -> dict:
    """Exact partial volumes of the phantom on the grid ``(affine: voxel -> mm, shape)``.

    Returns ``{"ribbon": (shape) fraction of each voxel in the shell (both hemispheres),
    "hemi": {hemi: that hemisphere's fraction}, "rois": {roi: (shape) fraction in shell ∩ cone},
    "edge": {roi: (shape) bool, voxels within ``margin`` radians of the cone boundary}}``.
    """
    affine = np.asarray(affine, dtype=np.float64)
    shape = (int(shape[0]), int(shape[1]), int(shape[2]))
    hemi = {h: _shell_fraction(affine, shape, h, order) for h in HEMIS}
    out: dict = {"ribbon": hemi["lh"] + hemi["rh"], "hemi": hemi, "rois": {}, "edge": {}}
    if not rois:
        return out
    for name in ROIS:
        total = np.zeros(shape)
        edge = np.zeros(shape, bool)
        for h in HEMIS:
            axis, angle = _roi_axis(name, h)
            inside, outside = _cone_classes(affine, shape, h, axis, angle, 0.0)
            total[inside] += hemi[h][inside]
            mid = ~inside & ~outside & (hemi[h] != 0)
            ijk = np.argwhere(mid)
            total[mid] += _chord_volumes(affine, ijk, h, (axis, angle))
            ins_m, out_m = _cone_classes(affine, shape, h, axis, angle, margin)
            edge |= ~ins_m & ~out_m & (hemi[h] != 0)
        out["rois"][name] = total
        out["edge"][name] = edge
    return out


def truth_accuracy(affine: np.ndarray, shape: tuple[int, int, int]) -> dict[str, float]:
    """Max per-voxel differences: shell truth at orders 8 vs 16, and the 2D chord quadrature
    (used on cone-edge voxels) vs the exact shell truth, over all shell voxels."""
    a = phantom_truth(affine, shape, rois=False, order=8)
    b = phantom_truth(affine, shape, rois=False, order=16)
    h = "rh"
    ijk = np.argwhere(a["hemi"][h] != 0)
    chord = _chord_volumes(affine, ijk, h, None)
    exact = a["hemi"][h][tuple(ijk.T)]
    return {
        "order8_vs_16_max": float(np.abs(a["ribbon"] - b["ribbon"]).max()),
        "chord_vs_exact_max": float(np.abs(chord - exact).max()),
        "chord_vs_exact_rms": float(np.sqrt(np.mean((chord - exact) ** 2))),
    }


def phantom_subject(folder: str | os.PathLike, level: int = 6) -> Subject:
    """The phantom as a roixr subject: GIfTI surfaces in scanner RAS (as fMRIPrep writes
    them) in ``folder``, and one transform per grid of :func:`phantom_grids` (a reference
    image there, registered by ``"identity"``).

    Use :func:`phantom_rois` as a vertex-set source: ``source=phantom_source(level)``.
    """
    import nibabel as nib

    from roixr.datasets.files import write_gifti

    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    meshes = phantom_meshes(level)
    paths: dict[str, list[Path]] = {"white": [], "pial": []}
    for hemi in HEMIS:
        white, pial, tris = meshes[hemi]
        for kind, pts in (("white", white), ("pial", pial)):
            path = root / f"{hemi}.{kind}.surf.gii"
            write_gifti(path, pts, tris)
            paths[kind].append(path)
    transforms = {}
    for name, (affine, shape) in phantom_grids().items():
        ref = root / f"grid-{name}.nii.gz"
        nib.save(nib.Nifti1Image(np.zeros(shape, np.uint8), affine), str(ref))
        transforms[name] = (ref, "identity")
    return Subject.from_surfaces(
        white=(paths["white"][0], paths["white"][1]),
        pial=(paths["pial"][0], paths["pial"][1]),
        transforms=transforms,
        anatomical=root / "grid-1mm.nii.gz",
        name="phantom",
    )


def phantom_source(level: int = 6) -> dict[str, dict[str, np.ndarray]]:
    """The phantom's ROIs as a ``source=`` mapping ``{roi: {"L": idx, "R": idx}}``."""
    return {
        name: {"L": sides["lh"], "R": sides["rh"]} for name, sides in phantom_rois(level).items()
    }
