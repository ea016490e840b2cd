"""extract_cohort on derivatives trees roixr did not write (tests/derivatives.py): pycortex's
S1 in both fMRIPrep naming generations, with native runs on its fullhead reference grid and
T1w-space runs on its raw anatomical grid downsampled, and nilearn's fsaverage5 with
annotations looked up per subject (``source="aparc"``). Each run, found by find_runs and
extracted on a real ``LocalCluster`` of two worker processes (the ``client`` fixture),
equals ``roi_timeseries(open_nifti(bold), roi_masks(...))`` done by hand: for S1 on S1 in
its own pycortex layout with its own fullhead transform (so find_runs' registration and the
extraction are checked together), and equals nilearn's ``NiftiLabelsMasker`` on the masks'
index volume for a sample of runs.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import xarray as xr
from derivatives import FSAVG_ROIS, TR, S1Run, fsaverage5_derivatives, s1_derivatives

import roixr

pytestmark = [
    pytest.mark.filterwarnings("ignore::roixr.errors.EmptyRoiWarning"),
    pytest.mark.filterwarnings("ignore::roixr.errors.MissingRoiWarning"),
]

#: S1's ROIs used (each in both hemispheres; OFA small, AC large).
S1_ROIS = ("V1", "V2", "FFA", "M1H", "RSC", "OFA", "AC")
#: Two tasks, each in the native (fullhead) and the T1w space, of different lengths; the
#: T1w-space series stored as int16 with a scale factor.
S1_RUNS = (
    S1Run("retinotopy", "01", None, n_volumes=20, seed=1),
    S1Run("retinotopy", "01", "T1w", n_volumes=20, seed=2, dtype=np.int16),
    S1Run("motor", None, None, n_volumes=14, seed=3),
    S1Run("motor", None, "T1w", n_volumes=14, seed=4, dtype=np.int16),
)
S1_NAMES = {
    "new": [
        "sub-S1_ses-01_task-motor",
        "sub-S1_ses-01_task-motor_space-T1w",
        "sub-S1_ses-01_task-retinotopy_run-01",
        "sub-S1_ses-01_task-retinotopy_run-01_space-T1w",
    ],
    "old": [
        "sub-S1_task-motor",
        "sub-S1_task-motor_space-T1w",
        "sub-S1_task-retinotopy_run-01",
        "sub-S1_task-retinotopy_run-01_space-T1w",
    ],
}
SAMPLER = "cortical"


@pytest.fixture(scope="module")
def s1_rois(s1_clean) -> dict[str, dict[str, np.ndarray]]:
    """S1's ROIs as a mapping source ``{name: {"L": idx, "R": idx}}`` (each hemisphere
    numbered from 0): a surfaces-only subject has no flatmap to place overlays with."""
    n_lh = roixr.Subject(s1_clean).n_vertices("lh")
    verts = roixr.roi_verts(s1_clean, list(S1_ROIS))
    out = {name: {"L": v[v < n_lh], "R": v[v >= n_lh] - n_lh} for name, v in verts.items()}
    assert all(len(s["L"]) and len(s["R"]) for s in out.values())
    return out


@pytest.fixture(scope="module", params=["new", "old"])
def s1_extracted(request, s1_clean, s1_rois, client, tmp_path_factory):
    """The S1 tree of one naming generation (new: one session, the files fMRIPrep also
    writes, ITK files about a centre of rotation; old: no session), found and extracted
    once."""
    naming = request.param
    tmp = tmp_path_factory.mktemp(f"s1-{naming}")
    new = naming == "new"
    root = s1_derivatives(
        tmp / "fmriprep", s1_clean, naming, S1_RUNS, session="01" if new else None,
        itk_centre=(12.0, -30.0, 8.0) if new else None, extras=new,
    )  # fmt: skip
    runs = roixr.find_runs(root)
    store = tmp / "ts.zarr"
    done = roixr.extract_cohort(runs, store, source=s1_rois, sampler=SAMPLER, client=client)
    return naming, runs, store, done


def masks_of(store: Path, ds: xr.Dataset, name: str) -> xr.DataArray:
    return roixr.open_roi_masks(store, group=str(ds.masks_group.sel(run=name).values))


def assert_run_equals(ds: xr.Dataset, store: Path, name: str, masks: xr.DataArray,
                      want: xr.DataArray) -> None:  # fmt: skip
    """The stored run ``name`` is ``want`` (roi_timeseries by hand on ``masks``)."""
    run = ds.sel(run=name)
    stored = masks_of(store, ds, name)
    assert stored.roi.values.tolist() == masks.roi.values.tolist()
    np.testing.assert_array_equal(stored.values, masks.values)  # the same voxels
    np.testing.assert_allclose(np.asarray(stored.attrs["affine"]),
                               np.asarray(masks.attrs["affine"]), atol=1e-6)  # fmt: skip
    n = int(run.n_volumes)
    assert n == want.sizes["time"]
    got = run.roi_timeseries.sel(roi=want.roi.values).isel(time=slice(0, n))
    assert got.dtype == np.float32
    assert np.isfinite(want.sel(roi=[r for r in want.roi.values if masks.sel(roi=r).any()])).all()
    np.testing.assert_allclose(got.transpose(*want.dims).values, want.values, rtol=2e-7)
    assert np.isnan(run.roi_timeseries.isel(time=slice(n, None)).values).all()  # past its end
    np.testing.assert_allclose(run.coverage.sel(roi=want.roi.values).values,
                               want.coverage.values, rtol=1e-6)  # fmt: skip
    assert float(run.repetition_time) == float(want.attrs["bold_tr"]) == TR


def signed_labels(masks: xr.DataArray) -> nib.Nifti1Image:
    """The masks' index volume as nilearn's labels: 2i - 1 left, 2i right (positive)."""
    index, _ = roixr.to_index_volume(masks)
    v = np.asarray(index.values)
    labels = np.where(v < 0, -2 * v - 1, 2 * v).astype(np.int32)
    return nib.Nifti1Image(labels, np.asarray(masks.attrs["affine"]))


def assert_equals_nilearn(run: xr.Dataset, masks: xr.DataArray) -> None:
    """nilearn's NiftiLabelsMasker (mean) on the masks' index volume gives the run's
    series, ROI by ROI and hemisphere by hemisphere."""
    from nilearn.maskers import NiftiLabelsMasker

    image = signed_labels(masks)
    masker = NiftiLabelsMasker(image, strategy="mean", resampling_target=None,
                               standardize=None)  # fmt: skip
    table = masker.fit_transform(str(run.bold.values))  # (time, labels, increasing)
    labels = sorted(set(np.unique(np.asarray(image.dataobj)).tolist()) - {0})
    n = int(run.n_volumes)
    assert table.shape == (n, len(labels)) and len(labels) >= 4
    names = [str(r) for r in masks.roi.values]
    for column, label in enumerate(labels):
        roi, hemi = names[(label - 1) // 2], "L" if label % 2 else "R"
        got = run.roi_timeseries.sel(roi=roi, hemisphere=hemi).values[:n]
        np.testing.assert_allclose(got, table[:, column], rtol=1e-5)


# --- pycortex's S1 ------------------------------------------------------------------------


def test_s1_runs_found(s1_extracted):
    naming, runs, _, done = s1_extracted
    assert len(runs) == 4 and runs.problem.isna().all()
    assert sorted(done) == S1_NAMES[naming]
    native = runs[runs.space.isna()]
    assert set(native.registration_kind) == {"affine"}
    expected = (
        "_from-boldref_to-T1w_mode-image_desc-coreg_xfm.txt"
        if naming == "new"
        else "_from-T1w_to-scanner_mode-image_xfm.txt"
    )
    assert all(Path(r).name.endswith(expected) for r in native.registration)
    ref = "_desc-coreg_boldref.nii.gz" if naming == "new" else "_boldref.nii.gz"
    assert all(Path(r).name.endswith(ref) and "space-" not in r for r in native.reference)
    t1w = runs[runs.space == "T1w"]
    assert set(t1w.registration) == {"identity"}
    assert all(Path(r).name.endswith("_space-T1w_boldref.nii.gz") for r in t1w.reference)


def test_s1_equals_roi_timeseries_by_hand(s1_extracted, s1_clean, s1_rois):
    """Each run equals roi_timeseries on masks of S1 in its own pycortex layout: native
    runs with S1's own fullhead transform (not the tree's ITK file), T1w runs on their
    boldref with the registration found (identity)."""
    naming, runs, store, _ = s1_extracted
    ds = roixr.open_timeseries(store)
    assert ds.roi.values.tolist() == list(S1_ROIS)
    assert sorted(ds.run.values.tolist()) == S1_NAMES[naming]
    subject = roixr.Subject(s1_clean)
    for row in runs.itertuples():
        name = next(n for n, b in zip(ds.run.values, ds.bold.values, strict=True)
                    if b == row.bold)  # fmt: skip
        assert ds.subject.sel(run=name) == "S1" and ds.task.sel(run=name) == row.task
        xfm = "fullhead" if row.space is None else (row.reference, row.registration)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            masks = roixr.roi_masks(subject, xfm, sampler=SAMPLER, source=s1_rois).compute()
        assert masks.sum(("x", "y", "z")).min() > 0  # every ROI in both hemispheres
        want = roixr.roi_timeseries(roixr.open_nifti(row.bold), masks).compute()
        assert_run_equals(ds, store, name, masks, want)


def test_s1_equals_nilearn_labels_masker(s1_extracted):
    """A native run (float32) and a T1w-space run (int16 with a scale factor)."""
    naming, _, store, _ = s1_extracted
    ds = roixr.open_timeseries(store)
    for name in S1_NAMES[naming][2:]:  # retinotopy: native, T1w
        assert_equals_nilearn(ds.sel(run=name), masks_of(store, ds, name))


# --- nilearn's fsaverage5 -----------------------------------------------------------------


@pytest.fixture(scope="module")
def fsavg_extracted(client, tmp_path_factory):
    tree = fsaverage5_derivatives(
        tmp_path_factory.mktemp("fsavg") / "fmriprep", n_volumes=18, seed=5, annotations=True
    )
    runs = roixr.find_runs(tree.root)
    store = tree.root.parent / "ts.zarr"
    done = roixr.extract_cohort(runs, store, source="aparc", sampler="thick", client=client)
    return tree, runs, store, done


def test_fsaverage5_equals_roi_timeseries_by_hand(fsavg_extracted):
    """The subject's own ``aparc`` (found in sourcedata/freesurfer) as by hand with the
    annotation pair: the same ROIs (background and the ROI without vertices left as
    the annotation gives them), masks and series."""
    tree, runs, store, done = fsavg_extracted
    assert done == ["sub-fsavg_ses-A_task-rest_run-1_space-T1w"]
    row = next(runs.itertuples())
    assert row.freesurfer == str(tree.root / "sourcedata" / "freesurfer" / "sub-fsavg")
    ds = roixr.open_timeseries(store)
    assert ds.roi.values.tolist() == list(FSAVG_ROIS)  # the left table's order
    subject = roixr.Subject.from_surfaces(
        white=(row.white_L, row.white_R), pial=(row.pial_L, row.pial_R), name="sub-fsavg",
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        masks = roixr.roi_masks(subject, (row.reference, "identity"), sampler="thick",
                                source=tree.annotations).compute()  # fmt: skip
    sizes = masks.sum(("x", "y", "z"))
    assert (sizes.sel(roi="corpuscallosum") == 0).all()
    assert (sizes.drop_sel(roi="corpuscallosum") > 0).all()
    want = roixr.roi_timeseries(roixr.open_nifti(row.bold), masks).compute()
    assert np.isnan(want.sel(roi="corpuscallosum")).all()
    assert_run_equals(ds, store, done[0], masks, want)


def test_fsaverage5_equals_nilearn_labels_masker(fsavg_extracted):
    _, _, store, done = fsavg_extracted
    ds = roixr.open_timeseries(store)
    assert_equals_nilearn(ds.sel(run=done[0]), masks_of(store, ds, done[0]))
