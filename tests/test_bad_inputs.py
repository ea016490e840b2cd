"""Bad inputs give roixr errors that name the file or value, what was wrong and the fix
(issue 10): geometry checked where it is read, options, forms; and fuzzing (random valid
SVG paths equal matplotlib's parse; random byte mutations of a subject's files give a roixr
error or a correct result, never another exception)."""

from __future__ import annotations

import shutil
import warnings

import nibabel as nib
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import roixr
from roixr.errors import OptionError, OverlapError, RoixrError, SurfaceError, SVGPathError
from roixr.io.svg.path import flatten_path, parse_transform

pytestmark = pytest.mark.filterwarnings("ignore::roixr.errors.EmptyRoiWarning")


@pytest.fixture
def subject(synth_dir, tmp_path):
    """A private copy of the synthetic subject, to corrupt."""
    return shutil.copytree(synth_dir, tmp_path / "synth")


def _corrupt_surface(path, value=np.nan):
    img = nib.load(path)
    points = img.darrays[0].data.copy()
    points[3, 1] = value
    img.darrays[0].data = points
    nib.save(img, path)


@pytest.mark.parametrize("kind", ["wm", "pia", "flat"])
@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_non_finite_surface_names_the_file(subject, kind, value):
    _corrupt_surface(subject / "surfaces" / f"{kind}_lh.gii", value)
    with pytest.raises(SurfaceError, match=rf"{kind}_lh.gii has 1 vertices with non-finite "
                       r"coordinates.*vertex 3.*re-export"):  # fmt: skip
        roixr.roi_masks(subject, "fullhead", ["V1"])


def _svg_with(subject, old: str, new: str, count: int = 1):
    svg = subject / "overlays.svg"
    text = svg.read_text()
    assert old in text
    svg.write_text(text.replace(old, new, count))


def test_overflowing_path_number(subject):
    text = (subject / "overlays.svg").read_text()
    d = text.split(' d="', 1)[1].split('"', 1)[0]
    first = d.split()[1].split(",")[0]
    _svg_with(subject, f'd="{d}"', f'd="{d.replace(first, "1e400", 1)}"')
    with pytest.raises(SVGPathError, match=r"ROI .* in .*overlays.svg.*'1e400' overflows"):
        roixr.roi_verts(subject)


@pytest.mark.parametrize(
    ("transform", "match"),
    [
        ("scale(0)", r"singular.*collapses shapes"),
        ("matrix(1 2 2 4 0 0)", r"singular"),
        ("translate(1e400)", r"overflows"),
        ("scale(1e300) scale(1e300)", r"not finite"),
    ],
)
def test_bad_svg_transforms(subject, transform, match):
    _svg_with(subject, "<path ", f'<path transform="{transform}" ')
    with pytest.raises(SVGPathError, match=rf"{match}.*(<path|overlays.svg)"):
        roixr.roi_verts(subject)
    with pytest.raises(SVGPathError, match=match):
        parse_transform(transform)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"threshold": "abc"}, r"threshold must be a number in \[0, 1\], got 'abc'"),
        ({"chunks": -3}, r"invalid chunks -3 .*sizes > 0"),
        ({"chunks": 0}, r"invalid chunks 0"),
        ({"chunks": {"t": 3}}, r"chunks keys must be among"),
        ({"sampler": "nope"}, r"nope"),
    ],
)
def test_bad_options(synth_dir, kwargs, match):
    with pytest.raises(OptionError, match=match):
        roixr.roi_masks(synth_dir, "fullhead", **kwargs)


def test_overlap_advice_works(synth_dir):
    fractions = roixr.roi_masks(synth_dir, "fullhead", sampler="cortical-liberal")
    shared = roixr.roi_masks(synth_dir, "fullhead", sampler="thick", allow_overlap=True)
    with pytest.raises(OverlapError, match=r"overlap='last'.*allow_overlap=True.*threshold=t"):
        roixr.to_index_volume(shared)[0].compute()
    with pytest.raises(roixr.errors.FormError, match=r"roi_masks\(..., threshold=t\)"):
        roixr.to_index_volume(fractions)
    # the advice: threshold inside roi_masks drops shared voxels
    thresholded = roixr.roi_masks(synth_dir, "fullhead", sampler="cortical-liberal",
                                  threshold=0.01)  # fmt: skip
    volume, _ = roixr.to_index_volume(thresholded)
    volume.compute()
    roixr.to_index_volume(fractions > 0.01, overlap="last")[0].compute()


