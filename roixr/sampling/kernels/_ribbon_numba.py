"""Numba kernel of :mod:`roixr.sampling.kernels.ribbon_kernel` (divergence-theorem form).

For a closed, outward-oriented piece boundary S (the 14 or 12 triangles of a prism or column)
and a voxel V = [.., ..] x [.., ..] x [zb, zb + 1], the divergence theorem with the field
(0, 0, z - zb) gives the exact winding-number volume

    vol(S, V) = integral over S inside V of (z - zb) n_z dA  +  area_w(top face of V),

and the winding-number area of the top face is the z-flux of the part of S above it in the same
(i, j) voxel column: area_w(top of V_k) = sum over k' > k of integral over S in V_k' of n_z dA.
So each boundary triangle is cut by the grid into convex polygons, each polygon adds its
projected signed area times its mean height above the voxel floor to its voxel and its projected
signed area to a flux array, and a suffix sum down each column finishes the job.  This is the
same quantity as the sum of signed cones, with far fewer pieces.

A triangle is cut slab by slab: one pass over a polygon splits it at a grid plane into the part
below (the current slab) and the part above (cut again at the next plane), so each plane costs
one pass, and an axis the triangle does not cross costs none.  Cut points get the plane
coordinate exactly.

Compilation: every function has one explicit signature (all polygons live in one
``(10, 16, 3)`` scratch array addressed by slot, voxel accumulators are flat), so numba compiles
each once, when this module is first imported, and caches the machine code on disk; later
processes load it from there.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# explicit signatures: one compilation per function (calls with constant arguments would
# otherwise compile a variant per literal), done when this module is imported (from the
# on-disk cache when it holds them)
_POLYS = "float64[:, :, ::1]"
_VEC = "float64[::1]"
_IDX = "int64[::1]"
_MESH = "float64[:, ::1]"
_TRIS = "int64[:, ::1]"
_FLAGS = "boolean[::1]"
_I = "int64"
_F = "float64"


def _sig(result: str, *args: str) -> str:
    return f"{result}({', '.join(args)})"


_MAXV = 16  # a triangle cut by a box's planes has at most 9 vertices

# polygon slots of the scratch array: the triangle; per axis, the slab being integrated and
# two remainders (the part beyond the current plane, cut again at the next one)
_TRI, _SX, _RX0, _RX1, _SY, _RY0, _RY1, _SZ, _RZ0, _RZ1 = range(10)
_SLOTS = 10


@njit(_sig("UniTuple(int64, 2)", _POLYS, _I, _I, _I, _F, _I, _I), cache=True, nogil=True)
def _split(buf, src, n, axis, val, lo, hi):
    """Split polygon buf[src, :n] at the plane x_axis = val into its part <= val (slot lo)
    and its part >= val (slot hi); returns both vertex counts."""
    nl = 0
    nh = 0
    for a in range(n):
        b = a + 1 if a + 1 < n else 0
        pa = buf[src, a, axis]
        pb = buf[src, b, axis]
        if pa <= val:
            for c in range(3):
                buf[lo, nl, c] = buf[src, a, c]
            nl += 1
        if pa >= val:
            for c in range(3):
                buf[hi, nh, c] = buf[src, a, c]
            nh += 1
        if (pa < val and pb > val) or (pa > val and pb < val):
            t = (val - pa) / (pb - pa)
            for c in range(3):
                x = buf[src, a, c] + t * (buf[src, b, c] - buf[src, a, c])
                buf[lo, nl, c] = x
                buf[hi, nh, c] = x
            buf[lo, nl, axis] = val
            buf[hi, nh, axis] = val
            nl += 1
            nh += 1
    return nl, nh


@njit(_sig("void", _POLYS, _I, _I, _I, _F, _VEC, _I), cache=True, nogil=True)
def _integrate(buf, s, n, cell, floor, acc, size):
    """Add convex polygon buf[s, :n] lying in the voxel of flat index cell (floor: its z)."""
    if n < 3:
        return
    x0 = buf[s, 0, 0]
    y0 = buf[s, 0, 1]
    z0 = buf[s, 0, 2]
    area = 0.0
    mom = 0.0
    for i in range(1, n - 1):
        dx1 = buf[s, i, 0] - x0
        dy1 = buf[s, i, 1] - y0
        dx2 = buf[s, i + 1, 0] - x0
        dy2 = buf[s, i + 1, 1] - y0
        a = 0.5 * (dx1 * dy2 - dx2 * dy1)
        area += a
        mom += a * ((z0 + buf[s, i, 2] + buf[s, i + 1, 2]) / 3.0)
    acc[cell] += mom - area * floor
    acc[size + cell] += area


@njit(_sig("void", _POLYS, _VEC, _I, _I), cache=True, nogil=True)
def _triangle(buf, acc, ny, nz):
    """Add the boundary triangle buf[_TRI, :3] (local voxel coordinates) to acc: volumes in
    acc[:size], z-fluxes in acc[size:], both flat over the piece's (nx, ny, nz) box."""
    p = buf[_TRI]
    ax = (p[1, 0] - p[0, 0]) * (p[2, 1] - p[0, 1]) - (p[2, 0] - p[0, 0]) * (p[1, 1] - p[0, 1])
    if ax == 0.0:
        return  # vertical: n_z = 0 everywhere on it
    size = acc.shape[0] // 2
    lo0 = int(np.floor(min(p[0, 0], p[1, 0], p[2, 0]) + 0.5))
    hi0 = int(np.floor(max(p[0, 0], p[1, 0], p[2, 0]) + 0.5))
    lo1 = int(np.floor(min(p[0, 1], p[1, 1], p[2, 1]) + 0.5))
    hi1 = int(np.floor(max(p[0, 1], p[1, 1], p[2, 1]) + 0.5))
    lo2 = int(np.floor(min(p[0, 2], p[1, 2], p[2, 2]) + 0.5))
    hi2 = int(np.floor(max(p[0, 2], p[1, 2], p[2, 2]) + 0.5))
    if lo0 == hi0 and lo1 == hi1 and lo2 == hi2:
        _integrate(buf, _TRI, 3, (lo0 * ny + lo1) * nz + lo2, lo2 - 0.5, acc, size)
        return
    rx, nrx = _TRI, 3
    for i in range(lo0, hi0 + 1):
        sx, n1 = rx, nrx
        if i < hi0:  # cut at the slab's upper plane; the rest goes on to the next slab
            nxt = _RX1 if rx == _RX0 else _RX0
            n1, nrx = _split(buf, rx, nrx, 0, i + 0.5, _SX, nxt)
            sx, rx = _SX, nxt
        if n1 < 3:
            continue
        ry, nry = sx, n1
        for j in range(lo1, hi1 + 1):
            sy, n2 = ry, nry
            if j < hi1:
                nxt = _RY1 if ry == _RY0 else _RY0
                n2, nry = _split(buf, ry, nry, 1, j + 0.5, _SY, nxt)
                sy, ry = _SY, nxt
            if n2 < 3:
                continue
            rz, nrz = sy, n2
            for k in range(lo2, hi2 + 1):
                sz, n3 = rz, nrz
                if k < hi2:
                    nxt = _RZ1 if rz == _RZ0 else _RZ0
                    n3, nrz = _split(buf, rz, nrz, 2, k + 0.5, _SZ, nxt)
                    sz, rz = _SZ, nxt
                _integrate(buf, sz, n3, (i * ny + j) * nz + k, k - 0.5, acc, size)


