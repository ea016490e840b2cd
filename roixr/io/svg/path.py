"""SVG path data and transform attributes → polygons in root user space.

The whole SVG 1.1/2 path grammar is accepted: ``M L H V C S Q T A Z`` in absolute and
relative form, implicit command repeats, compact numbers (``1e-3``, ``.5.5``, ``-1-2``),
commas or whitespace, and arc flags written without separators.

Curves are flattened the way matplotlib (and therefore pycortex) flattens them for
point-in-path tests: Anti-Grain Geometry's recursive subdivision (``curve4_div``) with a
distance tolerance of 0.5 user units, applied *after* the transform, so that equivalent
paths (a scale on the path compensated in its coordinates, say) give the same polygon.
Quadratic curves are raised exactly to cubics and arcs are converted to cubics of at most
90° first.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator

import numpy as np

from roixr.errors import SVGPathError

__all__ = ["NUMBER", "flatten_path", "parse_path", "parse_transform"]

# ASCII digits only: \d would take other scripts' digits, which float() reads but SVG does not
NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
"""An SVG number (ASCII digits only), as the path grammar and the viewBox spell it."""
_SEPARATORS = " \t\n\r\f,"
_ARITY = {"M": 2, "L": 2, "H": 1, "V": 1, "C": 6, "S": 4, "Q": 4, "T": 2, "A": 7, "Z": 0}

# Anti-Grain Geometry curve4_div constants, as matplotlib's point-in-path uses them.
_DISTANCE_TOLERANCE_SQUARE = 0.5**2
_COLLINEARITY_EPSILON = 1e-30
_RECURSION_LIMIT = 32
# A cubic wider than this (in root user units, after the transforms) is refused: AGG's
# subdivision would make up to 2**32 points of it (hours), and no drawing is that large (a
# pycortex flatmap is about 1000 units wide; a curve 1e8 wide flattens in under 0.1 s).
MAX_CURVE_SPAN = 1e8


class _Scanner:
    """A cursor over path data that reads commands, numbers and arc flags."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def skip(self) -> None:
        text, pos = self.text, self.pos
        while pos < len(text) and text[pos] in _SEPARATORS:
            pos += 1
        self.pos = pos

    def at_end(self) -> bool:
        self.skip()
        return self.pos >= len(self.text)

    def peek_command(self) -> str | None:
        self.skip()
        if self.pos < len(self.text) and self.text[self.pos].upper() in _ARITY:
            return self.text[self.pos]
        return None

    def command(self) -> str:
        cmd = self.peek_command()
        if cmd is None:
            raise self.error("expected a path command (one of MLHVCSQTAZ, either case)")
        self.pos += 1
        return cmd

    def number(self) -> float:
        self.skip()
        match = NUMBER.match(self.text, self.pos)
        if match is None:
            raise self.error("expected a number")
        value = float(match.group())
        if not math.isfinite(value):
            raise self.error(f"the number {match.group()!r} overflows (it is not a finite float)")
        self.pos = match.end()
        return value

    def flag(self) -> float:
        self.skip()
        if self.pos < len(self.text) and self.text[self.pos] in "01":
            self.pos += 1
            return float(self.text[self.pos - 1])
        raise self.error("expected an arc flag (0 or 1)")

    def has_number(self) -> bool:
        self.skip()
        return NUMBER.match(self.text, self.pos) is not None

    def error(self, what: str) -> SVGPathError:
        snippet = self.text[max(0, self.pos - 20) : self.pos + 20]
        return SVGPathError(f"{what} at character {self.pos} of the path data, near {snippet!r}")


def _tokens(d: str) -> Iterator[tuple[str, list[float]]]:
    """Yield ``(command, arguments)`` with implicit repeats made explicit."""
    scan = _Scanner(d)
    if scan.at_end():
        return
    cmd = scan.command()
    if cmd not in "Mm":
        raise SVGPathError(f"path data must start with a moveto (M or m), not {cmd!r}")
    while True:
        upper = cmd.upper()
        if upper == "Z":
            yield cmd, []
        else:
            first = True
            while first or scan.has_number():
                if upper == "A":
                    args = [scan.number() for _ in range(3)] + [scan.flag(), scan.flag()]
                    args += [scan.number(), scan.number()]
                else:
                    args = [scan.number() for _ in range(_ARITY[upper])]
                yield cmd, args
                first = False
                if upper == "M":  # coordinates after a moveto are implicit linetos
                    cmd = "l" if cmd == "m" else "L"
                    upper = "L"
        if scan.at_end():
            return
        cmd = scan.command()


