"""``roixr.find_runs`` on derivatives trees: the fMRIPrep-like fixture (both naming
generations, with and without sessions, native, T1w and template runs), trees built from
pycortex's S1 and from nilearn's fsaverage5, HCP trees, filters, listed problems and bad
inputs; and the fixture's own promises (its registrations, warps and signals are what
roixr reads and extracts).

Run as a script to time the indexing of a large tree of empty files:
``.venv/bin/python tests/test_find_runs.py 10000``.
"""

from __future__ import annotations

import shutil
import sys
import time
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from derivatives import fsaverage5_derivatives, s1_derivatives

import roixr
from roixr.cohort.runs import COLUMNS, ENTITIES
from roixr.datasets import fmriprep as fx
from roixr.datasets import fmriprep_truth as truth
from roixr.errors import OptionError, OutputExistsError, RoixrError, SubjectNotFoundError

TEMPLATE = truth.TEMPLATE
HCP_RUNS = ("rfMRI_REST1_LR", "rfMRI_REST1_RL", "tfMRI_WM_RL", "rfMRI_REST1_7T_PA")


def touch(root: Path, *names: str) -> Path:
    """Empty files (and their folders) under ``root``."""
    for name in names:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    return root


def names(column) -> list:
    return [None if v is None else Path(v).name for v in column]


def anat_to_func(row) -> np.ndarray:
    """The registration of a row as roixr reads it: surface (T1w) RAS → reference RAS."""
    subject = roixr.Subject.from_surfaces(
        white=(row.white_L, row.white_R), pial=(row.pial_L, row.pial_R), anatomical=row.t1w,
        transforms={"run": (row.reference, row.registration)},
    )  # fmt: skip
    return subject.transform("run").magnet


@pytest.fixture(scope="module")
def new_tree(tmp_path_factory) -> Path:
    """fMRIPrep ≥ 23.2 names, two sessions, native, T1w and template runs (read only)."""
    return fx.fmriprep_like(
        tmp_path_factory.mktemp("new") / "fmriprep", spaces=("boldref", "T1w", TEMPLATE)
    )


@pytest.fixture(scope="module")
def new_runs(new_tree):
    return roixr.find_runs(new_tree)


@pytest.fixture
def old_tree(tmp_path) -> Path:
    """fMRIPrep ≤ 22 names, no sessions (each test may damage its own copy)."""
    return fx.fmriprep_like(tmp_path / "fmriprep", naming="old", sessions=None)


# --- the column contract ------------------------------------------------------------------


def test_columns_in_order_as_strings_or_none(new_runs):
    assert list(new_runs.columns) == list(COLUMNS)
    assert list(COLUMNS[:8]) == list(ENTITIES) == [
        "subject", "session", "task", "acquisition", "direction", "run", "echo", "space",
    ]  # fmt: skip
    assert all(dtype == np.dtype(object) for dtype in new_runs.dtypes)
    values = new_runs.to_numpy().ravel()
    assert all(v is None or isinstance(v, str) for v in values)
    # 2 subjects x 2 sessions x 2 tasks x 3 spaces, nothing missing
    assert len(new_runs) == 24
    assert new_runs.problem.isna().all() and set(new_runs.layout) == {"fmriprep"}


def test_entities_without_prefixes_and_sorted(new_runs):
    assert new_runs.subject.unique().tolist() == ["01", "02"]
    assert new_runs.session.unique().tolist() == ["1", "2"]
    first = new_runs.iloc[:3]
    assert first.task.tolist() == ["nback"] * 3
    assert first.space.tolist() == [None, TEMPLATE, "T1w"]  # native first
    assert new_runs.acquisition.isna().all() and new_runs.echo.isna().all()


