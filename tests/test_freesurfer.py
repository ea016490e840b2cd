"""Issue 11: S1 as a FreeSurfer subject, with ROIs as .label/.annot/GIfTI/CIFTI files and its
``fullhead`` transform as an LTA, an FSL .mat, an ITK .txt or .h5 and a register.dat, gives
the masks of S1's pycortex layout: booleans identical, fractions within 1e-6."""

from __future__ import annotations

import pickle
import warnings

import dask
import numpy as np
import pytest
import xarray as xr
from fs_fixtures import (
    anat_to_func,
    disjoint,
    freesurfer_subject,
    hemisphere_verts,
    write_annot,
    write_cifti_labels,
    write_fsl,
    write_gifti_labels,
    write_itk,
    write_itk_h5,
    write_labels,
    write_lta,
    write_register_dat,
)

import roixr

pytestmark = pytest.mark.filterwarnings("ignore::roixr.errors.EmptyRoiWarning")

SAMPLERS = ["cortical", "thick", "thin", 2.0, "cortical-conservative", "cortical-liberal"]
TOL = 1e-6


@pytest.fixture(scope="module")
def fs(s1_clean, tmp_path_factory):
    """Everything built once: the FreeSurfer directory, ROI files, registrations."""
    root = tmp_path_factory.mktemp("fs")
    subj_dir = freesurfer_subject(s1_clean, root / "S1")
    s1 = roixr.Subject(s1_clean)
    n = {"lh": s1.n_vertices("lh"), "rh": s1.n_vertices("rh")}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        verts = roixr.roi_verts(s1)
    rois = hemisphere_verts(verts, n["lh"])
    fs_subj = roixr.Subject.from_freesurfer(subj_dir)
    white = {h: fs_subj.surface("white", h).points for h in ("lh", "rh")}
    labels = write_labels(rois, white, subj_dir / "label")
    subset = disjoint(rois)
    annot = write_annot(subset, n, subj_dir / "label", "s1rois")
    gifti = write_gifti_labels(subset, n, root)
    ref = s1_clean / "transforms" / "fullhead" / "reference.nii.gz"
    orig = subj_dir / "mri" / "orig.mgz"
    a2f = anat_to_func(s1_clean)
    regs = {
        "lta": write_lta(a2f, ref, orig, root / "register.lta"),
        "lta-inverted": write_lta(a2f, ref, orig, root / "inverted.lta", inverted=True),
        "fsl": write_fsl(a2f, ref, orig, root / "func2anat.mat"),
        "itk": write_itk(a2f, root / "sub-S1_from-boldref_to-T1w_mode-image_xfm.txt"),
        "itk-inverse": write_itk(
            a2f, root / "sub-S1_from-T1w_to-boldref_mode-image_xfm.txt", inverse=True
        ),
        "itk-h5": write_itk_h5(a2f, root / "sub-S1_from-boldref_to-T1w_mode-image_xfm.h5"),
        "register.dat": write_register_dat(a2f, ref, orig, root / "register.dat"),
    }
    return {
        "root": root, "dir": subj_dir, "s1": s1_clean, "rois": rois, "subset": subset,
        "labels": labels, "annot": annot, "gifti": gifti, "ref": ref, "regs": regs, "n": n,
    }  # fmt: skip


def compute(masks: xr.DataArray) -> np.ndarray:
    with dask.config.set(scheduler="threads"):
        return masks.values


def assert_same(a: xr.DataArray, b: xr.DataArray) -> None:
    assert list(a.roi.values) == list(b.roi.values)
    va, vb = compute(a), compute(b)
    assert va.dtype == vb.dtype
    if va.dtype == bool:
        np.testing.assert_array_equal(va, vb)
    else:
        np.testing.assert_allclose(va, vb, atol=TOL, rtol=0)
    # coverage may differ by a vertex: a kd-tree near-tie between fiducial vertices (distances
    # equal to ~1e-14 mm) can pick another nearest vertex for a voxel outside every mask
    np.testing.assert_allclose(a.coverage.values, b.coverage.values, atol=0.05)


@pytest.fixture(scope="module")
def reference_masks(fs):
    """S1's pycortex layout, SVG ROIs, ``fullhead``: the answer, per sampler."""
    return {str(s): roixr.roi_masks(fs["s1"], "fullhead", list(fs["rois"]), s) for s in SAMPLERS}