def parse_path(d: str) -> list[tuple[np.ndarray, list[str]]]:
    """Parse path data into subpaths of absolute lines and cubic curves.

    Parameters
    ----------
    d : str
        The ``d`` attribute of an SVG ``path``.

    Returns
    -------
    list of (points, codes)
        One entry per subpath: ``points`` is an ``(n, 2)`` float array and ``codes`` a list
        with ``"M"`` for the start, ``"L"`` for a line end point and ``"C"`` for each of a
        cubic's three points. Subpaths are closed implicitly (SVG fill semantics).

    Raises
    ------
    SVGPathError
        If ``d`` does not follow the SVG path grammar.
    """
    subpaths: list[tuple[list[tuple[float, float]], list[str]]] = []
    pts: list[tuple[float, float]] = []
    codes: list[str] = []
    cur = start = (0.0, 0.0)
    last_ctrl: tuple[float, float] | None = None  # for S/T reflections
    last_kind = ""

    def flush() -> None:
        if len(pts) > 1:
            subpaths.append((list(pts), list(codes)))

    for cmd, a in _tokens(d):
        upper, rel = cmd.upper(), cmd.islower()
        ox, oy = cur if rel else (0.0, 0.0)
        if upper == "M":
            flush()
            cur = start = (ox + a[0], oy + a[1])
            pts[:], codes[:] = [cur], ["M"]
        elif upper == "Z":
            flush()
            cur = start
            pts[:], codes[:] = [cur], ["M"]
        elif upper in "LHV":
            if upper == "L":
                cur = (ox + a[0], oy + a[1])
            elif upper == "H":
                cur = ((cur[0] if rel else 0.0) + a[0], cur[1])
            else:
                cur = (cur[0], (cur[1] if rel else 0.0) + a[0])
            pts.append(cur)
            codes.append("L")
        elif upper in "CS":
            if upper == "C":
                c1 = (ox + a[0], oy + a[1])
                c2, end = (ox + a[2], oy + a[3]), (ox + a[4], oy + a[5])
            else:
                c1 = _reflect(cur, last_ctrl if last_kind == "C" else None)
                c2, end = (ox + a[0], oy + a[1]), (ox + a[2], oy + a[3])
            pts += [c1, c2, end]
            codes += ["C"] * 3
            last_ctrl, cur = c2, end
        elif upper in "QT":
            if upper == "Q":
                q, end = (ox + a[0], oy + a[1]), (ox + a[2], oy + a[3])
            else:
                q, end = (
                    _reflect(cur, last_ctrl if last_kind == "Q" else None),
                    (ox + a[0], oy + a[1]),
                )
            c1 = (cur[0] + 2 / 3 * (q[0] - cur[0]), cur[1] + 2 / 3 * (q[1] - cur[1]))
            c2 = (end[0] + 2 / 3 * (q[0] - end[0]), end[1] + 2 / 3 * (q[1] - end[1]))
            pts += [c1, c2, end]
            codes += ["C"] * 3
            last_ctrl, cur = q, end
        else:  # arc
            end = (ox + a[5], oy + a[6])
            for c1, c2, e in _arc_to_cubics(cur, a[0], a[1], a[2], bool(a[3]), bool(a[4]), end):
                pts += [c1, c2, e]
                codes += ["C"] * 3
            cur = end
        last_kind = "C" if upper in "CS" else "Q" if upper in "QT" else ""
        if not (math.isfinite(cur[0]) and math.isfinite(cur[1])):
            raise SVGPathError(
                f"the path's coordinates overflow at its {cmd!r} command: relative moves "
                f"add up to {cur}, beyond the largest float. Check the path's numbers."
            )
    flush()
    out = [(np.asarray(p, dtype=float), c) for p, c in subpaths]
    if not all(np.isfinite(p).all() for p, _ in out):  # a control point beyond floats
        raise SVGPathError(
            "a control point of the path's curves overflows (it is beyond the largest "
            "float). Check the path's numbers."
        )
    return out