def test_new_names(new_runs, new_tree):
    native = new_runs[new_runs.space.isna()].iloc[0]
    assert Path(native.bold).name == "sub-01_ses-1_task-nback_desc-preproc_bold.nii.gz"
    # the coregistration boldref, never the head-motion one (before distortion correction)
    assert Path(native.reference).name == "sub-01_ses-1_task-nback_desc-coreg_boldref.nii.gz"
    assert Path(native.registration).name == (
        "sub-01_ses-1_task-nback_from-boldref_to-T1w_mode-image_desc-coreg_xfm.txt"
    )
    assert native.registration_kind == "affine"
    t1w = new_runs[new_runs.space == "T1w"].iloc[0]
    assert (t1w.registration, t1w.registration_kind) == ("identity", "identity")
    assert Path(t1w.reference).name == "sub-01_ses-1_task-nback_space-T1w_boldref.nii.gz"
    # two sessions: fMRIPrep writes the anatomy at the subject level
    anat = new_tree / "sub-01" / "anat"
    assert native.white_L == str(anat / "sub-01_hemi-L_white.surf.gii")
    assert native.pial_R == str(anat / "sub-01_hemi-R_pial.surf.gii")
    assert native.t1w == str(anat / "sub-01_desc-preproc_T1w.nii.gz")
    assert native.freesurfer == str(new_tree / "sourcedata" / "freesurfer" / "sub-01")


def test_template_runs(new_runs, new_tree):
    rows = new_runs[new_runs.space == TEMPLATE]
    assert len(rows) == 8 and set(rows.registration_kind) == {"nonlinear"}
    row = rows.iloc[-1]
    assert row.subject == "02"
    assert Path(row.registration).name == f"sub-02_from-{TEMPLATE}_to-T1w_mode-image_xfm.h5"
    assert Path(row.reference).name.endswith(f"space-{TEMPLATE}_res-2_boldref.nii.gz")


@pytest.mark.parametrize("naming", ["new", "old"])
def test_native_registrations_read_as_written(tmp_path, naming):
    """Each native run's registration, read by roixr, is the fixture's T1w → boldref map
    (different for each run, so a run paired with another's file would fail)."""
    root = fx.fmriprep_like(tmp_path / "fmriprep", naming=naming, subjects=("01",))
    native = roixr.find_runs(root, space="boldref")
    assert len(native) == 4
    for row in native.itertuples():
        expected = truth.native_registration(row.subject, row.session, row.task, row.run)
        np.testing.assert_allclose(anat_to_func(row), expected, atol=1e-12)


def test_old_names_without_sessions(old_tree):
    runs = roixr.find_runs(old_tree)
    assert len(runs) == 8 and runs.session.isna().all() and runs.problem.isna().all()
    native = runs[runs.space.isna()].iloc[0]
    assert Path(native.reference).name == "sub-01_task-nback_boldref.nii.gz"
    # not from-scanner_to-boldref (head motion), which fMRIPrep ≤ 23.1 also writes
    assert (
        Path(native.registration).name
        == "sub-01_task-nback_from-scanner_to-T1w_mode-image_xfm.txt"
    )
    # fMRIPrep ≤ 22 exported smoothwm, not white
    assert Path(native.white_R).name == "sub-01_hemi-R_smoothwm.surf.gii"


def test_old_inverse_registration_is_enough(old_tree):
    for path in old_tree.rglob("*from-scanner_to-T1w*"):
        path.unlink()
    native = roixr.find_runs(old_tree, space="boldref", subjects="01", tasks="rest")
    row = next(native.itertuples())
    assert Path(row.registration).name == "sub-01_task-rest_from-T1w_to-scanner_mode-image_xfm.txt"
    assert row.problem is None
    expected = truth.native_registration("01", None, "rest", None)
    np.testing.assert_allclose(anat_to_func(row), expected, atol=1e-12)


def test_one_session_anatomy_in_that_session(tmp_path):
    root = fx.fmriprep_like(tmp_path / "fmriprep", sessions=("1",), subjects=("01",))
    assert not (root / "sub-01" / "anat").exists()
    # a second session without its own anatomy takes the only one there is
    src, dst = root / "sub-01" / "ses-1" / "func", root / "sub-01" / "ses-2" / "func"
    dst.mkdir(parents=True)
    for f in src.iterdir():
        shutil.copy(f, dst / f.name.replace("ses-1", "ses-2"))
    runs = roixr.find_runs(root)
    assert runs.session.unique().tolist() == ["1", "2"]
    anat = root / "sub-01" / "ses-1" / "anat"
    assert set(runs.white_L) == {str(anat / "sub-01_ses-1_hemi-L_white.surf.gii")}
    assert set(runs.t1w) == {str(anat / "sub-01_ses-1_desc-preproc_T1w.nii.gz")}
    assert runs.problem.isna().all()


# --- what the fixture promises ------------------------------------------------------------