def test_orig_tkr_relation(fs):
    subj = roixr.Subject.from_freesurfer(fs["dir"])
    s2s = subj.surface_to_scanner
    assert not np.allclose(s2s, np.eye(4))  # scanner RAS = tkr-RAS + c_ras
    s1 = roixr.Subject(fs["s1"])
    p = subj.surface("white", "lh").points.astype(float)
    np.testing.assert_array_equal(p @ s2s[:3, :3].T + s2s[:3, 3], s1.surface("white", "lh").points)


@pytest.mark.parametrize("sampler", SAMPLERS, ids=str)
def test_freesurfer_labels_lta_equal_pycortex(fs, reference_masks, sampler):
    """.label files + a bbregister-style VOX2VOX LTA == S1's SVG + fullhead, every sampler."""
    subj = roixr.Subject.from_freesurfer(fs["dir"])
    xfm = (fs["ref"], fs["regs"]["lta"])
    masks = roixr.roi_masks(subj, xfm, list(fs["rois"]), sampler, source=fs["labels"])
    assert_same(masks, reference_masks[str(sampler)])


REGISTRATIONS = ["lta-inverted", "fsl", "itk", "itk-inverse", "itk-h5", "register.dat"]


@pytest.mark.parametrize("reg", REGISTRATIONS)
def test_registration_forms_give_the_lta_matrix(fs, reg):
    """Each form read gives the LTA's surface → voxel matrix: to 1e-9, and register.dat to
    1e-6 relative (its tkr vox2ras matrices are float32 in FreeSurfer and in nibabel, which
    wrote this one; FreeSurfer prints the matrix with 7 significant digits)."""
    subj = roixr.Subject.from_freesurfer(fs["dir"])
    want = subj.transform((fs["ref"], fs["regs"]["lta"])).coord
    got = subj.transform((fs["ref"], fs["regs"][reg])).coord
    if reg == "register.dat":
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)
    else:
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)


@pytest.mark.parametrize("reg", REGISTRATIONS)
@pytest.mark.parametrize("sampler", ["cortical", "cortical-conservative", "cortical-liberal"])
def test_registration_forms_equal_pycortex(fs, reference_masks, reg, sampler):
    """The FSL .mat, the ITK .txt (both directions by name) and composite .h5, a tkregister
    register.dat and an inverted LTA.

    register.dat's matrix carries float32 precision (~1e-7 relative, see above): with
    ``cortical-liberal`` a sample point of a voxel may fall on the other side of a boundary
    (seen: 1 voxel of 16 million, 0.7959 instead of 0.7935), so there a few voxels may
    differ by a sample's weight."""
    if reg == "register.dat" and sampler == "cortical-liberal":
        subj = roixr.Subject.from_freesurfer(fs["dir"])
        got = compute(roixr.roi_masks(subj, (fs["ref"], fs["regs"][reg]), list(fs["rois"]),
                                      sampler, source=fs["labels"]))  # fmt: skip
        want = compute(reference_masks[sampler])
        off = np.abs(got - want) > TOL
        assert off.sum() <= 3 and np.abs(got - want).max() <= 0.01, (
            off.sum(),
            np.abs(got - want).max(),
        )
        return
    subj = roixr.Subject.from_freesurfer(fs["dir"])
    masks = roixr.roi_masks(subj, (fs["ref"], fs["regs"][reg]), list(fs["rois"]), sampler,
                            source=fs["labels"])  # fmt: skip
    assert_same(masks, reference_masks[sampler])


@pytest.mark.parametrize("sampler", ["cortical", "cortical-conservative", "cortical-liberal"])
def test_annot_and_gifti_equal_pycortex(fs, sampler):
    """A non-overlapping subset as an .annot pair (by name, from label/) and a GIfTI pair."""
    names = list(fs["subset"])
    subj = roixr.Subject.from_freesurfer(
        fs["dir"], transforms={"fullhead": (fs["ref"], fs["regs"]["lta"])}
    )
    expected = roixr.roi_masks(fs["s1"], "fullhead", names, sampler)  # overlap culling: subset
    for source in ("s1rois", fs["annot"], fs["gifti"]):
        masks = roixr.roi_masks(subj, "fullhead", names, sampler, source=source)
        assert masks.attrs["roi_colors"][names[0]].startswith("#")
        assert_same(masks, expected)