def _reflect(cur: tuple[float, float], ctrl: tuple[float, float] | None) -> tuple[float, float]:
    if ctrl is None:
        return cur
    return (2 * cur[0] - ctrl[0], 2 * cur[1] - ctrl[1])


def _arc_to_cubics(
    p0: tuple[float, float],
    rx: float,
    ry: float,
    phi_deg: float,
    large: bool,
    sweep: bool,
    p1: tuple[float, float],
) -> list[tuple[tuple[float, float], ...]]:
    """Convert an SVG elliptical arc to cubic Béziers (SVG 2 implementation notes, F.6).

    The radii are scaled up when too small (F.6.6) through ratios, never their squares, so
    that radii and coordinates near the float limits neither overflow nor lose the arc.
    """
    if p0 == p1:
        return []
    rx, ry = abs(rx), abs(ry)
    if rx == 0 or ry == 0:
        return [(p0, p1, p1)]  # a straight line, as the spec requires
    phi = math.radians(phi_deg % 360)
    cphi, sphi = math.cos(phi), math.sin(phi)
    dx, dy = p0[0] / 2 - p1[0] / 2, p0[1] / 2 - p1[1] / 2
    x1p, y1p = cphi * dx + sphi * dy, -sphi * dx + cphi * dy
    hx, hy = x1p / rx, y1p / ry  # the half chord in radii
    if not (math.isfinite(hx) and math.isfinite(hy)):
        raise SVGPathError(
            f"an arc with radii ({rx:g}, {ry:g}) between {p0} and {p1} overflows (its "
            "radii are too small for its chord by more than the float range). Check the "
            "arc's numbers."
        )
    s = math.hypot(hx, hy)
    if s > 1:  # radii too small for the chord: scaled up until the chord is a diameter
        rx, ry, hx, hy = rx * s, ry * s, hx / s, hy / s
    lam = hx * hx + hy * hy
    # num / den of F.6.5.2, divided by rx² ry²: (1 - lam) / lam
    coef = math.sqrt(max(1 - lam, 0.0) / lam) if lam > 0 else 0.0
    if large == sweep:
        coef = -coef
    cxp, cyp = coef * (rx * hy), -coef * (ry * hx)
    cx = cphi * cxp - sphi * cyp + (p0[0] / 2 + p1[0] / 2)
    cy = sphi * cxp + cphi * cyp + (p0[1] / 2 + p1[1] / 2)
    theta1 = math.atan2(hy - cyp / ry, hx - cxp / rx)
    dtheta = math.atan2(-hy - cyp / ry, -hx - cxp / rx) - theta1
    if not all(math.isfinite(v) for v in (rx, ry, cx, cy, theta1, dtheta)):
        raise SVGPathError(
            f"an arc with radii ({rx:g}, {ry:g}) between {p0} and {p1} overflows (its "
            "geometry is beyond the float range). Check the arc's numbers."
        )
    if sweep and dtheta < 0:
        dtheta += 2 * math.pi
    elif not sweep and dtheta > 0:
        dtheta -= 2 * math.pi
    n = max(1, math.ceil(abs(dtheta) / (math.pi / 2) - 1e-9))
    step = dtheta / n
    k = 4 / 3 * math.tan(step / 4)

    def point(t: float, dr: float = 0.0) -> tuple[float, float]:
        # dr = 0: point on the ellipse; otherwise the derivative scaled by dr
        ex, ey = (
            (rx * math.cos(t), ry * math.sin(t))
            if dr == 0
            else (
                -dr * rx * math.sin(t),
                dr * ry * math.cos(t),
            )
        )
        x, y = cphi * ex - sphi * ey, sphi * ex + cphi * ey
        return (x + cx, y + cy) if dr == 0 else (x, y)

    out = []
    for i in range(n):
        t0, t1 = theta1 + i * step, theta1 + (i + 1) * step
        a, b = point(t0), point(t1)
        da, db = point(t0, k), point(t1, k)
        end = p1 if i == n - 1 else b
        out.append(((a[0] + da[0], a[1] + da[1]), (b[0] - db[0], b[1] - db[1]), end))
    return list(out)


