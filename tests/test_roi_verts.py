"""roixr.roi_verts on the synthetic subject: analytic ground truth, pycortex, bad input."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from conftest import pycortex_roi_verts, snapshot

import roixr
from roixr.datasets import expected_roi_verts
from roixr.errors import (
    OverlayError,
    OverlayNotFoundError,
    RoiNotFoundError,
    RoixrError,
    SubjectFileNotFoundError,
    SubjectNotFoundError,
    SurfaceError,
    SurfaceMismatchError,
    SVGPathError,
    TransformError,
    TransformNotFoundError,
)

pytestmark = pytest.mark.filterwarnings("ignore::roixr.errors.EmptyRoiWarning")


def test_matches_analytic_geometry(synth_dir):
    ours = roixr.roi_verts(synth_dir)
    expected = expected_roi_verts()
    assert list(ours) == list(expected)
    for name in expected:
        np.testing.assert_array_equal(ours[name], expected[name], err_msg=name)


def test_matches_pycortex_on_synthetic(synth_dir, tmp_path):
    copy = tmp_path / "synth"
    shutil.copytree(synth_dir, copy)
    theirs = pycortex_roi_verts(copy)
    ours = roixr.roi_verts(synth_dir)
    assert list(ours) == list(theirs)
    for name in theirs:
        np.testing.assert_array_equal(ours[name], theirs[name], err_msg=name)


def test_empty_layer_warns(synth_dir):
    with pytest.warns(roixr.errors.EmptyRoiWarning, match="EMPTY"):
        out = roixr.roi_verts(synth_dir, ["EMPTY"])
    assert out["EMPTY"].size == 0 and out["EMPTY"].dtype == np.int64


def test_subject_forms_agree(synth_dir, monkeypatch):
    by_path = roixr.roi_verts(synth_dir, ["V1"])
    by_subject = roixr.roi_verts(roixr.Subject(synth_dir), ["V1"])
    monkeypatch.setenv("ROIXR_FILESTORE", str(synth_dir.parent))
    by_name = roixr.roi_verts(synth_dir.name, ["V1"])
    for other in (by_subject, by_name):
        np.testing.assert_array_equal(by_path["V1"], other["V1"])


def test_nothing_written_to_subject(synth_dir, s1_clean):
    """Every roixr read path, on both subjects; the folders must not change at all."""
    for folder in (synth_dir, s1_clean):
        before = snapshot(folder)
        subj = roixr.Subject(folder)
        for kind in ("white", "pial", "fiducial", "flat", "inflated"):
            for hemi in ("lh", "rh"):
                subj.surface(kind, hemi)
        for name in [*subj.transforms, "identity"]:
            subj.transform(name)
        roixr.roi_verts(subj)
        roixr.roi_verts(folder)
        assert snapshot(folder) == before


def test_transforms_read(synth_dir):
    subj = roixr.Subject(synth_dir)
    assert subj.transforms == ["fullhead", "oblique"]
    for name in subj.transforms:
        xfm = subj.transform(name)
        np.testing.assert_allclose(xfm.coord, np.linalg.inv(xfm.affine) @ xfm.magnet, atol=1e-6)
        assert len(xfm.shape) == 3
    ident = subj.transform("identity")
    np.testing.assert_allclose(ident.coord @ ident.affine, np.eye(4), atol=1e-9)
    assert subj.transform("fullhead") is subj.transform("fullhead")  # read once


def test_fiducial_is_midpoint(synth_dir):
    subj = roixr.Subject(synth_dir)
    w, p, f = (subj.surface(k, "rh").points for k in ("white", "pial", "fiducial"))
    np.testing.assert_allclose(f, (w + p) / 2)
    assert subj.n_vertices() == 2 * subj.n_vertices("lh")


# -- bad input ----------------------------------------------------------------------------


@pytest.fixture
def broken(synth_dir, tmp_path):
    """A private copy of the synthetic subject to break."""
    copy = tmp_path / "broken"
    shutil.copytree(synth_dir, copy)
    return copy


def test_missing_subject(tmp_path, monkeypatch):
    monkeypatch.setenv("ROIXR_FILESTORE", str(tmp_path))
    with pytest.raises(SubjectNotFoundError, match="no subject named 'nobody'.*ROIXR_FILESTORE"):
        roixr.roi_verts("nobody")
    with pytest.raises(SubjectNotFoundError, match="does not exist"):
        roixr.Subject(tmp_path / "missing")
    with pytest.raises(SubjectNotFoundError, match="no surfaces/ folder"):
        roixr.Subject(tmp_path)


def test_missing_transform(broken):
    subj = roixr.Subject(broken)
    with pytest.raises(TransformNotFoundError, match="no transform 'nope'.*Available"):
        subj.transform("nope")
    (broken / "transforms" / "oblique" / "reference.nii.gz").unlink()
    with pytest.raises(SubjectFileNotFoundError, match="reference.nii.gz is missing"):
        subj.transform("oblique")


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("not json", "not valid JSON"),
        ('{"magnet": []}', "no 'coord' matrix"),
        ('{"coord": [[1, 2], [3, 4]]}', "not a finite 4×4 matrix"),
        ('{"coord": [[0,0,0,0],[0,0,0,0],[0,0,0,0],[0,0,0,1]]}', "not invertible"),
    ],
)
def test_bad_transform_file(broken, content, match):
    (broken / "transforms" / "fullhead" / "matrices.xfm").write_text(content)
    with pytest.raises(TransformError, match=match):
        roixr.Subject(broken).transform("fullhead")


def test_missing_overlay_and_surface(broken):
    with pytest.raises(OverlayNotFoundError, match="other.svg does not exist"):
        roixr.roi_verts(broken, overlay_file=broken / "other.svg")
    (broken / "surfaces" / "flat_rh.gii").unlink()
    with pytest.raises(SubjectFileNotFoundError, match="flat_rh.gii is missing"):
        roixr.roi_verts(broken)


def test_truncated_and_malformed_svg(broken):
    svg = (broken / "overlays.svg").read_bytes()
    (broken / "overlays.svg").write_bytes(svg[: len(svg) // 2])
    with pytest.raises(OverlayError, match="not well-formed XML.*truncated"):
        roixr.roi_verts(broken)
    (broken / "overlays.svg").write_text("<html/>")
    with pytest.raises(OverlayError, match="not an SVG document"):
        roixr.roi_verts(broken)


def test_path_that_does_not_parse(broken):
    svg = (broken / "overlays.svg").read_text()
    start = svg.index(' d="', svg.index('label="CUT"')) + 4
    (broken / "overlays.svg").write_text(svg[:start] + "M 1 2 Q oops " + svg[start:])
    with pytest.raises(SVGPathError, match="ROI 'CUT'.*expected a number"):
        roixr.roi_verts(broken, ["CUT"])
    assert roixr.roi_verts(broken, ["V1"])["V1"].size > 0  # other ROIs unaffected
    # the drop-in labels ROIs in a thread: the error still reaches the caller, unchanged
    for sampler in ("cortical", "cortical-liberal"):
        with pytest.raises(SVGPathError, match="ROI 'CUT'.*expected a number"):
            roixr.get_roi_masks(broken, "fullhead", ["V1", "CUT"], gm_sampler=sampler)


LAUGHS = '<!ENTITY a0 "M0 0 L9 9 ">' + "".join(
    f'<!ENTITY a{i} "' + f"&a{i - 1};" * 10 + '">' for i in range(1, 10)
)


def test_entities_are_not_expanded(broken, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("M 0 0 L 1 0 L 1 1 Z")
    for decl, ref in [(f'<!ENTITY x SYSTEM "file://{secret}">', "&x;"),
                      (LAUGHS, "&a9;")]:  # fmt: skip
        svg = (synth_dir_svg := (broken / "overlays.svg")).read_text()
        head, rest = svg.split("<svg", 1)
        svg = head + f"<!DOCTYPE svg [{decl}]>" + "<svg" + rest
        start = svg.index(' d="', svg.index('label="CUT"')) + 4
        svg = svg[:start] + ref + svg[svg.index('"', start) :]
        (broken / "new.svg").write_text(svg)
        with pytest.raises(OverlayError, match="refuses to expand"):
            roixr.roi_verts(broken, overlay_file=broken / "new.svg")
    assert synth_dir_svg.exists()


def test_unknown_roi(synth_dir):
    with pytest.raises(RoiNotFoundError, match=r"\['V9'\] not found.*Available ROIs"):
        roixr.roi_verts(synth_dir, ["V1", "V9"])


def test_vertex_counts_disagree(broken):
    import nibabel as nib

    old = nib.load(broken / "surfaces" / "pia_lh.gii")
    pts = old.get_arrays_from_intent("pointset")[0].data[:-1]
    tri = old.get_arrays_from_intent("triangle")[0].data
    tri = tri[(tri < len(pts)).all(axis=1)]
    img = nib.gifti.GiftiImage(darrays=[
        nib.gifti.GiftiDataArray(pts, intent="NIFTI_INTENT_POINTSET", datatype="float32"),
        nib.gifti.GiftiDataArray(tri, intent="NIFTI_INTENT_TRIANGLE", datatype="int32"),
    ])  # fmt: skip
    nib.save(img, broken / "surfaces" / "pia_lh.gii")
    with pytest.raises(SurfaceMismatchError, match="pia_lh.gii has .* vertices but .*wm_lh"):
        roixr.Subject(broken).surface("fiducial", "lh")


def test_corrupt_surface(broken):
    (broken / "surfaces" / "flat_lh.gii").write_text("<GIFTI>")
    with pytest.raises(SurfaceError, match="cannot read .*flat_lh.gii as a GIFTI surface"):
        roixr.roi_verts(broken)


def test_one_exception_tree():
    for cls in (SubjectNotFoundError, SurfaceMismatchError, TransformError, OverlayError,
                SVGPathError, RoiNotFoundError):  # fmt: skip
        assert issubclass(cls, RoixrError)


def test_shapes_enclosing_no_vertex_warn(synth_dir, tmp_path):
    """An ROI drawn where no flatmap vertex lies (a path off the flatmap) warns, naming it."""
    from lxml import etree

    tree = etree.parse(str(synth_dir / "overlays.svg"))
    label = "{http://www.inkscape.org/namespaces/inkscape}label"
    layer = next(g for g in tree.iter("{http://www.w3.org/2000/svg}g") if g.get(label) == "V1")
    for path in layer.iter("{http://www.w3.org/2000/svg}path"):
        path.set("d", "M -900 -900 L -899 -900 L -899 -899 Z")
    tree.write(str(tmp_path / "off.svg"))
    with pytest.warns(roixr.errors.EmptyRoiWarning, match="'V1'.*enclose no vertex"):
        out = roixr.roi_verts(synth_dir, ["V1"], overlay_file=tmp_path / "off.svg")
    assert out["V1"].size == 0