@pytest.mark.parametrize("reg", ["lta", "itk"])
def test_from_surfaces_scanner_gifti_equal_pycortex(fs, reference_masks, reg):
    """S1's own scanner-RAS GIfTIs through from_surfaces (as fMRIPrep writes them)."""
    s1 = fs["s1"] / "surfaces"
    subj = roixr.Subject.from_surfaces(
        white=(s1 / "wm_lh.gii", s1 / "wm_rh.gii"),
        pial=(s1 / "pia_lh.gii", s1 / "pia_rh.gii"),
        flat=(s1 / "flat_lh.gii", s1 / "flat_rh.gii"),
        anatomical=fs["s1"] / "anatomicals" / "raw.nii.gz",
        transforms={"bold": (fs["ref"], fs["regs"][reg])},
        name="S1",
    )
    for sampler in ("cortical", "cortical-conservative"):
        masks = roixr.roi_masks(subj, "bold", list(fs["rois"]), sampler, source=fs["labels"])
        assert_same(masks, reference_masks[sampler])


def test_cifti_equals_gifti(fs):
    """A .dlabel.nii without the medial wall gives the masks of the equivalent GIfTI pair."""
    subj = roixr.Subject.from_freesurfer(fs["dir"])
    n, subset = fs["n"], fs["subset"]
    flat = subj.flat_mesh_vertices()
    in_roi = {h: np.zeros(n[h], bool) for h in ("lh", "rh")}
    for sides in subset.values():
        for h in in_roi:
            in_roi[h][sides[h]] = True
    parts = {"lh": flat[: n["lh"]], "rh": flat[n["lh"] :]}
    medial = {h: ~parts[h] & ~in_roi[h] for h in ("lh", "rh")}
    assert medial["lh"].any()
    cifti = write_cifti_labels(subset, n, medial, fs["root"] / "rois.dlabel.nii")
    xfm = (fs["ref"], fs["regs"]["lta"])
    a = roixr.roi_masks(subj, xfm, sampler="cortical", source=cifti)
    b = roixr.roi_masks(subj, xfm, sampler="cortical", source=fs["gifti"])
    assert a.attrs["roi_colors"] == b.attrs["roi_colors"]
    assert_same(a, b)


def test_freesurfer_subject_pickles_small(fs):
    subj = roixr.Subject.from_freesurfer(fs["dir"], transforms={"f": (fs["ref"], np.eye(4))})
    subj.n_vertices()
    blob = pickle.dumps(subj)
    assert len(blob) < 2000
    back = pickle.loads(blob)
    assert back == subj and back.name == "S1" and back.transforms == ["f"]


def test_svg_needs_a_flatmap(fs):
    subj = roixr.Subject.from_surfaces(
        white=(fs["dir"] / "surf" / "lh.white", fs["dir"] / "surf" / "rh.white"),
        pial=(fs["dir"] / "surf" / "lh.pial", fs["dir"] / "surf" / "rh.pial"),
    )
    with pytest.raises(roixr.errors.SubjectFileNotFoundError, match="has no flatmap"):
        roixr.roi_verts(subj, source=fs["s1"] / "overlays.svg")


def test_cli_freesurfer_subject_source_and_registration(fs, tmp_path):
    """``roixr masks fs:DIR --reference --registration --source NAME`` and a cohort list
    naming a FreeSurfer subject, a registration pair and a per-subject source: the same
    masks as the Python API."""
    from roixr.cli import main

    subset = list(fs["subset"])[:4]
    expected = roixr.roi_masks(fs["s1"], "fullhead", subset, "thick")
    out = tmp_path / "m.zarr"
    argv = ["-q", "masks", f"fs:{fs['dir']}", "--reference", str(fs["ref"]),
            "--registration", str(fs["regs"]["lta"]), "--source", "s1rois",
            "--sampler", "thick", "--rois", *subset, "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    got = roixr.open_roi_masks(out)
    np.testing.assert_array_equal(got.values, compute(expected))
    assert "s1rois" in got.attrs["source"]
    listing = tmp_path / "list.txt"
    lh, rh = fs["gifti"]
    listing.write_text(
        f"fsub fs:{fs['dir']} {fs['ref']}+{fs['regs']['itk']} {lh} {rh}\n"
        f"pyc {fs['s1']} fullhead {fs['s1'] / 'overlays.svg'}\n"
    )
    cohort = tmp_path / "c.zarr"
    argv = ["-q", "cohort", str(listing), "--sampler", "thick", "--rois", *subset,
            "--out", str(cohort)]  # fmt: skip
    assert main(argv) == 0
    tree = roixr.open_cohort(cohort)
    for name in ("fsub", "pyc"):
        np.testing.assert_array_equal(tree[name]["roi_masks"].values, compute(expected))
    assert main(["masks", f"fs:{fs['dir']}", "--reference", str(fs["ref"]),
                 "--out", str(tmp_path / "x.zarr")]) == 1  # fmt: skip