def flatten_path(d: str, matrix: np.ndarray | None = None) -> list[np.ndarray]:
    """Parse path data, transform it and flatten curves into closed polygons.

    Parameters
    ----------
    d : str
        Path data.
    matrix : ndarray, optional
        A 3×3 affine matrix applied to every point before flattening.

    Returns
    -------
    list of ndarray
        One ``(n, 2)`` float64 polygon per subpath (the closing edge is implicit).
    """
    polygons = []
    for pts, codes in parse_path(d):
        if matrix is not None:
            with np.errstate(over="ignore", invalid="ignore"):
                pts = pts @ matrix[:2, :2].T + matrix[:2, 2]
            if not np.isfinite(pts).all():
                raise SVGPathError(
                    "the transforms map the path's points beyond finite coordinates (an "
                    "overflow); check the transform attributes of the path and its groups"
                )
        polygons.append(_flatten(pts, codes))
    return polygons


def _flatten(pts: np.ndarray, codes: list[str]) -> np.ndarray:
    out: list[tuple[float, float]] = [tuple(pts[0])]
    i = 1
    plist = pts.tolist()
    while i < len(codes):
        if codes[i] == "C":
            (x1, y1), (x2, y2), (x3, y3), (x4, y4) = plist[i - 1 : i + 3]
            span = max(max(x1, x2, x3, x4) - min(x1, x2, x3, x4),
                       max(y1, y2, y3, y4) - min(y1, y2, y3, y4))  # fmt: skip
            if not span <= MAX_CURVE_SPAN:
                raise SVGPathError(
                    f"a curve of the path spans {span:.3g} units (after its transforms), "
                    f"beyond the {MAX_CURVE_SPAN:.0e} roixr flattens: no drawing is that "
                    "large. Check the path's numbers and its transforms."
                )
            _bezier(x1, y1, x2, y2, x3, y3, x4, y4, 0, out)
            out.append((x4, y4))
            i += 3
        else:
            out.append(tuple(plist[i]))
            i += 1
    return np.asarray(out, dtype=float)


def _bezier(x1, y1, x2, y2, x3, y3, x4, y4, level, out) -> None:
    """AGG's ``curve4_div::recursive_bezier`` with angle tolerance 0 (matplotlib's setting)."""
    if level > _RECURSION_LIMIT:
        return
    x12, y12 = (x1 + x2) / 2, (y1 + y2) / 2
    x23, y23 = (x2 + x3) / 2, (y2 + y3) / 2
    x34, y34 = (x3 + x4) / 2, (y3 + y4) / 2
    x123, y123 = (x12 + x23) / 2, (y12 + y23) / 2
    x234, y234 = (x23 + x34) / 2, (y23 + y34) / 2
    x1234, y1234 = (x123 + x234) / 2, (y123 + y234) / 2
    dx, dy = x4 - x1, y4 - y1
    d2 = abs((x2 - x4) * dy - (y2 - y4) * dx)
    d3 = abs((x3 - x4) * dy - (y3 - y4) * dx)
    case = (int(d2 > _COLLINEARITY_EPSILON) << 1) + int(d3 > _COLLINEARITY_EPSILON)
    tol = _DISTANCE_TOLERANCE_SQUARE
    if case == 0:
        k = dx * dx + dy * dy
        if k == 0:
            d2 = (x1 - x2) ** 2 + (y1 - y2) ** 2
            d3 = (x4 - x3) ** 2 + (y4 - y3) ** 2
        else:
            k = 1 / k
            d2 = k * ((x2 - x1) * dx + (y2 - y1) * dy)
            d3 = k * ((x3 - x1) * dx + (y3 - y1) * dy)
            if 0 < d2 < 1 and 0 < d3 < 1:
                return
            d2 = _sq_dist_to_chord(x2, y2, d2, x1, y1, x4, y4, dx, dy)
            d3 = _sq_dist_to_chord(x3, y3, d3, x1, y1, x4, y4, dx, dy)
        if d2 > d3:
            if d2 < tol:
                out.append((x2, y2))
                return
        elif d3 < tol:
            out.append((x3, y3))
            return
    elif case == 1:
        if d3 * d3 <= tol * (dx * dx + dy * dy):
            out.append((x23, y23))
            return
    elif case == 2:
        if d2 * d2 <= tol * (dx * dx + dy * dy):
            out.append((x23, y23))
            return
    elif (d2 + d3) * (d2 + d3) <= tol * (dx * dx + dy * dy):
        out.append((x23, y23))
        return
    _bezier(x1, y1, x12, y12, x123, y123, x1234, y1234, level + 1, out)
    _bezier(x1234, y1234, x234, y234, x34, y34, x4, y4, level + 1, out)


