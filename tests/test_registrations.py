"""Issue 11: fsaverage5 into an MNI grid through 'identity', and every bad input of the new
readers as a clear roixr error."""

from __future__ import annotations

import gzip
import shutil

import nibabel as nib
import numpy as np
import pytest
from scipy.spatial import cKDTree

import roixr
from roixr.errors import (
    RegistrationError,
    RoiSourceError,
    SubjectFileNotFoundError,
    SubjectNotFoundError,
    TransformNotFoundError,
    VertexCountError,
)

MNI2 = np.array([[2.0, 0, 0, -90], [0, 2, 0, -126], [0, 0, 2, -72], [0, 0, 0, 1]])


def _labels(path, values, names):
    table = nib.gifti.GiftiLabelTable()
    for key, name in enumerate(["???", *names]):
        label = nib.gifti.GiftiLabel(key, 0.1 * key, 0.2, 0.3, 1.0)
        label.label = name
        table.labels.append(label)
    img = nib.gifti.GiftiImage(labeltable=table)
    img.add_gifti_data_array(
        nib.gifti.GiftiDataArray(
            values.astype(np.int32), intent="NIFTI_INTENT_LABEL", datatype="int32"
        )
    )
    nib.save(img, str(path))
    return path


@pytest.fixture(scope="module")
def fsaverage5(tmp_path_factory):
    """nilearn's bundled fsaverage5 white/pial (decompressed) and a label pair on them."""
    from nilearn import datasets

    root = tmp_path_factory.mktemp("fsavg5")
    files = datasets.fetch_surf_fsaverage("fsaverage5")
    out = {}
    for kind in ("white", "pial"):
        for side in ("left", "right"):
            dest = root / f"{kind}_{side}.surf.gii"
            with gzip.open(files[f"{kind}_{side}"], "rb") as f, open(dest, "wb") as g:
                shutil.copyfileobj(f, g)
            out[kind, side] = dest
    labels = []
    for side in ("left", "right"):
        y = nib.load(str(out["white", side])).darrays[0].data[:, 1]
        values = np.where(y < -40, 1, np.where(y > 20, 2, 0))
        labels.append(_labels(root / f"{side}.label.gii", values, ["occipital", "frontal"]))
    subject = roixr.Subject.from_surfaces(
        white=(out["white", "left"], out["white", "right"]),
        pial=(out["pial", "left"], out["pial", "right"]),
        name="fsaverage5",
    )
    return subject, tuple(labels)


def test_fsaverage5_identity_mni_within_ribbon(fsaverage5):
    subject, labels = fsaverage5
    grid = nib.Nifti1Image(np.zeros((91, 109, 91), np.uint8), MNI2)
    masks = roixr.roi_masks(subject, (grid, "identity"), sampler="cortical", source=labels)
    assert list(masks.roi.values) == ["occipital", "frontal"]
    assert masks.attrs["roi_colors"]["frontal"].startswith("#")
    np.testing.assert_array_equal(masks.attrs["affine"], MNI2)
    values = masks.values
    assert values[0].sum() > 1000 and values[1].sum() > 1000
    # every masked voxel centre lies within the ribbon: no farther from the nearest
    # fiducial vertex than that vertex's pial-white distance
    white = np.concatenate([subject.surface("white", h).points for h in ("lh", "rh")])
    pial = np.concatenate([subject.surface("pial", h).points for h in ("lh", "rh")])
    fid, thick = (white + pial) / 2, np.linalg.norm(pial - white, axis=1)
    ijk = np.argwhere(values.any(axis=(0, 1)))
    mm = ijk @ MNI2[:3, :3].T + MNI2[:3, 3]
    dist, near = cKDTree(fid).query(mm)
    assert np.all(dist <= thick[near] + 1e-4)
    # and within the surfaces' bounding box
    assert np.all(mm >= pial.min(0) - 5) and np.all(mm <= pial.max(0) + 5)


# --- a tiny FreeSurfer subject for the error paths ---------------------------------------


@pytest.fixture
def tiny_fs(tmp_path):
    """Two tetrahedra as FreeSurfer surfaces, an orig.mgz and an annotation."""
    subj = tmp_path / "tiny"
    for sub in ("surf", "mri", "label"):
        (subj / sub).mkdir(parents=True)
    tet = np.array([[0, 0, 0], [10, 0, 0], [0, 10, 0], [0, 0, 10]], dtype=np.float32)
    faces = np.array([[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]])
    for hemi, dx in (("lh", -20), ("rh", 20)):
        for kind, scale in (("white", 1.0), ("pial", 1.2)):
            pts = tet * scale + np.array([dx, 0, 0], np.float32)
            nib.freesurfer.write_geometry(str(subj / "surf" / f"{hemi}.{kind}"), pts, faces)
        ctab = np.array([[25, 5, 25, 0, 0], [200, 0, 0, 0, 0]])
        nib.freesurfer.write_annot(str(subj / "label" / f"{hemi}.aparc.annot"),
                                   np.array([0, 1, 1, 0]), ctab, ["unknown", "V1"])  # fmt: skip
    affine = np.array([[-1.0, 0, 0, 35], [0, 0, 1, -30], [0, -1, 0, 40], [0, 0, 0, 1]])
    nib.MGHImage(np.zeros((64, 64, 64), np.uint8), affine).to_filename(
        str(subj / "mri" / "orig.mgz")
    )
    func = nib.Nifti1Image(np.zeros((20, 20, 10), np.float32), np.diag([3.0, 3, 4, 1]))
    func.to_filename(str(tmp_path / "bold.nii.gz"))
    return subj, tmp_path / "bold.nii.gz"