def extract(row, sampler: str = "cortical"):
    subject = roixr.Subject.from_surfaces(
        white=(row.white_L, row.white_R), pial=(row.pial_L, row.pial_R), anatomical=row.t1w,
        transforms={"run": (row.reference, row.registration)},
    )  # fmt: skip
    labels = Path(row.freesurfer) / "label"
    source = (labels / "lh.aparc.annot", labels / "rh.aparc.annot")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        masks = roixr.roi_masks(
            subject,
            "run",
            sampler=sampler,
            source=source,
            exclude_empty_rois=True,
            fail_for_missing_rois=False,
        )
        return masks, roixr.roi_timeseries(row.bold, masks)


@pytest.mark.parametrize("space", [None, "T1w", TEMPLATE])
def test_extracted_series_are_the_known_signals(new_runs, space):
    """Masks from the row's files (its registration, surfaces and annotations) give, in
    every space, exactly the signal the fixture wrote for each ROI and hemisphere."""
    row = next(r for r in new_runs.itertuples() if r.space == space and r.subject == "02")
    masks, series = extract(row)
    expected = truth.roi_signals(row.subject, row.session, row.task, row.run)
    assert series.sizes["time"] == 12 and set(series.roi.values) == {
        "V1",
        "CUT",
        "A",
        "B",
        "CURVY",
    }
    checked = 0
    for roi in series.roi.values:
        for hemi in ("L", "R"):
            if masks.sel(roi=roi, hemisphere=hemi).sum() == 0:
                continue
            got = series.sel(roi=roi, hemisphere=hemi).values
            np.testing.assert_allclose(got, expected[(str(roi), hemi)], atol=1e-4)
            checked += 1
    assert checked == 6  # V1 in both hemispheres, CUT left, A, B, CURVY right


def test_annotations_label_the_rois(new_runs):
    fs = Path(new_runs.freesurfer.iloc[0])
    labels, _, names_ = nib.freesurfer.read_annot(str(fs / "label" / "rh.aparc.annot"))
    expected, expected_names = truth.annotation("R")
    assert [n.decode() for n in names_] == expected_names
    np.testing.assert_array_equal(labels, expected)
    # FreeSurfer's own surfaces (tkr-RAS of orig.mgz) are the GIfTIs (scanner RAS)
    subject = roixr.Subject.from_freesurfer(fs)
    tkr = subject.merged_points("white")
    scanner = tkr @ subject.surface_to_scanner[:3, :3].T + subject.surface_to_scanner[:3, 3]
    gifti = nib.load(new_runs.white_R.iloc[0]).darrays[0].data
    np.testing.assert_allclose(scanner[-len(gifti) :], gifti, atol=1e-4)


def test_composite_warp_as_documented(tmp_path):
    """``write_itk_composite_warp`` maps p to affine @ (p + d(p)), as nitransforms reads it."""
    from nitransforms.manip import load

    grid = truth.Grid((9, 8, 7), 3.0, (-12.0, -10.0, -9.0))
    nodes = grid.centres()
    field = np.stack([np.sin(nodes[:, 1] / 5), nodes[:, 2] / 10, np.cos(nodes[:, 0] / 7)], 1)
    img = nib.Nifti1Image(field.reshape(*grid.shape, 3, order="F"), grid.affine)
    affine = truth.native_registration("x", None, "y") @ np.diag([1.1, 0.9, 1.0, 1.0])
    path = fx.write_itk_composite_warp(tmp_path / "warp.h5", affine, img)
    inner = nodes[(np.abs(nodes) < 6).all(axis=1)]  # grid nodes: interpolation is exact
    expected = (inner + field[(np.abs(nodes) < 6).all(axis=1)]) @ affine[:3, :3].T + affine[:3, 3]
    np.testing.assert_allclose(load(path, fmt="itk").map(inner), expected, atol=1e-4)


def test_template_warps_are_the_known_map(new_tree):
    from nitransforms.manip import load

    anat = new_tree / "sub-01" / "anat"
    points = np.vstack([truth.GEOMETRY.pial(h) for h in ("lh", "rh")])
    forward = load(anat / f"sub-01_from-{TEMPLATE}_to-T1w_mode-image_xfm.h5", fmt="itk")
    np.testing.assert_allclose(forward.map(points), truth.to_template(points), atol=1e-4)
    backward = load(anat / f"sub-01_from-T1w_to-{TEMPLATE}_mode-image_xfm.h5", fmt="itk")
    np.testing.assert_allclose(backward.map(truth.to_template(points)), points, atol=1e-4)
    np.testing.assert_allclose(truth.from_template(truth.to_template(points)), points, atol=1e-9)


