"""Tests of the synthetic subject: files, analytic ground truth, and agreement with pycortex."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from roixr.datasets.geometry import GEOMETRY, Circle, Rect, SyntheticGeometry, expected_roi_verts
from roixr.datasets.synthetic import overlay_svg, synthetic_subject

SURFACES = ("wm", "pia", "flat", "inflated")
HEMIS = ("lh", "rh")


def _load_surface(path: Path) -> tuple[np.ndarray, np.ndarray]:
    gii = nib.load(str(path))
    return (
        gii.get_arrays_from_intent("pointset")[0].data,
        gii.get_arrays_from_intent("triangle")[0].data,
    )


@pytest.fixture(scope="module")
def subject(tmp_path_factory) -> Path:
    """The synthetic subject, built once for this module (tests must not modify it)."""
    return synthetic_subject(tmp_path_factory.mktemp("synthstore") / "synth")


@pytest.fixture
def pycortex_db(tmp_path):
    """pycortex's database pointed at a fresh filestore holding ``synth``; restored after."""
    import cortex.database as cdb

    saved = (cdb.db.filestore, cdb.db._subjects)
    synthetic_subject(tmp_path / "synth")
    cdb.db.filestore, cdb.db._subjects = str(tmp_path), None
    if hasattr(cdb.db, "_memocache"):
        cdb.db._memocache.clear()
    try:
        yield cdb.db
    finally:
        cdb.db.filestore, cdb.db._subjects = saved
        if hasattr(cdb.db, "_memocache"):
            cdb.db._memocache.clear()


# -- building -----------------------------------------------------------------------------
def _contents(root: Path) -> dict[str, object]:
    """Everything that defines the subject, decoded (not raw bytes)."""
    out: dict[str, object] = {"svg": (root / "overlays.svg").read_bytes()}
    for gii in sorted((root / "surfaces").glob("*.gii")):
        out[gii.name] = _load_surface(gii)
    for nii in sorted(root.rglob("*.nii.gz")):
        img = nib.load(str(nii))
        out[str(nii.relative_to(root))] = (np.asarray(img.dataobj), img.affine)
    for xfm in sorted(root.rglob("matrices.xfm")):
        out[str(xfm.relative_to(root))] = json.loads(xfm.read_text())
    return out


def _assert_same(a: object, b: object) -> None:
    if isinstance(a, tuple):
        for x, y in zip(a, b, strict=True):
            _assert_same(x, y)
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype
    else:
        assert a == b


def test_build_twice_is_identical(tmp_path, subject):
    again = synthetic_subject(tmp_path / "synth")
    assert again == tmp_path / "synth"
    first, second = _contents(subject), _contents(again)
    assert first.keys() == second.keys()
    for key in first:
        _assert_same(first[key], second[key])


def test_layout(subject):
    names = {p.name for p in (subject / "surfaces").iterdir()}
    assert names == {f"{s}_{h}.gii" for s in SURFACES for h in HEMIS}
    for spec in GEOMETRY.transforms:
        folder = subject / "transforms" / spec.name
        assert {p.name for p in folder.iterdir()} == {"matrices.xfm", "reference.nii.gz"}
    assert (subject / "anatomicals" / "raw.nii.gz").is_file()
    assert (subject / "overlays.svg").read_bytes() == overlay_svg()


def test_refuses_non_empty_folder(tmp_path):
    target = tmp_path / "synth"
    target.mkdir()
    synthetic_subject(target)  # an existing empty folder is fine
    with pytest.raises(FileExistsError, match="overwrite=True"):
        synthetic_subject(target)
    stale = target / "stale.txt"
    stale.write_text("old")
    synthetic_subject(target, overwrite=True)
    assert not stale.exists()
    assert (target / "overlays.svg").is_file()


def test_refuses_a_file(tmp_path):
    target = tmp_path / "synth"
    target.write_text("not a folder")
    with pytest.raises(FileExistsError, match="exists and is not a folder"):
        synthetic_subject(target, overwrite=True)