@njit(_sig(_I, _VEC, _VEC, _VEC, _VEC, _VEC, _VEC, _POLYS), cache=True, nogil=True)
def _faces_prism(a, b, c, ap, bp, cp, f):
    """The 14 outward boundary triangles of an unsplit prism into f (14, 3, 3)."""
    for r in range(3):
        f[0, 0, r] = a[r]
        f[0, 1, r] = c[r]
        f[0, 2, r] = b[r]
        f[1, 0, r] = ap[r]
        f[1, 1, r] = bp[r]
        f[1, 2, r] = cp[r]
    n = 2
    for e in range(3):
        for r in range(3):
            if e == 0:
                v, w, vp, wp = a[r], b[r], ap[r], bp[r]
            elif e == 1:
                v, w, vp, wp = b[r], c[r], bp[r], cp[r]
            else:
                v, w, vp, wp = c[r], a[r], cp[r], ap[r]
            m = 0.5 * (v + w)
            mp = 0.5 * (vp + wp)
            # (v, m, m'), (v, m', v'), (m, w, m'), (w, w', m')
            f[n, 0, r] = v
            f[n, 1, r] = m
            f[n, 2, r] = mp
            f[n + 1, 0, r] = v
            f[n + 1, 1, r] = mp
            f[n + 1, 2, r] = vp
            f[n + 2, 0, r] = m
            f[n + 2, 1, r] = w
            f[n + 2, 2, r] = mp
            f[n + 3, 0, r] = w
            f[n + 3, 1, r] = wp
            f[n + 3, 2, r] = mp
        n += 4
    return 14