def test_fixture_refuses_bad_arguments(tmp_path):
    touch(tmp_path, "fmriprep/keep.txt")
    with pytest.raises(OutputExistsError, match="is not an empty folder"):
        fx.fmriprep_like(tmp_path / "fmriprep")
    with pytest.raises(OptionError, match=r"spaces \['fsnative'\] cannot be written"):
        fx.fmriprep_like(tmp_path / "a", spaces=("T1w", "fsnative"))
    with pytest.raises(OptionError, match="naming must be 'new' or 'old'"):
        fx.fmriprep_like(tmp_path / "b", naming="23.2")  # type: ignore[arg-type]
    with pytest.raises(OptionError, match="n_volumes must be an integer"):
        fx.fmriprep_like(tmp_path / "c", n_volumes=0)
    assert not (tmp_path / "a").exists()  # nothing written before the arguments are checked
    root = fx.fmriprep_like(tmp_path / "fmriprep", overwrite=True, subjects=("07",), sessions=None)
    assert not (root / "keep.txt").exists() and (root / "sub-07").is_dir()


# --- problems are listed, never dropped ---------------------------------------------------


def test_missing_boldref(old_tree):
    (old_tree / "sub-02" / "func" / "sub-02_task-rest_boldref.nii.gz").unlink()
    runs = roixr.find_runs(old_tree)
    assert len(runs) == 8
    row = runs[runs.problem.notna()]
    assert len(row) == 1 and row.iloc[0].subject == "02" and row.iloc[0].space is None
    assert row.iloc[0].reference == row.iloc[0].bold
    assert "no boldref" in row.iloc[0].problem


def test_hmc_boldref_is_not_a_reference(tmp_path):
    root = fx.fmriprep_like(tmp_path / "fmriprep", subjects=("01",), sessions=None)
    (root / "sub-01" / "func" / "sub-01_task-rest_desc-coreg_boldref.nii.gz").unlink()
    row = roixr.find_runs(root, space="boldref", tasks="rest").iloc[0]
    assert row.reference == row.bold and "no boldref" in row.problem


def test_missing_surfaces_and_one_hemisphere(old_tree):
    for path in (old_tree / "sub-01" / "anat").glob("*.surf.gii"):
        path.unlink()
    for path in (old_tree / "sub-02" / "anat").glob("*hemi-R*.surf.gii"):
        path.unlink()
    runs = roixr.find_runs(old_tree)
    assert len(runs) == 8
    one, two = runs[runs.subject == "01"], runs[runs.subject == "02"]
    assert one.problem.str.contains("no surfaces").all()
    assert one[["white_L", "white_R", "pial_L", "pial_R"]].isna().all().all()
    assert two.problem.str.contains("only one hemisphere").all()
    assert two.problem.str.contains("hemisphere L has surfaces, R has none").all()
    assert two.white_L.notna().all() and two.white_R.isna().all()


def test_missing_transforms(tmp_path):
    root = fx.fmriprep_like(
        tmp_path / "fmriprep", subjects=("01",), sessions=None, spaces=("boldref", TEMPLATE)
    )
    for path in (root / "sub-01" / "func").glob("*rest*from-boldref_to-T1w*"):
        path.unlink()
    (root / "sub-01" / "anat" / f"sub-01_from-{TEMPLATE}_to-T1w_mode-image_xfm.h5").unlink()
    runs = roixr.find_runs(root)
    assert len(runs) == 4
    native = runs[runs.space.isna() & (runs.task == "rest")].iloc[0]
    assert native.registration is None and native.registration_kind is None
    assert "no registration to T1w" in native.problem
    assert runs[runs.space.isna() & (runs.task == "nback")].problem.isna().all()
    template = runs[runs.space == TEMPLATE]
    # only the other direction is there: recorded, and said
    assert set(names(template.registration)) == {
        f"sub-01_from-T1w_to-{TEMPLATE}_mode-image_xfm.h5"
    }
    assert template.problem.str.contains(
        f"sub-01_from-{TEMPLATE}_to-T1w_mode-image_xfm.h5, which maps"
    ).all()
    (root / "sub-01" / "anat" / f"sub-01_from-T1w_to-{TEMPLATE}_mode-image_xfm.h5").unlink()
    template = roixr.find_runs(root, space=TEMPLATE)
    assert template.registration.isna().all()
    assert template.problem.str.contains("no transform between T1w and").all()


