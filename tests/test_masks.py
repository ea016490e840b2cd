"""roixr.roi_masks on the synthetic subject: contract, geometry, laziness, chunk invariance."""

from __future__ import annotations

import json
import time
import tracemalloc

import dask
import numpy as np
import pytest
import xarray as xr
from helpers import raise_if_dask_computes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import chunkings

import roixr
from roixr.errors import OptionError, RoiNotFoundError, RoixrError, TransformError

pytestmark = pytest.mark.filterwarnings("ignore::roixr.errors.EmptyRoiWarning")

SAMPLERS = ["cortical", "thick", "thin", 2.5, "cortical-conservative", "cortical-liberal"]


@pytest.fixture(scope="module")
def subject(synth_dir):
    return roixr.Subject(synth_dir)


@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("xfm", ["fullhead", "oblique"])
def test_contract(subject, sampler, xfm):
    with raise_if_dask_computes():
        masks = roixr.roi_masks(subject, xfm, sampler=sampler)
    fractional = sampler in ("cortical-conservative", "cortical-liberal")
    assert masks.name == "roi_masks"
    assert masks.dims == ("roi", "hemisphere", "x", "y", "z")
    assert isinstance(masks.data, dask.array.Array)
    assert masks.dtype == (np.float32 if fractional else bool)
    assert masks.shape[2:] == subject.transform(xfm).shape
    assert list(masks.roi.values) == ["V1", "CUT", "A", "B", "EMPTY", "CURVY"]
    assert list(masks.hemisphere.values) == ["L", "R"]
    assert masks.data.chunks[:2] == ((6,), (2,))
    json.dumps(masks.attrs)  # JSON-serialisable
    assert masks.attrs["xfm"] == xfm and masks.attrs["sampler"] == sampler
    np.testing.assert_allclose(masks.attrs["affine"], subject.transform(xfm).affine)
    values = masks.compute()
    if fractional:
        assert float(values.min()) >= 0 and float(values.max()) <= 1 + 1e-6
    cov = values.coverage.values
    assert np.isnan(cov[list(values.roi.values).index("EMPTY")])
    assert np.all((cov[~np.isnan(cov)] > 0) & (cov[~np.isnan(cov)] <= 100))
    # hemispheres: left ROIs only left, right ROIs only right
    assert not values.sel(roi="CUT", hemisphere="R").any()
    assert not values.sel(roi=["A", "B", "CURVY"], hemisphere="L").any()
    assert (
        values.sel(roi="V1", hemisphere="L").any() and values.sel(roi="V1", hemisphere="R").any()
    )


def test_geometry_predicts_cortical_masks(subject):
    """Planar sheets: a voxel is cortical iff its centre is within the sheet's thickness of
    the fiducial plane z = 0 and above the sheet (nearest vertex), and in V1 iff that
    nearest vertex is in V1."""
    masks = roixr.roi_masks(subject, "fullhead", ["V1", "CUT"], allow_overlap=True).compute()
    xfm = subject.transform("fullhead")
    ijk = np.stack(np.meshgrid(*map(np.arange, xfm.shape), indexing="ij"), -1).reshape(-1, 3)
    mm = (np.linalg.inv(xfm.coord) @ np.c_[ijk, np.ones(len(ijk))].T)[:3].T
    fid = subject.merged("fiducial").points.astype(float)
    thick = np.linalg.norm(subject.merged("pial").points - subject.merged("white").points, axis=1)
    from scipy.spatial import cKDTree

    dist, nn = cKDTree(fid).query(mm)
    cortical = dist <= thick[nn]
    for roi in ("V1", "CUT"):
        verts = roixr.roi_verts(subject, roi)[roi]
        expect = (cortical & np.isin(nn, verts)).reshape(xfm.shape)
        got = masks.sel(roi=roi).any("hemisphere").values
        np.testing.assert_array_equal(got, expect)
    # the analytic sheet: cortical voxels lie within 2 mm (max thickness/2 + slack) of z = 0
    assert np.all(np.abs(mm[cortical, 2]) <= thick.max() + 1e-6)


@pytest.fixture(scope="module")
def unchunked(subject):
    cache = {}

    def get(xfm, sampler):
        if (xfm, sampler) not in cache:
            masks = roixr.roi_masks(subject, xfm, sampler=sampler, chunks=-1)
            cache[xfm, sampler] = masks.compute()
        return cache[xfm, sampler]

    return get


HC = [HealthCheck.function_scoped_fixture]


GRIDS = {"fullhead": (52, 22, 10), "oblique": (54, 27, 12)}


@settings(max_examples=10, deadline=None, suppress_health_check=HC)
@given(data=st.data())
@pytest.mark.parametrize(
    ("xfm", "sampler"),
    [("fullhead", "cortical"), ("fullhead", "cortical-liberal"), ("oblique", "thin"),
     ("oblique", "cortical-conservative")],
)  # fmt: skip
def test_chunk_invariance(subject, unchunked, xfm, sampler, data):
    chunks = data.draw(chunkings(GRIDS[xfm]), label="chunks")
    got = roixr.roi_masks(subject, xfm, sampler=sampler, chunks=chunks)
    xr.testing.assert_identical(got.compute(), unchunked(xfm, sampler))