def test_tiny_annot_by_name(tiny_fs):
    subj_dir, bold = tiny_fs
    subj = roixr.Subject.from_freesurfer(subj_dir)
    verts = roixr.roi_verts(subj, source="aparc")
    np.testing.assert_array_equal(verts["V1"], [1, 2, 5, 6])
    masks = roixr.roi_masks(subj, (bold, "identity"), sampler=5.0, source="aparc")
    assert masks.attrs["roi_colors"] == {"V1": "#c80000"}


def test_missing_orig_mgz(tiny_fs):
    subj_dir, _ = tiny_fs
    (subj_dir / "mri" / "orig.mgz").unlink()
    with pytest.raises(SubjectFileNotFoundError, match=r"orig\.mgz is missing.*tkr-RAS"):
        roixr.Subject.from_freesurfer(subj_dir)


def test_unknown_annot_name(tiny_fs):
    subj = roixr.Subject.from_freesurfer(tiny_fs[0])
    with pytest.raises(
        RoiSourceError, match=r"no annotation 'aparc\.a2009s'.*Available: \['aparc'\]"
    ):
        roixr.roi_verts(subj, source="aparc.a2009s")


def test_wrong_vertex_count(tiny_fs, tmp_path):
    subj = roixr.Subject.from_freesurfer(tiny_fs[0])
    pair = tuple(_labels(tmp_path / f"{h}.label.gii", np.ones(7), ["A"]) for h in ("lh", "rh"))
    with pytest.raises(VertexCountError, match=r"labels 7 vertices but subject 'tiny' has 4"):
        roixr.roi_verts(subj, source=pair)


def test_unparsable_registrations(tiny_fs, tmp_path):
    subj_dir, bold = tiny_fs
    subj = roixr.Subject.from_freesurfer(subj_dir)
    for name, kind in (("bad.lta", "FreeSurfer LTA"), ("bad.mat", "FSL FLIRT matrix"),
                       ("bad_xfm.txt", "ITK/ANTs affine")):  # fmt: skip
        (tmp_path / name).write_text("this is not a transform\n1 2\n")
        with pytest.raises(RegistrationError, match=rf"cannot read .*{name} as an? {kind}"):
            subj.transform((bold, tmp_path / name))


def test_lta_geometry_contradicts_reference(tiny_fs, tmp_path):
    from nitransforms.io.lta import FSLinearTransform, VolumeGeometry

    subj_dir, bold = tiny_fs
    other = nib.Nifti1Image(np.zeros((30, 30, 30), np.float32), np.diag([2.0, 2, 2, 1]))
    lt = FSLinearTransform()
    lt.structarr["type"] = 1
    lt.structarr["m_L"] = np.eye(4)
    lt.structarr["src"] = np.asanyarray(VolumeGeometry.from_image(other))
    lt.structarr["dst"] = np.asanyarray(
        VolumeGeometry.from_image(nib.load(str(subj_dir / "mri/orig.mgz")))
    )
    (tmp_path / "other.lta").write_text("type = 1\nnxforms = 1\n" + lt.to_string(partial=True))
    subj = roixr.Subject.from_freesurfer(subj_dir)
    with pytest.raises(RegistrationError, match=r"matches neither way round the reference"):
        subj.transform((bold, tmp_path / "other.lta"))


def test_none_subject_and_xfm(tiny_fs):
    with pytest.raises(SubjectNotFoundError, match=r"subject=None is not a subject"):
        roixr.roi_masks(None, "identity")
    subj = roixr.Subject.from_freesurfer(tiny_fs[0])
    with pytest.raises(TransformNotFoundError, match=r"xfm=None names no transform.*pair"):
        roixr.roi_masks(subj, None, source="aparc")


def test_missing_raw_for_identity_names_the_anatomy(synth_dir, tmp_path):
    copy = tmp_path / "synth"
    shutil.copytree(synth_dir, copy)
    (copy / "anatomicals" / "raw.nii.gz").unlink()
    with pytest.raises(SubjectFileNotFoundError, match="anatomical") as err:
        roixr.roi_masks(copy, "identity")
    assert "functional reference" not in str(err.value)


def test_identity_without_anatomical(tiny_fs):
    s = tiny_fs[0] / "surf"
    subj = roixr.Subject.from_surfaces(white=(s / "lh.white", s / "rh.white"),
                                       pial=(s / "lh.pial", s / "rh.pial"))  # fmt: skip
    with pytest.raises(TransformNotFoundError, match="has no anatomical image"):
        subj.transform("identity")


def test_volume_passed_as_registration(tiny_fs):
    """A NIfTI registration is read as an ITK displacement field: an ordinary volume (the
    boldref passed twice) is refused, naming the layout expected."""
    subj_dir, bold = tiny_fs
    subj = roixr.Subject.from_freesurfer(subj_dir)
    with pytest.raises(RegistrationError, match=r"has shape \(20, 20, 10\).*5D") as err:
        subj.transform((bold, bold))
    assert "antsApplyTransforms" in err.value.fix