@njit(_sig(_I, _VEC, _VEC, _VEC, _VEC, _VEC, _VEC, _POLYS), cache=True, nogil=True)
def _faces_column(v, w, u, vp, wp, up, f):
    """The 12 outward boundary triangles of the column of v (next w, previous u)."""
    for r in range(3):
        g = (v[r] + w[r] + u[r]) / 3.0
        gp = (vp[r] + wp[r] + up[r]) / 3.0
        m1 = 0.5 * (v[r] + w[r])
        m2 = 0.5 * (u[r] + v[r])
        m1p = 0.5 * (vp[r] + wp[r])
        m2p = 0.5 * (up[r] + vp[r])
        tri = (
            (v[r], m2, g),
            (v[r], g, m1),
            (vp[r], m1p, gp),
            (vp[r], gp, m2p),
            (v[r], m1, m1p),
            (v[r], m1p, vp[r]),
            (m1, g, gp),
            (m1, gp, m1p),
            (g, m2, gp),
            (m2, m2p, gp),
            (m2, v[r], m2p),
            (v[r], vp[r], m2p),
        )
        for t in range(12):
            f[t, 0, r] = tri[t][0]
            f[t, 1, r] = tri[t][1]
            f[t, 2, r] = tri[t][2]
    return 12


@njit(
    _sig(_I, _POLYS, _I, _I, _IDX, _IDX, _IDX, _IDX, _VEC, _I, _POLYS, _VEC),
    cache=True,
    nogil=True,
)
def _piece(f, nf, owner, lo, hi, out_o, out_v, out_x, pos, buf, scratch):
    """Integrate one closed piece (faces f[:nf]) and write its chunk voxels from pos on."""
    mn0 = mn1 = mn2 = np.inf
    mx0 = mx1 = mx2 = -np.inf
    for t in range(nf):
        for r in range(3):
            mn0 = min(mn0, f[t, r, 0])
            mx0 = max(mx0, f[t, r, 0])
            mn1 = min(mn1, f[t, r, 1])
            mx1 = max(mx1, f[t, r, 1])
            mn2 = min(mn2, f[t, r, 2])
            mx2 = max(mx2, f[t, r, 2])
    o0 = int(np.floor(mn0 + 0.5))
    o1 = int(np.floor(mn1 + 0.5))
    o2 = int(np.floor(mn2 + 0.5))
    nx = int(np.floor(mx0 + 0.5)) - o0 + 1
    ny = int(np.floor(mx1 + 0.5)) - o1 + 1
    nz = int(np.floor(mx2 + 0.5)) - o2 + 1
    # skip when the piece's box misses the chunk
    if o0 >= hi[0] or o1 >= hi[1] or o2 >= hi[2]:
        return pos
    if o0 + nx <= lo[0] or o1 + ny <= lo[1] or o2 + nz <= lo[2]:
        return pos
    size = nx * ny * nz
    if pos + size > out_o.shape[0]:
        return -1  # the caller's bound was short: it retries with more room
    if 2 * size <= scratch.shape[0]:
        acc = scratch[: 2 * size]
        acc[:] = 0.0
    else:
        acc = np.zeros(2 * size)
    for t in range(nf):
        for r in range(3):
            buf[_TRI, r, 0] = f[t, r, 0] - o0
            buf[_TRI, r, 1] = f[t, r, 1] - o1
            buf[_TRI, r, 2] = f[t, r, 2] - o2
        _triangle(buf, acc, ny, nz)
    sh1 = hi[1] - lo[1]
    sh2 = hi[2] - lo[2]
    for i in range(nx):
        gi = i + o0
        for j in range(ny):
            gj = j + o1
            run = 0.0
            for k in range(nz - 1, -1, -1):
                cell = (i * ny + j) * nz + k
                val = acc[cell] + run
                run += acc[size + cell]
                gk = k + o2
                if abs(val) <= 1e-13:
                    continue
                if gi < lo[0] or gi >= hi[0] or gj < lo[1] or gj >= hi[1]:
                    continue
                if gk < lo[2] or gk >= hi[2]:
                    continue
                out_o[pos] = owner
                out_v[pos] = ((gi - lo[0]) * sh1 + (gj - lo[1])) * sh2 + (gk - lo[2])
                out_x[pos] = val
                pos += 1
    return pos