def test_building_is_lazy_and_small_for_a_huge_grid(synth_dir, tmp_path):
    """A 256³ reference: no compute, no voxel-sized allocation, under a second."""
    import shutil

    import nibabel as nib

    copy = tmp_path / "big"
    shutil.copytree(synth_dir, copy)
    affine = np.diag([0.5, 0.5, 0.5, 1.0])
    affine[:3, 3] = [-64, -64, -64]
    ref = copy / "transforms" / "fullhead" / "reference.nii.gz"
    nib.save(nib.Nifti1Image(np.zeros((256, 256, 256), np.uint8), affine), ref)
    xfm_file = copy / "transforms" / "fullhead" / "matrices.xfm"
    xfm_file.write_text(json.dumps({"coord": np.linalg.inv(affine).tolist(),
                                    "magnet": np.eye(4).tolist()}))  # fmt: skip
    subj = roixr.Subject(copy)
    roixr.roi_masks(subj, "fullhead", sampler="thin")  # read the files (nibabel's GIFTI
    # parser alone allocates a 35 MB buffer); what follows is the build itself
    tracemalloc.start()
    start = time.perf_counter()
    with raise_if_dask_computes():
        for sampler in ("cortical", "cortical-liberal"):
            masks = roixr.roi_masks(subj, "fullhead", sampler=sampler)
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert masks.shape == (6, 2, 256, 256, 256)
    assert peak < 256**3 / 4, peak  # far below one voxel-sized array
    assert elapsed < 5  # generous here; the benchmark tracks the real figure


def test_options(subject):
    base = roixr.roi_masks(subject, "fullhead", ["A", "B"], allow_overlap=True).compute()
    culled = roixr.roi_masks(subject, "fullhead", ["A", "B"]).compute()
    both = base.sel(roi="A") & base.sel(roi="B")
    assert both.any()
    assert not (culled.sel(roi="A") & both).any()
    xr.testing.assert_equal(culled.sel(roi="A"), base.sel(roi="A") & ~both)

    cortex = roixr.roi_masks(subject, "fullhead", ["A", "Cortex", "B"]).compute()
    assert list(cortex.roi.values) == ["A", "Cortex", "B"]
    everything = roixr.roi_masks(subject, "fullhead", ["V1"], sampler="thick").compute()
    assert cortex.sel(roi="Cortex").any()
    assert not (cortex.sel(roi="Cortex") & base.sel(roi="A")).any()
    assert np.isnan(cortex.coverage.sel(roi="Cortex"))
    assert everything.dtype == bool

    frac = roixr.roi_masks(subject, "fullhead", ["V1"], "cortical-liberal").compute()
    thr = roixr.roi_masks(subject, "fullhead", ["V1"], "cortical-liberal", threshold=0.5)
    assert thr.dtype == bool
    xr.testing.assert_equal(thr.compute().drop_attrs(), (frac > 0.5).drop_attrs())


def test_missing_and_empty_rois(subject):
    with pytest.raises(RoiNotFoundError, match=r"\['nope'\] not found"):
        roixr.roi_masks(subject, "fullhead", ["V1", "nope"])
    with pytest.warns(roixr.errors.MissingRoiWarning, match="nope"):
        m = roixr.roi_masks(subject, "fullhead", ["nope", "B", "V1"], fail_for_missing_rois=False)
    assert list(m.roi.values) == ["B", "V1"]
    kept = roixr.roi_masks(subject, "fullhead", exclude_empty_rois=True)
    assert "EMPTY" not in kept.roi.values and "V1" in kept.roi.values
    with pytest.warns(roixr.errors.MissingRoiWarning, match="Cortex"):
        m = roixr.roi_masks(subject, "fullhead", ["V1", "Cortex"], "cortical-liberal")
    assert list(m.roi.values) == ["V1"]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"sampler": "fuzzy"}, OptionError, "unknown sampler 'fuzzy'"),
        ({"sampler": -1}, OptionError, "finite number ≥ 0"),
        ({"sampler": "cortical-liberal", "threshold": 1.5}, OptionError, r"threshold .*\[0, 1\]"),
        ({"sampler": "cortical-liberal", "threshold": -0.1}, OptionError, "got -0.1"),
        ({"chunks": {"q": 3}}, OptionError, "chunks keys"),
        ({"chunks": (0, 1)}, OptionError, "invalid chunks"),
    ],
)
def test_bad_options(subject, kwargs, error, match):
    with pytest.raises(error, match=match) as info:
        roixr.roi_masks(subject, "fullhead", **kwargs)
    assert isinstance(info.value, RoixrError)


@pytest.mark.parametrize(
    ("coord", "match"),
    [
        ([], "not a finite 4×4 matrix"),
        ([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 1]], "not invertible"),
    ],
)
def test_bad_transform(synth_dir, tmp_path, coord, match):
    import shutil

    copy = tmp_path / "s"
    shutil.copytree(synth_dir, copy)
    (copy / "transforms" / "fullhead" / "matrices.xfm").write_text(json.dumps({"coord": coord}))
    with pytest.raises(TransformError, match=match):
        roixr.roi_masks(copy, "fullhead")
