"""The SVG path and transform grammar, checked against matplotlib's path geometry."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roixr.errors import RoixrError, SVGPathError
from roixr.io.svg.path import flatten_path, parse_path, parse_transform
from roixr.rois.polygons import PointSet


def polys(d, matrix=None):
    return [p.tolist() for p in flatten_path(d, matrix)]


@pytest.mark.parametrize(
    ("d", "expected"),
    [
        ("M0 0 L10 0 L10 10 Z", [[[0, 0], [10, 0], [10, 10]]]),
        ("M0,0 10,0 10,10z", [[[0, 0], [10, 0], [10, 10]]]),
        ("m0 0 10 0 0 10z", [[[0, 0], [10, 0], [10, 10]]]),
        ("M0 0H10V10H0Z", [[[0, 0], [10, 0], [10, 10], [0, 10]]]),
        ("m0 0h10v10h-10z", [[[0, 0], [10, 0], [10, 10], [0, 10]]]),
        ("M.5.5L1e1-2l-1-2", [[[0.5, 0.5], [10, -2], [9, -4]]]),
        ("M0,0L1E-3,+2.5e+0", [[[0, 0], [0.001, 2.5]]]),
        (
            "M 0 0 L 1 0 L 1 1 Z M 5 5 L 6 5 L 6 6",
            [[[0, 0], [1, 0], [1, 1]], [[5, 5], [6, 5], [6, 6]]],
        ),
        ("M0 0L1 0 1 1zl0 2 2 0", [[[0, 0], [1, 0], [1, 1]], [[0, 0], [0, 2], [2, 2]]]),
    ],
)
def test_lines_grammar(d, expected):
    assert polys(d) == expected


def test_relative_moveto_after_close_starts_at_subpath_start():
    # after z the current point is the subpath's start (SVG), not the last point
    assert polys("M10 10 l5 0 0 5 z m1 1 l1 0 0 1z")[1][0] == [11, 11]


def test_curves_equal_their_absolute_and_smooth_forms():
    absolute = polys("M0 0 C0 10 10 10 10 0 C10 -10 20 -10 20 0")
    relative = polys("m0 0 c0 10 10 10 10 0 c0-10 10-10 10 0")
    smooth = polys("M0 0 C0 10 10 10 10 0 S20 -10 20 0")
    assert absolute == relative == smooth
    assert len(absolute[0]) > 10  # flattened


def test_quadratic_smooth_and_raised_cubic_agree():
    q = polys("M0 0 Q5 10 10 0 T20 0")
    c = polys(
        "M0 0 C"
        + " ".join(map(str, [10 / 3, 20 / 3, 20 / 3, 20 / 3, 10, 0]))
        + " C"
        + " ".join(map(str, [40 / 3, -20 / 3, 50 / 3, -20 / 3, 20, 0]))
    )
    np.testing.assert_allclose(np.array(q[0]), np.array(c[0]), atol=1e-9)


def test_arc_is_on_the_circle_and_flags_can_be_compact():
    d1 = "M-10 0 A10 10 0 1 1 10 0 A10 10 0 1 1 -10 0 Z"
    d2 = "M-10 0A10,10,0,1,1,10,0a10 10 0 1120 0z".replace("1120 0", "11-20 0")
    for d in (d1, d2):
        (ring,) = flatten_path(d)
        # AGG flattening stays within its 0.5-unit tolerance of the true curve
        assert np.all(np.abs(np.hypot(ring[:, 0], ring[:, 1]) - 10) < 0.5)
        assert ring[:, 1].max() > 9.5 and ring[:, 1].min() < -9.5  # both halves drawn
        assert len(ring) > 16


def test_transform_grammar():
    np.testing.assert_allclose(parse_transform("translate(3)")[:2, 2], [3, 0])
    np.testing.assert_allclose(parse_transform("translate(1,2) scale(2)") @ [1, 1, 1], [3, 4, 1])
    np.testing.assert_allclose(parse_transform("rotate(90 1 1)") @ [2, 1, 1], [1, 2, 1])
    np.testing.assert_allclose(parse_transform("matrix(1 0 0 1 5 6)")[:2, 2], [5, 6])
    np.testing.assert_allclose(parse_transform("skewX(45)")[0, 1], 1)
    assert np.array_equal(parse_transform(None), np.eye(3))


def test_transform_is_applied_before_flattening():
    # a scale on the path compensated in its coordinates is the same polygon
    plain = flatten_path("M0 0 C0 100 100 100 100 0 Z")
    scaled = flatten_path("M0 0 C0 50 50 50 50 0 Z", parse_transform("scale(2)"))
    np.testing.assert_array_equal(plain[0], scaled[0])


@pytest.mark.parametrize(
    ("d", "match"),
    [
        ("L0 0", "must start with a moveto"),
        ("M0 0 L1", "expected a number"),
        ("M0 0 X1 1", "expected a path command"),
        ("M0 0 A1 1 0 2 0 1 1", "arc flag"),
        ("M0 0 L1 1 ,, x", "expected a path command"),
    ],
)
def test_bad_paths(d, match):
    with pytest.raises(SVGPathError, match=match) as info:
        parse_path(d)
    assert isinstance(info.value, RoixrError)


@pytest.mark.parametrize("text", ["translate(1 2", "scale(1 2 3)", "shear(3)", "rotate(a)"])
def test_bad_transforms(text):
    with pytest.raises(SVGPathError, match="transform"):
        parse_transform(text)


finite = st.floats(-500, 500, allow_nan=False).map(lambda v: round(v, 3))


@settings(max_examples=40, deadline=None)
@given(
    ctrl=st.lists(st.tuples(finite, finite), min_size=7, max_size=13),
    seed=st.integers(0, 2**16),
)
def test_point_in_path_matches_matplotlib(ctrl, seed):
    """Same flattening (AGG curve4_div) and same even-odd crossing rule as matplotlib."""
    from matplotlib.path import Path

    n = (len(ctrl) - 1) // 3 * 3
    pts = np.array(ctrl[: n + 1], dtype=float)
    d = f"M{pts[0, 0]},{pts[0, 1]} C" + " ".join(f"{x},{y}" for x, y in pts[1:].tolist()) + "Z"
    mpl = Path(np.vstack([pts, [0, 0]]), [1] + [4] * n + [79])
    rng = np.random.default_rng(seed)
    lo, hi = pts.min(0) - 5, pts.max(0) + 5
    q = rng.uniform(lo, hi, size=(4000, 2))
    # points on the flattened polygon's vertices and edges are the hard cases
    ring = flatten_path(d)[0]
    q = np.vstack([q, ring, (ring + np.roll(ring, 1, axis=0)) / 2])
    ours = PointSet(q).inside(flatten_path(d))
    np.testing.assert_array_equal(ours, np.flatnonzero(mpl.contains_points(q)))