def test_coverage_is_the_share_in_the_field_of_view(synth_dir):
    """Wholly inside the grid: 100 % for every sampler (it was the share of vertices that
    are some voxel's nearest for distance samplers)."""
    for sampler in ("cortical", "thick", "cortical-conservative", "cortical-liberal"):
        masks = roixr.roi_masks(synth_dir, "fullhead", ["V1", "CUT"], sampler)
        np.testing.assert_allclose(masks.coverage.values, 100)
    grid = roixr.Subject(synth_dir).transform("oblique")
    masks = roixr.roi_masks(synth_dir, "oblique", ["V1"])
    surf = roixr.Subject(synth_dir)
    fid = np.concatenate([(surf.surface("white", h).points + surf.surface("pial", h).points) / 2
                          for h in ("lh", "rh")])  # fmt: skip
    ijk = fid @ np.asarray(grid.coord)[:3, :3].T + np.asarray(grid.coord)[:3, 3]
    inside = ((ijk >= -0.5) & (ijk < np.array(grid.shape) - 0.5)).all(1)
    v1 = roixr.roi_verts(synth_dir, ["V1"])["V1"]
    np.testing.assert_allclose(masks.coverage.values[0], inside[v1].mean() * 100)


# --- fuzzing ---------------------------------------------------------------------------------

_coord = st.floats(-500, 500, allow_nan=False).map(lambda v: round(v, 3))


@st.composite
def paths(draw):
    """Random valid absolute path data of lines and cubic curves, and its vertices."""
    n = draw(st.integers(1, 6))
    parts = [f"M {draw(_coord)},{draw(_coord)}"]
    for _ in range(n):
        if draw(st.booleans()):
            parts.append(f"L {draw(_coord)} {draw(_coord)}")
        else:
            parts.append("C " + " ".join(str(draw(_coord)) for _ in range(6)))
    return " ".join(parts) + (" Z" if draw(st.booleans()) else "")


@settings(max_examples=60, deadline=None)
@given(paths())
def test_random_paths_equal_matplotlib(d):
    from matplotlib.path import Path as MplPath

    ours = flatten_path(d)
    assert len(ours) == 1
    tokens = d.replace(",", " ").split()
    verts, codes, i = [], [], 0
    while i < len(tokens):
        cmd = tokens[i]
        if cmd == "Z":
            break
        k = {"M": 1, "L": 1, "C": 3}[cmd]
        nums = [float(v) for v in tokens[i + 1 : i + 1 + 2 * k]]
        code = {"M": MplPath.MOVETO, "L": MplPath.LINETO, "C": MplPath.CURVE4}[cmd]
        verts += list(zip(nums[::2], nums[1::2], strict=True))
        codes += [code] * k
        i += 1 + 2 * k
    mpl = MplPath(verts, codes)
    # the same end points, in order: every vertex of a line or curve end is on our polygon
    ends = [tuple(v) for v, c in zip(mpl.vertices, mpl.codes, strict=True)
            if c in (MplPath.MOVETO, MplPath.LINETO)]  # fmt: skip
    poly = {tuple(np.round(p, 6)) for p in ours[0]}
    assert {tuple(np.round(e, 6)) for e in ends} <= poly


def _mutate(data: bytes, edits) -> bytes:
    out = bytearray(data)
    for pos, byte in edits:
        if out:
            out[pos % len(out)] = byte
    return bytes(out)


_edits = st.lists(st.tuples(st.integers(0, 10**7), st.integers(0, 255)), min_size=1, max_size=4)


@pytest.fixture(scope="module")
def fuzz_subject(synth_dir, tmp_path_factory):
    return shutil.copytree(synth_dir, tmp_path_factory.mktemp("fuzz") / "synth")


@pytest.mark.parametrize(
    "name", ["overlays.svg", "surfaces/wm_lh.gii", "transforms/fullhead/matrices.xfm"]
)
@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(edits=_edits)
def test_mutations_give_a_roixr_error_or_a_result(fuzz_subject, name, edits):
    path = fuzz_subject / name
    original = path.read_bytes()
    try:
        path.write_bytes(_mutate(original, edits))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                masks = roixr.roi_masks(fuzz_subject, "fullhead", ["V1"], chunks=-1)
                values = masks.values
            except RoixrError:
                return
        assert values.dtype == bool and np.isfinite(masks.coverage.values).all()
    finally:
        path.write_bytes(original)