# --- filters ------------------------------------------------------------------------------


def test_filters(new_tree, new_runs):
    one = roixr.find_runs(new_tree, subjects="sub-01")
    assert one.equals(roixr.find_runs(new_tree, subjects=["01"]))
    assert one.subject.unique().tolist() == ["01"] and len(one) == 12
    ses = roixr.find_runs(new_tree, sessions=["ses-2"], tasks="task-rest")
    assert set(zip(ses.session, ses.task, strict=True)) == {("2", "rest")} and len(ses) == 6
    native = roixr.find_runs(new_tree, space="boldref")
    assert native.space.isna().all() and len(native) == 8
    both = roixr.find_runs(new_tree, space=["T1w", None])
    assert set(both.space.fillna("native")) == {"T1w", "native"} and len(both) == 16
    template = roixr.find_runs(new_tree, space=TEMPLATE, subjects="02", tasks=["nback"])
    assert len(template) == 2 and set(template.space) == {TEMPLATE}
    none = roixr.find_runs(new_tree, space="MNI152NLin6Asym")
    assert none.empty and list(none.columns) == list(COLUMNS)
    assert new_runs.equals(roixr.find_runs(new_tree, layout="fmriprep"))


def test_multi_echo_entities_and_order(tmp_path):
    base = "sub-01/func/sub-01_task-rest_acq-mb4_dir-PA"
    touch(
        tmp_path,
        *(
            f"{base}_run-{r}_{e}desc-preproc_bold.nii.gz"
            for r in ("2", "10")
            for e in ("", "echo-1_", "echo-2_", "echo-3_")
        ),
        *(f"{base}_run-{r}_boldref.nii.gz" for r in ("2", "10")),
        *(f"{base}_run-{r}_from-scanner_to-T1w_mode-image_xfm.txt" for r in ("2", "10")),
        f"{base}_run-2_desc-confounds_timeseries.tsv",
        "sub-01/anat/sub-01_desc-preproc_T1w.nii.gz",
        *(f"sub-01/anat/sub-01_hemi-{h}_{k}.surf.gii" for h in "LR" for k in ("white", "pial")),
        "sub-01/anat/sub-01_hemi-L_space-fsLR_den-32k_white.surf.gii",  # not the subject's mesh
    )
    runs = roixr.find_runs(tmp_path)
    assert runs.run.tolist() == ["2"] * 4 + ["10"] * 4  # numbers by value
    assert runs.echo.tolist() == [None, "1", "2", "3"] * 2
    assert set(runs.acquisition) == {"mb4"} and set(runs.direction) == {"PA"}
    assert len(set(runs.reference)) == 2 and runs.problem.isna().all()
    assert set(names(runs.white_L)) == {"sub-01_hemi-L_white.surf.gii"}
    assert set(names(runs.registration[runs.run == "10"])) == {
        "sub-01_task-rest_acq-mb4_dir-PA_run-10_from-scanner_to-T1w_mode-image_xfm.txt"
    }


def test_freesurfer_folders(tmp_path):
    root = fx.fmriprep_like(
        tmp_path / "out" / "fmriprep", subjects=("01",), sessions=None, freesurfer=False
    )
    assert roixr.find_runs(root).freesurfer.isna().all()
    legacy = tmp_path / "out" / "freesurfer" / "sub-01"  # fMRIPrep ≤ 20: beside fmriprep/
    legacy.mkdir(parents=True)
    assert set(roixr.find_runs(root).freesurfer) == {str(legacy)}
    given = tmp_path / "subjects" / "sub-01"
    given.mkdir(parents=True)
    assert set(roixr.find_runs(root, freesurfer=given.parent).freesurfer) == {str(given)}


# --- trees roixr did not write ------------------------------------------------------------