def test_invalid_geometry():
    with pytest.raises(ValueError, match="cut_column"):
        SyntheticGeometry(cut_column=0)
    with pytest.raises(ValueError, match="unique"):
        SyntheticGeometry(rois=(GEOMETRY.rois[0], GEOMETRY.rois[0]))


# -- surfaces -----------------------------------------------------------------------------
@pytest.mark.parametrize("hemi", HEMIS)
def test_gifti_intents_and_counts(subject, hemi):
    n = GEOMETRY.n_vertices
    full = GEOMETRY.triangles(hemi)
    for surf in SURFACES:
        gii = nib.load(str(subject / "surfaces" / f"{surf}_{hemi}.gii"))
        intents = [nib.nifti1.intent_codes.label[d.intent] for d in gii.darrays]
        assert intents == ["pointset", "triangle"]
        pts, tris = (d.data for d in gii.darrays)
        assert pts.dtype == np.float32 and pts.shape == (n, 3)
        assert tris.dtype == np.int32 and tris.shape[1] == 3
        assert 0 <= tris.min() and tris.max() < n
        if surf == "flat" and hemi == "lh":
            # a cut vertex of row 0 has 3 triangles, the others 6; consecutive ones share 2
            k = GEOMETRY.cut_max_row
            assert len(tris) == len(full) - (3 + 6 * k - 2 * k)
        else:
            np.testing.assert_array_equal(tris, full)


@pytest.mark.parametrize("hemi", HEMIS)
def test_surface_formulas(subject, hemi):
    wm, tris = _load_surface(subject / "surfaces" / f"wm_{hemi}.gii")
    pia, _ = _load_surface(subject / "surfaces" / f"pia_{hemi}.gii")
    fid = GEOMETRY.fiducial(hemi)
    np.testing.assert_array_equal((wm + pia) / 2, fid.astype(np.float32))
    np.testing.assert_allclose(pia[:, 2] - wm[:, 2], GEOMETRY.thickness(hemi), rtol=1e-6)
    assert np.all(np.abs(fid[:, 0]) >= GEOMETRY.medial_gap)
    assert np.all(np.sign(fid[:, 0]) == (-1 if hemi == "lh" else 1))
    # triangle normals point to +z (towards pia) in both hemispheres
    a, b, c = (fid[tris[:, k]] for k in range(3))
    assert np.all(np.cross(b - a, c - a)[:, 2] > 0)
    flat = GEOMETRY.flat(hemi)
    assert (flat[:, 0].max() == 0) if hemi == "lh" else (flat[:, 0].min() == 0)


def test_rh_thickness_varies_along_y():
    t = GEOMETRY.thickness("rh")
    y = GEOMETRY.fiducial("rh")[:, 1]
    assert t.min() == 2.0 and t.max() == 4.0
    np.testing.assert_allclose(t, 3.0 + y / 16.0)
    assert np.all(GEOMETRY.thickness("lh") == 3.0)


def test_flat_to_svg_matches_pycortex_normalisation():
    xy = GEOMETRY.flat_merged().astype(np.float32)
    coords = xy - xy.min(0)
    coords /= coords.max(0)
    coords = coords * (GEOMETRY.svg_width, GEOMETRY.svg_height)
    coords[:, 1] = GEOMETRY.svg_height - coords[:, 1]
    np.testing.assert_allclose(GEOMETRY.flat_to_svg(xy), coords, atol=1e-3)
    assert GEOMETRY.svg_width == 2560.0 and GEOMETRY.svg_scale == 32.0


# -- analytic ROIs ------------------------------------------------------------------------
def test_roi_edges_are_far_from_vertices():
    xy = GEOMETRY.flat_merged()
    for roi in GEOMETRY.rois:
        for shape in roi.shapes:
            if isinstance(shape, Rect):
                dx = np.minimum(np.abs(xy[:, 0] - shape.x0), np.abs(xy[:, 0] - shape.x1))
                dy = np.minimum(np.abs(xy[:, 1] - shape.y0), np.abs(xy[:, 1] - shape.y1))
                assert min(dx.min(), dy.min()) >= 0.25, roi.name
                assert shape.x0 > 1 or shape.x1 < -1, roi.name  # away from flat x = 0
            else:
                assert isinstance(shape, Circle)
                d = np.hypot(xy[:, 0] - shape.cx, xy[:, 1] - shape.cy)
                assert np.abs(d - shape.r).min() >= 0.25, roi.name