@njit(
    _sig(_I, _MESH, _MESH, _TRIS, _FLAGS, _IDX, _IDX, _IDX, _IDX, _IDX, _VEC),
    cache=True,
    nogil=True,
)
def ribbon_kernel(white, pial, tri, split, sel, lo, hi, out_o, out_v, out_x):
    """The (owner, chunk voxel, volume) pairs of triangles tri[sel], written one after the
    other into out_*; returns how many, or -1 when out_* are too short."""
    f = np.empty((14, 3, 3))
    buf = np.empty((_SLOTS, _MAXV, 3))
    scratch = np.empty(4096)
    pos = 0
    for s in range(sel.shape[0]):
        t = sel[s]
        ia, ib, ic = tri[t, 0], tri[t, 1], tri[t, 2]
        if not split[t]:
            nf = _faces_prism(white[ia], white[ib], white[ic], pial[ia], pial[ib], pial[ic], f)
            pos = _piece(f, nf, ia, lo, hi, out_o, out_v, out_x, pos, buf, scratch)
            if pos < 0:
                return -1
        else:
            for r in range(3):
                iv = tri[t, r]
                iw = tri[t, (r + 1) % 3]
                iu = tri[t, (r + 2) % 3]
                nf = _faces_column(white[iv], white[iw], white[iu], pial[iv], pial[iw],
                                   pial[iu], f)  # fmt: skip
                pos = _piece(f, nf, iv, lo, hi, out_o, out_v, out_x, pos, buf, scratch)
                if pos < 0:
                    return -1
    return pos


@njit(_sig(_I, _MESH, _MESH, _TRIS, _FLAGS, _IDX, _IDX, _IDX, _IDX), cache=True, nogil=True)
def select(white, pial, tri, split, lo, hi, sel, bound):
    """The triangles whose prism's voxel box reaches the chunk [lo, hi): their indices into
    sel and a bound on the pairs each writes (its box's voxels in the chunk, three times for
    a split triangle) into bound; returns how many."""
    k = 0
    for t in range(tri.shape[0]):
        size = 1
        for c in range(3):
            mn = np.inf
            mx = -np.inf
            for r in range(3):
                v = tri[t, r]
                mn = min(mn, white[v, c], pial[v, c])
                mx = max(mx, white[v, c], pial[v, c])
            if not (np.isfinite(mn) and np.isfinite(mx)):
                size = 0
                break
            vmin = np.floor(mn + 0.5)
            vmax = np.floor(mx + 0.5)
            if vmax < lo[c] or vmin >= hi[c]:
                size = 0
                break
            size *= int(min(vmax + 1, hi[c]) - max(vmin, lo[c]))
        if size > 0:
            sel[k] = t
            bound[k] = 3 * size if split[t] else size
            k += 1
    return k


@njit(_sig(_F, _MESH, _MESH, _TRIS), cache=True, nogil=True)
def orientation_sum(white, pial, tri):
    """Sum over triangles of their mid-surface normal (b - a) x (c - a) dotted with their mean
    white-to-pial vector (the sign decides the mesh's orientation)."""
    total = 0.0
    for t in range(tri.shape[0]):
        ia, ib, ic = tri[t, 0], tri[t, 1], tri[t, 2]
        a0 = 0.5 * (white[ia, 0] + pial[ia, 0])
        a1 = 0.5 * (white[ia, 1] + pial[ia, 1])
        a2 = 0.5 * (white[ia, 2] + pial[ia, 2])
        u0 = 0.5 * (white[ib, 0] + pial[ib, 0]) - a0
        u1 = 0.5 * (white[ib, 1] + pial[ib, 1]) - a1
        u2 = 0.5 * (white[ib, 2] + pial[ib, 2]) - a2
        w0 = 0.5 * (white[ic, 0] + pial[ic, 0]) - a0
        w1 = 0.5 * (white[ic, 1] + pial[ic, 1]) - a1
        w2 = 0.5 * (white[ic, 2] + pial[ic, 2]) - a2
        d0 = pial[ia, 0] + pial[ib, 0] + pial[ic, 0] - white[ia, 0] - white[ib, 0] - white[ic, 0]
        d1 = pial[ia, 1] + pial[ib, 1] + pial[ic, 1] - white[ia, 1] - white[ib, 1] - white[ic, 1]
        d2 = pial[ia, 2] + pial[ib, 2] + pial[ic, 2] - white[ia, 2] - white[ib, 2] - white[ic, 2]
        total += (u1 * w2 - u2 * w1) * d0 + (u2 * w0 - u0 * w2) * d1 + (u0 * w1 - u1 * w0) * d2
    return total