@pytest.mark.parametrize("naming", ["new", "old"])
def test_s1_derivatives(tmp_path, naming):
    """pycortex's S1 as fMRIPrep derivatives: its surfaces (scanner RAS of its raw
    anatomical) as GIfTIs, its fullhead reference as a native run, its transform as the
    ITK registration; the row gives back S1's own transform."""
    s1 = roixr.datasets.pycortex_sample_subject(copy_to=tmp_path / "db")
    root = s1_derivatives(tmp_path / "fmriprep", s1, naming)
    runs = roixr.find_runs(root)
    assert len(runs) == 1 and runs.problem.isna().all()
    row = next(runs.itertuples())
    assert (row.subject, row.task, row.run, row.space) == ("S1", "retinotopy", "01", None)
    subject = roixr.Subject.from_surfaces(
        white=(row.white_L, row.white_R), pial=(row.pial_L, row.pial_R), anatomical=row.t1w,
        transforms={"fullhead": (row.reference, row.registration)},
    )  # fmt: skip
    assert subject.n_vertices() == roixr.Subject(s1).n_vertices() == 304380
    np.testing.assert_allclose(
        subject.transform("fullhead").coord, roixr.Subject(s1).transform("fullhead").coord,
        atol=1e-9,
    )  # fmt: skip


def test_fsaverage5_derivatives(tmp_path):
    """nilearn's fsaverage5 as an old-style single-session subject, a T1w-space run on a
    4 mm grid around it: masks of a patch of each hemisphere land on that hemisphere."""
    tree = fsaverage5_derivatives(tmp_path / "fmriprep")
    mesh, grid = tree.mesh, tree.grid
    runs = roixr.find_runs(tree.root)
    assert len(runs) == 1 and runs.problem.isna().all()
    row = next(runs.itertuples())
    assert (row.session, row.run, row.space, row.registration) == ("A", "1", "T1w", "identity")
    subject = roixr.Subject.from_surfaces(
        white=(row.white_L, row.white_R), pial=(row.pial_L, row.pial_R),
        transforms={"run": (row.reference, row.registration)},
    )  # fmt: skip
    assert subject.n_vertices("lh") == 10242
    lateral = {}  # the vertices within 15 mm of each hemisphere's most lateral one
    for hemi, part in (("L", "left"), ("R", "right")):
        xyz = mesh["white_matter"].parts[part].coordinates
        tip = xyz[np.argmax(np.abs(xyz[:, 0]))]
        lateral[hemi] = np.flatnonzero(np.linalg.norm(xyz - tip, axis=1) < 15)
    patch = {"patch": lateral}
    masks = roixr.roi_masks(subject, "run", sampler="thick", source=patch).compute()
    x = grid.centres()[:, 0].reshape(grid.shape, order="F")
    left, right = (
        masks.sel(roi="patch", hemisphere="L").values,
        masks.sel(roi="patch", hemisphere="R").values,
    )
    assert left.sum() > 10 and right.sum() > 10
    assert (x[left] < -40).all() and (x[right] > 40).all()


def hcp_tree(root: Path, subjects=("100307", "100408"), native: bool = True) -> Path:
    for sub in subjects:
        mni = f"{sub}/MNINonLinear"
        touch(root, f"{mni}/T1w_restore.nii.gz", f"{sub}/T1w/{sub}/label/lh.aparc.annot")
        if native:
            touch(
                root,
                *(
                    f"{mni}/Native/{sub}.{h}.{k}.native.surf.gii"
                    for h in "LR"
                    for k in ("white", "pial", "midthickness")
                ),
            )
        for run in HCP_RUNS:
            results = f"{mni}/Results/{run}"
            touch(
                root,
                f"{results}/{run}.nii.gz",
                f"{results}/{run}_hp2000_clean.nii.gz",
                f"{results}/{run}_Atlas.dtseries.nii",
            )
            if run != "tfMRI_WM_RL":
                touch(root, f"{results}/{run}_SBRef.nii.gz")
        touch(root, f"{mni}/Results/tfMRI_WM/tfMRI_WM_hp200_s2_level2.feat/cope1.feat/stats.txt")
    return root