def test_expected_roi_verts_structure():
    rv = expected_roi_verts()
    assert list(rv) == [roi.name for roi in GEOMETRY.rois]
    assert list(rv) == ["V1", "CUT", "A", "B", "EMPTY", "CURVY"]
    for verts in rv.values():
        assert verts.dtype == np.int64
        assert np.all(np.diff(verts) > 0)
    assert {k: len(v) for k, v in rv.items()} == {
        "V1": 230,
        "CUT": 44,
        "A": 100,
        "B": 90,
        "EMPTY": 0,
        "CURVY": 69,
    }


def test_v1_spans_both_hemispheres():
    v1 = expected_roi_verts()["V1"]
    assert np.sum(v1 < GEOMETRY.n_lh) == 10 * 11
    assert np.sum(v1 >= GEOMETRY.n_lh) == 10 * 12


def test_cut_rule_adds_cut_vertices():
    g = GEOMETRY
    cut = expected_roi_verts()["CUT"]
    cut_verts = g.cut_vertices()
    added = np.intersect1d(cut, cut_verts)
    # column 20, rows 5..10 are inside the rectangle; rows 4 and 11 lie outside it but
    # neighbour inside vertices (21, 5) and (19, 10) across the quads' diagonals
    assert added.tolist() == [g.vertex_index(20, j) for j in range(4, 12)]
    assert g.vertex_index(20, 3) not in cut and g.vertex_index(20, 12) not in cut
    assert len(np.setdiff1d(cut, cut_verts)) == 7 * 6 - 6


def test_overlapping_rois_and_empty():
    rv = expected_roi_verts()
    both = np.intersect1d(rv["A"], rv["B"])
    assert len(both) == 4 * 6
    assert np.all(both >= GEOMETRY.n_lh)
    assert len(rv["EMPTY"]) == 0


def test_curvy_matches_lattice_count():
    (circle,) = next(r for r in GEOMETRY.rois if r.name == "CURVY").shapes
    n = 0
    for a in range(-10, 11):
        for b in range(-10, 11):
            n += (a - circle.cx % 1) ** 2 + (b - circle.cy % 1) ** 2 < circle.r**2
    assert len(expected_roi_verts()["CURVY"]) == n == 69


def test_svg_paths_use_pycortex_dialect(subject):
    from lxml import etree

    tree = etree.parse(str(subject / "overlays.svg"))
    paths = tree.getroot().findall(".//{http://www.w3.org/2000/svg}path")
    assert len(paths) == sum(len(r.shapes) for r in GEOMETRY.rois)
    number = r"-?\d+(\.\d+)?"
    token = re.compile(rf"^([mMlLhHvVcCzZ]|{number}|{number},{number})$")
    for path in paths:
        tokens = path.get("d").split(" ")
        assert all(token.match(t) for t in tokens), path.get("d")
        assert not {"H", "V"} & set(tokens)  # pycortex mis-parses absolute H and V
    curvy = next(p for p in paths if p.get("id") == "CURVY_0").get("d")
    assert curvy.startswith("m ") and curvy.count("c ") == 2 and curvy.endswith(" z")


# -- volumes ------------------------------------------------------------------------------
def _all_surface_points() -> np.ndarray:
    return np.vstack([f(h) for f in (GEOMETRY.white, GEOMETRY.pial) for h in HEMIS])


