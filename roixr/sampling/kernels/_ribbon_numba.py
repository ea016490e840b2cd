"""Numba kernel of :mod:`roixr.sampling.kernels.ribbon_kernel` (divergence-theorem form).

For a closed, outward-oriented piece boundary S (the 14 or 12 triangles of a prism or column)
and a voxel V = [.., ..] x [.., ..] x [zb, zb + 1], the divergence theorem with the field
(0, 0, z - zb) gives the exact winding-number volume

    vol(S, V) = integral over S inside V of (z - zb) n_z dA  +  area_w(top face of V),

and the winding-number area of the top face is the z-flux of the part of S above it in the same
(i, j) voxel column: area_w(top of V_k) = sum over k' > k of integral over S in V_k' of n_z dA.
So each boundary triangle is clipped by the grid into convex polygons (Sutherland-Hodgman), each
polygon adds its projected signed area times its mean height above the voxel floor to its voxel
and its projected signed area to a flux array, and a suffix sum down each column finishes the
job.  This is the same quantity as the sum of signed cones, with far fewer pieces.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_MAXV = 16  # a triangle clipped by a box has at most 9 vertices


@njit(cache=True)
def _clip(src, n, axis, val, keep_le, dst):
    """Clip polygon src[:n] by the half-space x_axis <= val (keep_le) or >= val; into dst."""
    m = 0
    if n == 0:
        return 0
    for a in range(n):
        b = a + 1 if a + 1 < n else 0
        pa = src[a, axis]
        pb = src[b, axis]
        ina = pa <= val if keep_le else pa >= val
        inb = pb <= val if keep_le else pb >= val
        if ina:
            dst[m, 0] = src[a, 0]
            dst[m, 1] = src[a, 1]
            dst[m, 2] = src[a, 2]
            m += 1
        if ina != inb:
            t = (val - pa) / (pb - pa)
            for c in range(3):
                dst[m, c] = src[a, c] + t * (src[b, c] - src[a, c])
            dst[m, axis] = val
            m += 1
    return m


@njit(cache=True)
def _integrate(poly, n, ci, cj, ck, vol, flux):
    """Add a convex polygon lying in local voxel (ci, cj, ck) (whose floor is z = ck - 0.5)."""
    if n < 3:
        return
    x0 = poly[0, 0]
    y0 = poly[0, 1]
    z0 = poly[0, 2]
    area = 0.0
    mom = 0.0
    for i in range(1, n - 1):
        dx1 = poly[i, 0] - x0
        dy1 = poly[i, 1] - y0
        dx2 = poly[i + 1, 0] - x0
        dy2 = poly[i + 1, 1] - y0
        a = 0.5 * (dx1 * dy2 - dx2 * dy1)
        area += a
        mom += a * ((z0 + poly[i, 2] + poly[i + 1, 2]) / 3.0)
    vol[ci, cj, ck] += mom - area * (ck - 0.5)
    flux[ci, cj, ck] += area


@njit(cache=True)
def _triangle(p, vol, flux, bt, b1, b2, tmp, b3):
    """Add one boundary triangle p (3, 3) given in local voxel coordinates."""
    ax = (p[1, 0] - p[0, 0]) * (p[2, 1] - p[0, 1]) - (p[2, 0] - p[0, 0]) * (p[1, 1] - p[0, 1])
    if ax == 0.0:
        return  # vertical: n_z = 0 everywhere on it
    for r in range(3):
        for c in range(3):
            bt[r, c] = p[r, c]
    lo0 = int(np.floor(min(p[0, 0], p[1, 0], p[2, 0]) + 0.5))
    hi0 = int(np.floor(max(p[0, 0], p[1, 0], p[2, 0]) + 0.5))
    lo1 = int(np.floor(min(p[0, 1], p[1, 1], p[2, 1]) + 0.5))
    hi1 = int(np.floor(max(p[0, 1], p[1, 1], p[2, 1]) + 0.5))
    lo2 = int(np.floor(min(p[0, 2], p[1, 2], p[2, 2]) + 0.5))
    hi2 = int(np.floor(max(p[0, 2], p[1, 2], p[2, 2]) + 0.5))
    if lo0 == hi0 and lo1 == hi1 and lo2 == hi2:
        _integrate(bt, 3, lo0, lo1, lo2, vol, flux)
        return
    for i in range(lo0, hi0 + 1):
        if lo0 == hi0:
            n1 = 3
            for r in range(3):
                for c in range(3):
                    b1[r, c] = bt[r, c]
        else:
            n1 = _clip(bt, 3, 0, i + 0.5, True, tmp)
            n1 = _clip(tmp, n1, 0, i - 0.5, False, b1)
        if n1 < 3:
            continue
        for j in range(lo1, hi1 + 1):
            n2 = _clip(b1, n1, 1, j + 0.5, True, tmp)
            n2 = _clip(tmp, n2, 1, j - 0.5, False, b2)
            if n2 < 3:
                continue
            for k in range(lo2, hi2 + 1):
                n3 = _clip(b2, n2, 2, k + 0.5, True, tmp)
                n3 = _clip(tmp, n3, 2, k - 0.5, False, b3)
                _integrate(b3, n3, i, j, k, vol, flux)


@njit(cache=True)
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


@njit(cache=True)
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


@njit(cache=True)
def _piece(f, nf, owner, lo, hi, out_o, out_v, out_x, pos, bt, b1, b2, tmp, b3, loc, scratch):
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
    if 2 * size <= scratch.shape[0]:
        buf = scratch[: 2 * size]
        buf[:] = 0.0
    else:
        buf = np.zeros(2 * size)
    vol = buf[:size].reshape((nx, ny, nz))
    flux = buf[size:].reshape((nx, ny, nz))
    for t in range(nf):
        for r in range(3):
            loc[r, 0] = f[t, r, 0] - o0
            loc[r, 1] = f[t, r, 1] - o1
            loc[r, 2] = f[t, r, 2] - o2
        _triangle(loc, vol, flux, bt, b1, b2, tmp, b3)
    sh1 = hi[1] - lo[1]
    sh2 = hi[2] - lo[2]
    for i in range(nx):
        gi = i + o0
        for j in range(ny):
            gj = j + o1
            acc = 0.0
            for k in range(nz - 1, -1, -1):
                val = vol[i, j, k] + acc
                acc += flux[i, j, k]
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


@njit(cache=True, nogil=True)
def ribbon_kernel(white, pial, tri, split, lo, hi, offsets, out_o, out_v, out_x, counts):
    """Fill out_* from offsets[t] for each triangle t; counts[t] = pairs written."""
    m = tri.shape[0]
    nblk = min(m, 64)
    for blk in range(nblk):
        f = np.empty((14, 3, 3))
        bt = np.empty((_MAXV, 3))
        b1 = np.empty((_MAXV, 3))
        b2 = np.empty((_MAXV, 3))
        tmp = np.empty((_MAXV, 3))
        b3 = np.empty((_MAXV, 3))
        loc = np.empty((3, 3))
        scratch = np.empty(4096)
        for t in range(blk * m // nblk, (blk + 1) * m // nblk):
            pos = offsets[t]
            ia, ib, ic = tri[t, 0], tri[t, 1], tri[t, 2]
            if not split[t]:
                nf = _faces_prism(white[ia], white[ib], white[ic], pial[ia], pial[ib],
                                  pial[ic], f)  # fmt: skip
                pos = _piece(f, nf, ia, lo, hi, out_o, out_v, out_x, pos, bt, b1, b2, tmp, b3,
                             loc, scratch)  # fmt: skip
            else:
                for r in range(3):
                    iv = tri[t, r]
                    iw = tri[t, (r + 1) % 3]
                    iu = tri[t, (r + 2) % 3]
                    nf = _faces_column(white[iv], white[iw], white[iu], pial[iv], pial[iw],
                                       pial[iu], f)  # fmt: skip
                    pos = _piece(f, nf, iv, lo, hi, out_o, out_v, out_x, pos, bt, b1, b2, tmp,
                                 b3, loc, scratch)  # fmt: skip
            counts[t] = pos - offsets[t]