def test_hcp(tmp_path):
    root = hcp_tree(tmp_path / "hcp")
    runs = roixr.find_runs(root)
    assert len(runs) == 8 and runs.problem.isna().all() and set(runs.layout) == {"hcp"}
    one = runs[runs.subject == "100307"]
    assert one.task.tolist() == ["REST1", "REST1", "REST1_7T", "WM"]
    assert one.direction.tolist() == ["LR", "RL", "PA", "RL"]
    assert set(one.space) == {"MNI152NLin6Asym"} and one.session.isna().all()
    assert set(one.registration) == {"identity"} and set(one.registration_kind) == {"identity"}
    order = ("rfMRI_REST1_LR", "rfMRI_REST1_RL", "rfMRI_REST1_7T_PA", "tfMRI_WM_RL")
    assert names(one.bold) == [f"{r}.nii.gz" for r in order]
    wm = one[one.task == "WM"].iloc[0]
    assert wm.reference == wm.bold  # no SBRef for that run
    assert Path(one.reference.iloc[0]).name == "rfMRI_REST1_LR_SBRef.nii.gz"
    sub = root / "100307"
    assert one.white_L.iloc[0] == str(sub / "MNINonLinear/Native/100307.L.white.native.surf.gii")
    assert one.pial_R.iloc[0] == str(sub / "MNINonLinear/Native/100307.R.pial.native.surf.gii")
    assert one.freesurfer.iloc[0] == str(sub / "T1w/100307")
    assert one.t1w.iloc[0] == str(sub / "MNINonLinear/T1w_restore.nii.gz")
    rest = roixr.find_runs(root, layout="hcp", subjects="100408", tasks="REST1")
    assert len(rest) == 2 and set(rest.subject) == {"100408"}


def test_hcp_single_subject_without_native_surfaces(tmp_path):
    root = hcp_tree(tmp_path / "hcp", subjects=("100307",), native=False)
    runs = roixr.find_runs(root)
    assert runs.problem.str.contains("no surfaces").all() and runs.white_L.isna().all()
    assert runs.problem.str.contains("MNINonLinear/Native").all()


# --- bad inputs ---------------------------------------------------------------------------


def test_no_such_folder(tmp_path):
    with pytest.raises(SubjectNotFoundError, match="is not an existing folder") as err:
        roixr.find_runs(tmp_path / "nope")
    assert err.value.option == "path" and isinstance(err.value, FileNotFoundError)
    touch(tmp_path, "file.txt")
    with pytest.raises(SubjectNotFoundError, match="is not an existing folder"):
        roixr.find_runs(tmp_path / "file.txt")
    hcp_tree(tmp_path / "hcp")
    with pytest.raises(SubjectNotFoundError, match="freesurfer .* is not an existing folder"):
        roixr.find_runs(tmp_path / "hcp", freesurfer=tmp_path / "fs")


def test_neither_layout(tmp_path):
    touch(tmp_path, "derivatives/README", "derivatives/fmriprep/sub-01/func/x.txt")
    neither = "found neither an fMRIPrep layout .* nor an HCP layout"
    with pytest.raises(SubjectNotFoundError, match=neither) as err:
        roixr.find_runs(tmp_path)
    assert "sub-* folders" in str(err.value) and err.value.fix
    with pytest.raises(SubjectNotFoundError, match=r"fmriprep' looks like one"):
        roixr.find_runs(tmp_path / "derivatives")
    with pytest.raises(SubjectNotFoundError, match="found no HCP layout"):
        roixr.find_runs(tmp_path / "derivatives" / "fmriprep", layout="hcp")


def test_raw_bids_has_no_series(tmp_path):
    touch(tmp_path, "sub-01/func/sub-01_task-rest_bold.nii.gz", "sub-01/anat/sub-01_T1w.nii.gz")
    with pytest.raises(SubjectNotFoundError, match="no preprocessed BOLD series") as err:
        roixr.find_runs(tmp_path)
    assert "raw BIDS" in err.value.fix


def test_bad_options(new_tree, tmp_path):
    with pytest.raises(
        OptionError, match="layout must be 'auto', 'fmriprep' or 'hcp', got 'bids'"
    ):
        roixr.find_runs(new_tree, layout="bids")  # type: ignore[arg-type]
    missing = r"subjects \['03'\] are not in .*found 2: 01, 02"
    with pytest.raises(SubjectNotFoundError, match=missing):
        roixr.find_runs(new_tree, subjects=["01", "sub-03"])
    with pytest.raises(OptionError, match="subjects must be a label or a list of labels"):
        roixr.find_runs(new_tree, subjects=[1])  # type: ignore[list-item]
    with pytest.raises(OptionError, match="space must be a space name"):
        roixr.find_runs(new_tree, space=3)  # type: ignore[arg-type]
    both = hcp_tree(tmp_path / "both", subjects=("100307",))
    touch(both, "sub-01/func/sub-01_task-rest_desc-preproc_bold.nii.gz")
    with pytest.raises(OptionError, match="holds both fMRIPrep subjects") as err:
        roixr.find_runs(both)
    assert err.value.option == "layout" and isinstance(err.value, RoixrError)
    assert len(roixr.find_runs(both, layout="hcp")) == 4