def _sq_dist_to_chord(x, y, t, x1, y1, x4, y4, dx, dy) -> float:
    if t <= 0:
        return (x - x1) ** 2 + (y - y1) ** 2
    if t >= 1:
        return (x - x4) ** 2 + (y - y4) ** 2
    return (x - (x1 + t * dx)) ** 2 + (y - (y1 + t * dy)) ** 2


_TRANSFORM = re.compile(r"\s*(matrix|translate|scale|rotate|skewX|skewY)\s*\(([^)]*)\)\s*,?")


def parse_transform(text: str | None) -> np.ndarray:
    """Parse an SVG ``transform`` attribute into a 3×3 affine matrix.

    Parameters
    ----------
    text : str or None
        E.g. ``"translate(10 20) scale(2)"``; ``None`` or blank gives the identity.

    Returns
    -------
    ndarray
        The 3×3 matrix mapping the element's coordinates into its parent's.

    Raises
    ------
    SVGPathError
        If the attribute does not follow the SVG transform grammar, or the matrix is not
        finite or singular.
    """
    out = np.eye(3)
    if not text or not text.strip():
        return out
    pos = 0
    while pos < len(text):
        match = _TRANSFORM.match(text, pos)
        if match is None:
            if not text[pos:].strip(_SEPARATORS):
                break
            raise SVGPathError(f"cannot parse the transform {text!r} at character {pos}")
        name, raw = match.groups()
        args = [float(v) for v in NUMBER.findall(raw)]
        if NUMBER.sub("", raw).strip(_SEPARATORS):
            raise SVGPathError(f"bad arguments {raw!r} to {name}() in the transform {text!r}")
        if not all(math.isfinite(v) for v in args):
            raise SVGPathError(
                f"a number in {name}({raw.strip()}) overflows (it is not a finite float) in "
                f"the transform {text!r}"
            )
        with np.errstate(over="ignore", invalid="ignore"):  # refused below if not finite
            out = out @ _transform_matrix(name, args, text)
        pos = match.end()
    check_matrix(out, f"the transform {text!r}")
    return out


def check_matrix(m: np.ndarray, what: str) -> None:
    """Refuse a non-finite or singular 3×3 affine matrix (it would move shapes to infinity,
    or collapse them onto a line or a point, which then enclose no vertex)."""
    if not np.isfinite(m).all():
        raise SVGPathError(f"{what} is not finite (an overflow in its numbers)")
    det = float(m[0, 0] * m[1, 1] - m[0, 1] * m[1, 0])
    scale = float(np.abs(m[:2, :2]).max())
    if not math.isfinite(det) or scale == 0 or abs(det) <= 1e-12 * scale * scale:
        raise SVGPathError(
            f"{what} is singular (determinant {det:g}): it collapses shapes onto a line or "
            "a point, so they would enclose no vertex"
        )


def _transform_matrix(name: str, a: list[float], text: str) -> np.ndarray:
    counts = {"matrix": (6,), "translate": (1, 2), "scale": (1, 2), "rotate": (1, 3),
              "skewX": (1,), "skewY": (1,)}  # fmt: skip
    if len(a) not in counts[name]:
        raise SVGPathError(
            f"{name}() takes {' or '.join(map(str, counts[name]))} numbers, got {len(a)} "
            f"in the transform {text!r}"
        )
    m = np.eye(3)
    if name == "matrix":
        m[:2, :] = np.array(a).reshape(3, 2).T
    elif name == "translate":
        m[:2, 2] = a[0], a[1] if len(a) > 1 else 0.0
    elif name == "scale":
        m[0, 0], m[1, 1] = a[0], a[1] if len(a) > 1 else a[0]
    elif name == "rotate":
        t = math.radians(a[0])
        m[:2, :2] = [[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]]
        if len(a) == 3:
            shift = np.eye(3)
            shift[:2, 2] = a[1], a[2]
            back = np.eye(3)
            back[:2, 2] = -a[1], -a[2]
            m = shift @ m @ back
    elif name == "skewX":
        m[0, 1] = math.tan(math.radians(a[0]))
    else:
        m[1, 0] = math.tan(math.radians(a[0]))
    return m