@pytest.mark.parametrize("spec", GEOMETRY.transforms, ids=lambda s: s.name)
def test_transform_files(subject, spec):
    folder = subject / "transforms" / spec.name
    xfm = json.loads((folder / "matrices.xfm").read_text())
    ref = nib.load(str(folder / "reference.nii.gz"))
    assert ref.shape == spec.shape and ref.get_data_dtype() == np.float32
    np.testing.assert_allclose(ref.header.get_zooms(), spec.zooms, rtol=1e-6)
    coord, magnet = np.array(xfm["coord"]), np.array(xfm["magnet"])
    np.testing.assert_allclose(coord, np.linalg.inv(ref.affine) @ magnet, atol=1e-12)
    rot = magnet[:3, :3]
    np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-12)
    ijk = _all_surface_points() @ coord[:3, :3].T + coord[:3, 3]
    assert np.all(ijk >= 1) and np.all(ijk <= np.array(spec.shape) - 2)


def test_oblique_is_oblique():
    spec = GEOMETRY.transform("oblique")
    assert not np.allclose(spec.magnet(), np.eye(4))
    assert len(set(spec.zooms)) == 3
    assert np.count_nonzero(spec.affine()[:3, :3]) > 3
    with pytest.raises(KeyError, match=r"no transform 'nope'; have \['fullhead', 'oblique'\]"):
        GEOMETRY.transform("nope")


def test_raw_anatomical(subject):
    raw = nib.load(str(subject / "anatomicals" / "raw.nii.gz"))
    assert raw.header.get_zooms() == (1.0, 1.0, 1.0)
    data = np.asarray(raw.dataobj)
    inv = np.linalg.inv(raw.affine)
    for hemi in HEMIS:
        for pts in (GEOMETRY.white(hemi), GEOMETRY.pial(hemi)):
            ijk = pts @ inv[:3, :3].T + inv[:3, 3]
            assert np.all(ijk >= 0) and np.all(ijk <= np.array(data.shape) - 1)
        ijk = np.rint(GEOMETRY.fiducial(hemi) @ inv[:3, :3].T + inv[:3, 3]).astype(int)
        assert np.all(data[tuple(ijk.T)] == GEOMETRY.raw_value)
    assert np.count_nonzero(data) < data.size / 4


# -- pycortex as an oracle ----------------------------------------------------------------
def test_pycortex_s1_transform_convention():
    """pycortex's own S1: coord == inv(reference affine) @ magnet."""
    import cortex.database as cdb

    folder = Path(cdb.default_filestore) / "S1" / "transforms" / "fullhead"
    xfm = json.loads((folder / "matrices.xfm").read_text())
    ref = nib.load(str(folder / "reference.nii.gz"))
    expected = np.linalg.inv(ref.affine) @ np.array(xfm["magnet"])
    np.testing.assert_allclose(np.array(xfm["coord"]), expected, atol=1e-9)


def test_pycortex_roi_verts_agree(pycortex_db):
    import cortex

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pycortex warns about the EMPTY layer
        rv = cortex.utils.get_roi_verts("synth")
    expected = expected_roi_verts()
    assert list(rv) == list(expected)
    for name, verts in expected.items():
        np.testing.assert_array_equal(np.unique(np.asarray(rv[name], dtype=np.int64)), verts)
    svg = Path(pycortex_db.filestore, "synth", "overlays.svg")
    assert svg.read_bytes() == overlay_svg()  # pycortex had no layer to add


def test_pycortex_reads_transforms(pycortex_db):
    import cortex

    pts, _ = cortex.db.get_surf("synth", "fiducial", merge=True)
    np.testing.assert_allclose(
        pts, np.vstack([GEOMETRY.fiducial("lh"), GEOMETRY.fiducial("rh")]), atol=1e-6
    )
    for spec in GEOMETRY.transforms:
        xfm = cortex.db.get_xfm("synth", spec.name)
        assert xfm.reference.shape == spec.shape
        assert tuple(xfm.shape) == spec.shape[::-1]
        np.testing.assert_allclose(xfm.xfm, spec.coord(), atol=1e-12)
        ijk = xfm(pts)
        assert np.all(ijk >= 0) and np.all(ijk <= np.array(spec.shape) - 1)
    ident = cortex.db.get_xfm("synth", "identity")
    assert tuple(ident.shape) == GEOMETRY.raw_shape[::-1]