# --- timing (not a test): python tests/test_find_runs.py N_RUNS ----------------------------


_TIMING_FUNC = (
    "desc-preproc_bold.nii.gz", "desc-preproc_bold.json", "desc-coreg_boldref.nii.gz",
    "desc-hmc_boldref.nii.gz", "desc-brain_mask.nii.gz", "desc-confounds_timeseries.tsv",
    "from-boldref_to-T1w_mode-image_desc-coreg_xfm.txt",
    "from-orig_to-boldref_mode-image_desc-hmc_xfm.txt", "space-T1w_desc-preproc_bold.nii.gz",
    "space-T1w_boldref.nii.gz", "space-T1w_desc-brain_mask.nii.gz",
)  # fmt: skip
_TIMING_ANAT = (
    "desc-preproc_T1w.nii.gz", "desc-brain_mask.nii.gz", "dseg.nii.gz",
    f"from-{TEMPLATE}_to-T1w_mode-image_xfm.h5",
    *(f"hemi-{h}_{n}.surf.gii" for h in "LR" for n in ("white", "pial", "midthickness")),
)  # fmt: skip


def _timing_tree(root: Path, n_runs: int) -> None:
    """fMRIPrep-like empty files: subjects x 2 sessions x 2 tasks x 2 spaces (n_runs rows),
    with the boldrefs, masks, confounds, registrations and sidecars fMRIPrep writes."""
    for s in range(max(1, n_runs // 8)):
        sub = f"sub-{s:05d}"
        files = [f"{sub}/anat/{sub}_{k}" for k in _TIMING_ANAT]
        for ses in ("1", "2"):
            for task in ("rest", "nback"):
                base = f"{sub}/ses-{ses}/func/{sub}_ses-{ses}_task-{task}"
                files += [f"{base}_{k}" for k in _TIMING_FUNC]
        touch(root, *files)


if __name__ == "__main__":
    import tempfile

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        _timing_tree(Path(tmp), n)
        made = time.perf_counter() - start
        roixr.find_runs  # noqa: B018  (import pandas and roixr.cohort outside the timing)
        start = time.perf_counter()
        runs = roixr.find_runs(tmp)
        took = time.perf_counter() - start
        n_files = sum(1 for _ in Path(tmp).rglob("*.*"))
        print(
            f"{len(runs)} runs ({n_files} files, written in {made:.1f} s) indexed in {took:.2f} s"
        )


def test_sidecars_and_other_files_are_not_transforms(tmp_path):
    """fMRIPrep ≥ 23.2 writes a JSON sidecar beside each transform; neither it nor a renamed
    copy (``.bak``) is ever taken for the registration."""
    root = fx.fmriprep_like(tmp_path / "fmriprep", sessions=None, spaces=("boldref", TEMPLATE))
    xfms = sorted(root.rglob("*_xfm.txt")) + sorted(root.rglob("*_xfm.h5"))
    assert xfms
    for path in xfms:  # sidecars whose names sort first
        path.with_name(path.name.split(".")[0] + ".json").write_text("{}")
    runs = roixr.find_runs(root)
    assert runs.problem.isna().all()
    assert all(str(r).endswith((".txt", ".h5")) for r in runs.registration)
    native = next(p for p in xfms if p.suffix == ".txt" and p.parent.name == "func")
    native.rename(native.with_suffix(".bak"))
    runs = roixr.find_runs(root)
    same = runs[runs.bold.str.startswith(str(native).split("_from-")[0])]
    broken = same[same.space.isna()]  # the native run; its template run needs no such file
    assert len(broken) == 1 and broken.registration.isna().all()
    assert broken.problem.iloc[0].startswith("no registration to T1w for this run")
