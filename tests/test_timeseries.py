"""ROI time series: open_nifti, roi_timeseries against nilearn and numpy, grid checks, cohorts,
and a series larger than a worker's memory on a real LocalCluster."""

from __future__ import annotations

import itertools
import json
import pickle
import shutil
import time
import warnings
from pathlib import Path

import dask
import dask.array as da
import nibabel as nib
import numpy as np
import pytest
import xarray as xr
from helpers import raise_if_dask_computes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import chunk_sizes

import roixr
from roixr.cohort import cohort_timeseries
from roixr.errors import (
    BoldError,
    FormError,
    GridMismatchError,
    OptionError,
    RoixrError,
    UnverifiedGridWarning,
)
from roixr.timeseries import open_nifti, roi_timeseries

pytestmark = [pytest.mark.filterwarnings("ignore::roixr.errors.EmptyRoiWarning")]

STATS = ["mean", "median", "sum", "std", "count", "minimum", "maximum", "variance"]
NILEARN = ["mean", "median", "sum", "minimum", "maximum", "variance", "standard_deviation"]
DIMS = ("x", "y", "z", "time")


# --- fixtures and builders ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def subject(synth_dir):
    return roixr.Subject(synth_dir)


@pytest.fixture(scope="module", params=["fullhead", "oblique"])
def grid(request, subject):
    """(xfm, shape, affine) of the synthetic subject's transforms."""
    t = subject.transform(request.param)
    return request.param, tuple(t.shape), np.asarray(t.affine, float)


@pytest.fixture(scope="module")
def bool_masks(subject):
    return roixr.roi_masks(subject, "fullhead").compute()


@pytest.fixture(scope="module")
def fraction_masks(subject):
    return roixr.roi_masks(subject, "fullhead", sampler="cortical-liberal").compute()


def series(shape, n_time, affine, *, seed=0, nan=0.0, tr=2.0) -> xr.DataArray:
    """A random float32 bold series (x, y, z, time) in memory, NaN in a fraction of voxels
    (whole voxels, and single time points)."""
    rng = np.random.default_rng(seed)
    data = (rng.standard_normal((*shape, n_time)) * 10 + 100).astype(np.float32)
    if nan:
        data[rng.random(shape) < nan] = np.nan
        data[rng.random(data.shape) < nan] = np.nan
    return xr.DataArray(
        data,
        dims=DIMS,
        coords={"time": np.arange(n_time) * tr},
        attrs={"affine": np.asarray(affine, float).tolist()},
        name="bold",
    )


def write_nifti(path, data: np.ndarray, affine, *, tr=2.0):
    img = nib.Nifti1Image(data, affine)
    img.header.set_xyzt_units("mm", "sec")
    if data.ndim == 4:
        img.header.set_zooms((*img.header.get_zooms()[:3], tr))
    nib.save(img, path)
    return path


def random_masks(shape, *, n_roi=3, fractional=True, seed=1) -> xr.DataArray:
    """Overlapping masks with random fractions (or bool), an empty ROI, and a grid affine."""
    rng = np.random.default_rng(seed)
    data = rng.random((n_roi, 2, *shape)) < 0.15
    data[-1] = False  # an empty ROI
    if fractional:
        data = np.where(data, rng.uniform(0.05, 1, data.shape), 0).astype(np.float32)
    return xr.DataArray(
        data,
        dims=("roi", "hemisphere", "x", "y", "z"),
        coords={"roi": [f"R{i}" for i in range(n_roi)], "hemisphere": ["L", "R"]},
        attrs={"affine": np.eye(4).tolist(), "subject": "random"},
        name="roi_masks",
    )


def reference(bold: np.ndarray, masks: np.ndarray, stat: str) -> np.ndarray:
    """numpy reference, one ROI and hemisphere at a time: NaN voxels left out, weights of the
    others renormalised (float64). The median of fractional masks is checked separately."""
    n_time = bold.shape[-1]
    flat = bold.reshape(-1, n_time).astype(np.float64)
    out = np.full((*masks.shape[:2], n_time), np.nan)
    for r, h in np.ndindex(*masks.shape[:2]):
        w = masks[r, h].astype(np.float64).ravel()
        sel = w > 0
        v, w = flat[sel], w[sel][:, None]
        fin = ~np.isnan(v)
        vz = np.where(fin, v, 0)
        sw = (w * fin).sum(0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = (w * vz).sum(0) / sw
            var = (w * fin * (vz - mean) ** 2).sum(0) / sw
        if stat == "mean":
            out[r, h] = mean
        elif stat == "sum":
            out[r, h] = (w * vz).sum(0)
        elif stat == "count":
            out[r, h] = fin.sum(0)
        elif stat == "std":
            out[r, h] = np.sqrt(var)
        elif stat == "variance":
            out[r, h] = var
        elif stat in ("minimum", "maximum") and v.shape[0]:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                out[r, h] = (np.nanmin if stat == "minimum" else np.nanmax)(v, axis=0)
        elif stat == "median" and v.shape[0]:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                out[r, h] = np.nanmedian(v, axis=0)
    return out


def assert_weighted_median(result: np.ndarray, bold: np.ndarray, masks: np.ndarray):
    """A weighted median minimises Σ w |v - m| over the non-NaN voxels."""
    flat = bold.reshape(-1, bold.shape[-1]).astype(np.float64)
    for r, h in np.ndindex(*masks.shape[:2]):
        w = masks[r, h].astype(np.float64).ravel()
        sel = w > 0
        for t in range(bold.shape[-1]):
            v, ww = flat[sel, t], w[sel]
            ww, v = ww[~np.isnan(v)], v[~np.isnan(v)]
            if not v.size:
                assert np.isnan(result[r, h, t])
                continue
            cost = np.abs(v[None, :] - v[:, None]) @ ww  # at each candidate value
            got = np.abs(v - result[r, h, t]) @ ww
            assert got <= cost.min() * (1 + 1e-5) + 1e-4, (r, h, t)


# --- open_nifti --------------------------------------------------------------------------------


@pytest.mark.parametrize("ext", [".nii", ".nii.gz"])
def test_open_nifti_contract(tmp_path, ext):
    affine = np.diag([2.0, 2.0, 3.0, 1.0])
    affine[:3, 3] = [-10, 5, 2]
    data = np.random.default_rng(0).integers(-500, 500, (6, 5, 4, 30)).astype(np.int16)
    img = nib.Nifti1Image(data, affine)
    img.header.set_slope_inter(0.5, 3.0)  # scaled: reads as float
    img.header.set_zooms((2, 2, 3, 750.0))
    img.header.set_xyzt_units("mm", "msec")
    path = tmp_path / f"bold{ext}"
    nib.save(img, path)
    with raise_if_dask_computes():
        bold = open_nifti(path, chunks=8)
    assert bold.dims == DIMS and bold.dtype == np.float32 and bold.name == "bold"
    assert bold.chunks == ((6,), (5,), (4,), (8, 8, 8, 6))
    np.testing.assert_allclose(bold.time.values, np.arange(30) * 0.75)
    assert bold.time.attrs["units"] == "s" and bold.attrs["tr"] == 0.75
    np.testing.assert_allclose(bold.attrs["affine"], affine)
    assert bold.attrs["source"] == str(path)
    json.dumps(bold.attrs)
    expected = np.asarray(nib.load(path).get_fdata(), np.float32)
    np.testing.assert_array_equal(bold.values, expected)
    np.testing.assert_array_equal(bold.x.values, np.arange(6))


def test_open_nifti_default_chunks_along_time_and_small_pickles(tmp_path):
    path = write_nifti(tmp_path / "b.nii", np.zeros((40, 40, 20, 300), np.float32), np.eye(4))
    with dask.config.set({"array.chunk-size": "4MiB"}):
        bold = open_nifti(path)
    assert bold.chunks[:3] == ((40,), (40,), (20,)) and bold.chunks[3][0] == 32
    graph = bold.data.__dask_graph__()
    assert len(pickle.dumps(dict(graph))) < 20_000  # the proxy, not the data
    again = open_nifti(path, chunks=32)
    assert again.data.name == bold.data.name  # a cheap, stable token
    time.sleep(0.01)
    path.touch()
    assert open_nifti(path, chunks=32).data.name != bold.data.name  # ...that follows the file


def test_open_nifti_chunks_and_options(tmp_path):
    path = write_nifti(tmp_path / "b.nii.gz", np.zeros((4, 5, 6, 10), np.float32), np.eye(4))
    assert open_nifti(path, chunks={"time": 3}).chunks[3] == (3, 3, 3, 1)
    assert open_nifti(path, chunks={"z": 2}).chunks[2:] == ((2, 2, 2), (10,))
    assert open_nifti(path, tr=0.5).time.values[2] == 1.0
    with pytest.raises(OptionError, match="chunks keys must be among"):
        open_nifti(path, chunks={"t": 3})
    with pytest.raises(OptionError, match="invalid chunks"):
        open_nifti(path, chunks=(1, 2))


def test_open_nifti_without_tr_warns(tmp_path):
    img = nib.Nifti1Image(np.zeros((2, 2, 2, 3), np.float32), np.eye(4))
    img.header.set_zooms((1, 1, 1, 0))
    nib.save(img, tmp_path / "b.nii")
    with pytest.warns(UserWarning, match="no repetition time"):
        bold = open_nifti(tmp_path / "b.nii")
    assert bold.attrs["tr"] is None and list(bold.time.values) == [0, 1, 2]


def test_open_nifti_3d_and_bad_ndim(tmp_path):
    path = write_nifti(tmp_path / "v.nii", np.ones((4, 5, 6), np.float32), np.eye(4))
    vol = open_nifti(path)
    assert vol.dims == ("x", "y", "z") and "time" not in vol.coords and "tr" not in vol.attrs
    write_nifti(tmp_path / "5d.nii", np.ones((2, 2, 2, 2, 2), np.float32), np.eye(4))
    with pytest.raises(BoldError, match="3D or 4D"):
        open_nifti(tmp_path / "5d.nii")


def decompressed() -> dict[str, int]:
    """Bytes this process decompressed per gzipped file (for ``client.run``)."""
    from roixr.timeseries import reader

    return dict(reader.DECOMPRESSED)


def gzipped_series(tmp_path, shape, n_time, affine) -> tuple[Path, np.ndarray]:
    data = series(shape, n_time, affine, seed=11).values
    path = write_nifti(tmp_path / "bold.nii.gz", data, affine)
    return path, data


@pytest.mark.parametrize("chunks", [{"time": 5}, {"time": 5, "x": 20, "z": 4}])
@pytest.mark.parametrize("scheduler", ["threads", "sync"])
def test_gzip_decompressed_once(tmp_path, bool_masks, chunks, scheduler):
    """Ten time chunks of a .nii.gz: each decompressed byte is decompressed once."""
    from roixr.timeseries import reader

    affine = np.asarray(bool_masks.attrs["affine"])
    path, data = gzipped_series(tmp_path, bool_masks.shape[2:], 50, affine)
    bold = open_nifti(path, chunks=chunks)
    assert len(bold.chunks[3]) == 10
    before = reader.DECOMPRESSED[str(path)]
    with dask.config.set(scheduler=scheduler):
        ts = roi_timeseries(bold, bool_masks, ["mean", "maximum"]).compute()
        assert reader.DECOMPRESSED[str(path)] - before == 352 + data.nbytes  # header + data
        np.testing.assert_array_equal(bold.values, data)  # whole chunks and slices of them
    assert reader.DECOMPRESSED[str(path)] - before == 2 * (352 + data.nbytes)
    np.testing.assert_allclose(ts.sel(stat="mean").values,
                               reference(data, bool_masks.values, "mean"), rtol=1e-5)  # fmt: skip


def test_gzip_decompressed_once_on_a_cluster(tmp_path, bool_masks, client):
    """On two worker processes the chunks of a file follow their stream's worker."""
    affine = np.asarray(bool_masks.attrs["affine"])
    path, data = gzipped_series(tmp_path, bool_masks.shape[2:], 50, affine)
    ts = roi_timeseries(open_nifti(path, chunks=5), bool_masks)
    result = client.compute(ts).result()
    counts = [c.get(str(path), 0) for c in client.run(decompressed).values()]
    assert sum(counts) == 352 + data.nbytes, counts
    np.testing.assert_allclose(result.values, reference(data, bool_masks.values, "mean"),
                               rtol=1e-5)  # fmt: skip


@pytest.mark.parametrize("dtype", ["<f4", ">f4", "<i2", "<f8"])
@pytest.mark.parametrize("ext", [".nii", ".nii.gz"])
def test_reader_equals_nibabel(tmp_path, dtype, ext):
    """Byte orders, integer scaling and float64, plain and gzipped, as nibabel reads them."""
    data = (np.random.default_rng(2).standard_normal((5, 4, 3, 9)) * 300).astype(dtype)
    img = nib.Nifti1Image(data, np.eye(4))
    if dtype == "<i2":
        img.header.set_slope_inter(0.25, -7.0)
    nib.save(img, tmp_path / f"b{ext}")
    expected = np.asarray(nib.load(tmp_path / f"b{ext}").get_fdata(), np.float32)
    for chunks in (2, {"time": 4, "y": 3}):
        got = open_nifti(tmp_path / f"b{ext}", chunks=chunks).values
        np.testing.assert_allclose(got, expected, rtol=1e-6)
    in_memory = nib.Nifti1Image(expected, np.eye(4))
    np.testing.assert_array_equal(open_nifti(in_memory).values, expected)
    assert "source" not in open_nifti(in_memory).attrs


# --- parity with nilearn -----------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::FutureWarning")  # nilearn's deprecations
@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # nilearn's empty labels
@pytest.mark.parametrize("ext", [".nii", ".nii.gz"])
def test_strategies_equal_nilearn(tmp_path, subject, grid, ext):
    """Every NiftiLabelsMasker strategy on labels made from roixr's index volume, against
    all of them from one roixr call (a list of stats, one pass over the series)."""
    from nilearn.maskers import NiftiLabelsMasker  # in the test extra: a real run, no skip

    xfm, shape, affine = grid
    masks = roixr.roi_masks(subject, xfm)
    volume, _ = roixr.to_index_volume(masks)
    signed = volume.values.astype(np.int32)
    labels = 2 * np.abs(signed) - (signed < 0)  # ROI i: left 2i - 1, right 2i
    nib.save(nib.Nifti1Image(labels.astype(np.int32), affine), tmp_path / "labels.nii.gz")
    data = series(shape, 45, affine, seed=3).values
    path = write_nifti(tmp_path / f"bold{ext}", data, affine)

    ts = roi_timeseries(open_nifti(path, chunks=10), volume, NILEARN).compute()
    assert ts.dims == ("stat", "roi", "hemisphere", "time") and list(ts.stat) == NILEARN
    for strategy in NILEARN:
        masker = NiftiLabelsMasker(labels_img=tmp_path / "labels.nii.gz", strategy=strategy)
        signals = masker.fit_transform(path)
        ids = {col: label for col, label in masker.region_ids_.items() if col != "background"}
        assert len(ids) == signals.shape[1] == int((masks.sum(("x", "y", "z")) > 0).sum())
        for col, label in ids.items():
            roi, hemi = (label + 1) // 2 - 1, "LR"[label % 2 == 0]
            got = ts.sel(stat=strategy).isel(roi=roi).sel(hemisphere=hemi).values
            np.testing.assert_allclose(got, signals[:, col], rtol=1e-5, atol=1e-5,
                                       err_msg=strategy)  # fmt: skip
        if strategy == "mean":
            single = roi_timeseries(path, volume, strategy).values  # a path, one stat
            np.testing.assert_array_equal(single, ts.sel(stat=strategy).values)


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_atlas_and_in_memory_images_equal_nilearn(tmp_path, subject):
    """A positive-only label image (a volumetric atlas) given as a nibabel image or a path,
    the bold as a nibabel image in memory: ROIs over both hemispheres, as nilearn's."""
    from nilearn.maskers import NiftiLabelsMasker

    t = subject.transform("fullhead")
    signed = roixr.to_index_volume(roixr.roi_masks(subject, "fullhead"))[0].values
    atlas = nib.Nifti1Image((np.abs(signed) * 10).astype(np.int16), t.affine)  # 10, 20, ...
    bold_img = nib.Nifti1Image(series(t.shape, 12, t.affine, seed=7).values, t.affine)
    masker = NiftiLabelsMasker(labels_img=atlas, strategy="mean")
    signals = masker.fit_transform(bold_img)
    ids = {col: label for col, label in masker.region_ids_.items() if col != "background"}
    nib.save(atlas, tmp_path / "atlas.nii.gz")
    for masks in (atlas, tmp_path / "atlas.nii.gz"):
        with raise_if_dask_computes():
            ts = roi_timeseries(bold_img, masks)
        assert ts.dims == ("roi", "time") and ts.attrs["hemisphere"] == "both"
        assert list(ts.roi.values) == [str(label) for label in ids.values()]
        np.testing.assert_allclose(ts.values.T, signals, rtol=1e-5, atol=1e-5)
    split = roi_timeseries(bold_img, atlas, hemisphere="split")
    assert np.isnan(split.sel(hemisphere="L")).all()  # positive labels are right
    named = roi_timeseries(bold_img, atlas, labels={"a": 10, "b": 20})
    with pytest.raises(FormError, match="no label names"):
        named.compute()


def test_hemisphere_both_is_the_union(bool_masks, fraction_masks):
    bold = series(bool_masks.shape[2:], 11, bool_masks.attrs["affine"], nan=0.02)
    for masks in (bool_masks, fraction_masks):
        union = masks.sum("hemisphere") if masks.dtype != bool else masks.any("hemisphere")
        both = union.expand_dims(hemisphere=1, axis=1).values
        for stat in ("mean", "std", "maximum", "count"):
            got = roi_timeseries(bold, masks, stat, hemisphere="both")
            assert got.dims == ("roi", "time") and "hemisphere" not in got.coords
            expected = reference(bold.values, both, stat)[:, 0]
            np.testing.assert_allclose(got.values, expected, rtol=2e-6, atol=1e-4)
    volume, _ = roixr.to_index_volume(bool_masks)
    from_volume = roi_timeseries(bold, volume, hemisphere="both")
    from_masks = roi_timeseries(bold, bool_masks, hemisphere="both")
    xr.testing.assert_allclose(from_volume.drop_vars("coverage"), from_masks.drop_vars("coverage"))
    with pytest.raises(OptionError, match="hemisphere must be"):
        roi_timeseries(bold, bool_masks, hemisphere="left")


def test_stat_names_and_lists(bool_masks):
    bold = series(bool_masks.shape[2:], 8, bool_masks.attrs["affine"])
    for short, long in [("std", "standard_deviation"), ("var", "variance"),
                        ("min", "minimum"), ("max", "maximum")]:  # fmt: skip
        np.testing.assert_array_equal(roi_timeseries(bold, bool_masks, short).values,
                                      roi_timeseries(bold, bool_masks, long).values)  # fmt: skip
    both = roi_timeseries(bold, bool_masks, ["mean", "count"])
    assert both.dtype == np.float32 and both.attrs["stat"] == ["mean", "count"]
    np.testing.assert_array_equal(both.sel(stat="count").values,
                                  roi_timeseries(bold, bool_masks, "count").values)  # fmt: skip
    with pytest.raises(OptionError, match="twice"):
        roi_timeseries(bold, bool_masks, ["std", "standard_deviation"])
    with pytest.raises(OptionError, match="stat must be one of"):
        roi_timeseries(bold, bool_masks, [])


# --- every statistic against numpy -------------------------------------------------------------


@pytest.mark.parametrize("stat", STATS)
@pytest.mark.parametrize("kind", ["bool", "fractions"])
def test_stats_match_numpy_with_nan(stat, kind):
    masks = random_masks((9, 7, 5), fractional=kind == "fractions")
    bold = series((9, 7, 5), 23, np.eye(4), nan=0.1)
    got = roi_timeseries(bold.chunk(time=6), masks, stat).values
    if stat == "median" and kind == "fractions":
        assert_weighted_median(got, bold.values, masks.values)
        return
    expected = reference(bold.values, masks.values, stat)
    np.testing.assert_allclose(got, expected, rtol=2e-6, atol=1e-4)
    assert got.dtype == (np.int32 if stat == "count" else np.float32)


@pytest.mark.parametrize("stat", STATS)
def test_stats_on_subject_masks(stat, bool_masks, fraction_masks):
    bold = series(bool_masks.shape[2:], 17, bool_masks.attrs["affine"], nan=0.02)
    for masks in (bool_masks, fraction_masks):
        got = roi_timeseries(bold, masks, stat).values
        if stat == "median" and masks.dtype != bool:
            assert_weighted_median(got, bold.values, masks.values)
        else:
            np.testing.assert_allclose(got, reference(bold.values, masks.values, stat),
                                       rtol=2e-6, atol=1e-4)  # fmt: skip


def test_fractions_weight_voxels(fraction_masks):
    """The weighted mean Σ w·v / Σ w, not the plain mean of the voxels touched."""
    bold = series(fraction_masks.shape[2:], 12, fraction_masks.attrs["affine"])
    got = roi_timeseries(bold, fraction_masks).values
    w = fraction_masks.values.reshape(*fraction_masks.shape[:2], -1).astype(np.float64)
    v = bold.values.reshape(-1, 12).astype(np.float64)
    with np.errstate(invalid="ignore"):
        expected = np.einsum("rhv,vt->rht", w, v) / w.sum(-1)[..., None]
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-5)
    plain = roi_timeseries(bold, fraction_masks > 0).values
    assert not np.allclose(got[0, 0], plain[0, 0])


def test_nan_voxels_and_empty_rois():
    masks = random_masks((6, 6, 6), fractional=False)
    bold = series((6, 6, 6), 5, np.eye(4))
    voxels = np.argwhere(masks.values[0, 0])
    bold.values[tuple(voxels[0])] = np.nan  # one voxel NaN throughout
    bold.values[..., 2] = np.nan  # a whole volume NaN
    count = roi_timeseries(bold, masks, "count")
    assert int(count[0, 0, 0]) == len(voxels) - 1 and int(count[0, 0, 2]) == 0
    mean = roi_timeseries(bold, masks).values
    assert np.isnan(mean[:, :, 2]).all() and np.isfinite(mean[:2, :, [0, 1, 3, 4]]).all()
    assert np.isnan(mean[-1]).all()  # the empty ROI
    assert (roi_timeseries(bold, masks, "sum").values[-1] == 0).all()
    assert (count.values[-1] == 0).all()


# --- chunks, dim order, laziness, forms --------------------------------------------------------


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(time_chunks=chunk_sizes(31), spatial=st.tuples(chunk_sizes(9), chunk_sizes(8)),
       stat=st.sampled_from(STATS))  # fmt: skip
def test_chunk_invariance(time_chunks, spatial, stat):
    masks = random_masks((9, 8, 4), fractional=True, seed=2)
    bold = series((9, 8, 4), 31, np.eye(4), nan=0.05, seed=4)
    whole = roi_timeseries(bold, masks, stat).values
    chunked = bold.chunk({"time": time_chunks, "x": spatial[0], "y": spatial[1]})
    got = roi_timeseries(chunked, masks.chunk({"x": spatial[0]}), stat)
    if len(spatial[0]) == len(spatial[1]) == 1:
        assert got.chunks[2] == time_chunks
    np.testing.assert_allclose(got.values, whole, rtol=1e-6, atol=1e-6)


def _weights(masks: xr.DataArray):
    from roixr.timeseries import reduction

    entries = reduction.block_entries(masks.values, (0,) * 5, masks.shape[2:])
    return reduction.assemble([entries], masks.sizes["roi"])


def _in_a_new_thread(fn):
    """``fn()`` in a thread of its own: scratch buffers made afresh."""
    import threading

    out = []
    thread = threading.Thread(target=lambda: out.append(fn()))
    thread.start()
    thread.join()
    return out[0]


def test_scratch_buffers_leave_no_trace():
    """The reduction's per-thread scratch buffers, reused across chunks of other lengths,
    with and without NaN: each chunk gives exactly what a fresh thread gives, and a result
    returned earlier is never changed by a later chunk."""
    from roixr.timeseries import reduction

    masks = random_masks((9, 8, 4), fractional=True, seed=2)
    weights = _weights(masks)
    bold = series((9, 8, 4), 30, np.eye(4), nan=0.05, seed=4).values
    clean = series((9, 8, 4), 30, np.eye(4), seed=6).values
    blocks = [np.asfortranarray(bold[..., :11]), np.asfortranarray(clean[..., 11:14]),
              clean[..., 3:20], np.asfortranarray(bold[..., 5:30]), bold[..., :1]]  # fmt: skip
    stats = ("mean", "variance", "count", "maximum", "median", "sum")
    results = [reduction.roi_block(b, weights, stats=stats) for b in blocks]
    copies = [r.copy() for r in results]
    for block, got, copy in zip(blocks, results, copies, strict=True):
        fresh = _in_a_new_thread(lambda b=block: reduction.roi_block(b, weights, stats=stats))
        np.testing.assert_array_equal(got, fresh)
        np.testing.assert_array_equal(got, copy)  # untouched by the chunks after it
        np.testing.assert_allclose(got[0], reference(block, masks.values, "mean"),
                                   rtol=2e-6, atol=1e-5)  # fmt: skip


def test_scratch_buffers_bounded_and_grid_checked(monkeypatch):
    """A chunk too large for a thread's scratch bound gets arrays of its own (same result);
    weights from a larger grid than the chunk's are refused, never clipped."""
    from roixr.timeseries import reduction

    masks = random_masks((9, 8, 4), fractional=False, seed=3)
    weights = _weights(masks)
    block = np.asfortranarray(series((9, 8, 4), 20, np.eye(4), nan=0.05, seed=8).values)
    expected = _in_a_new_thread(lambda: reduction.roi_block(block, weights, stats=("mean",)))
    monkeypatch.setattr(reduction, "_WORKSPACE_MAX", 64)
    got = _in_a_new_thread(lambda: reduction.roi_block(block, weights, stats=("mean",)))
    np.testing.assert_array_equal(got, expected)
    big = _weights(random_masks((9, 8, 6), fractional=False, seed=3))
    with pytest.raises(GridMismatchError, match="not on the masks' grid"):
        reduction.roi_block(block, big, stats=("mean",))


@pytest.mark.parametrize("order", list(itertools.permutations(DIMS))[::5])
def test_any_dim_order(order, bool_masks):
    bold = series(bool_masks.shape[2:], 9, bool_masks.attrs["affine"], seed=5)
    expected = roi_timeseries(bold, bool_masks).values
    moved = bold.transpose(*order)
    for data in (moved, moved.chunk({"time": 4})):
        np.testing.assert_array_equal(roi_timeseries(data, bool_masks).values, expected)


def test_other_time_dim_name(bool_masks):
    bold = series(bool_masks.shape[2:], 6, bool_masks.attrs["affine"])
    ts = roi_timeseries(bold.rename(time="volume"), bool_masks, time_dim="volume")
    assert ts.dims == ("roi", "hemisphere", "volume")
    np.testing.assert_array_equal(ts.values, roi_timeseries(bold, bool_masks).values)


def test_lazy_build_computes_nothing(tmp_path, subject):
    t = subject.transform("fullhead")
    path = write_nifti(tmp_path / "b.nii.gz", series(t.shape, 20, t.affine).values, t.affine)
    with raise_if_dask_computes():
        masks = roixr.roi_masks(subject, "fullhead")  # lazy masks too
        ts = roi_timeseries(open_nifti(path, chunks=5), masks, "std")
        assert isinstance(ts.data, da.Array) and isinstance(ts.coverage.data, da.Array)
    assert ts.chunks == ((6,), (2,), (5, 5, 5, 5))
    expected = roi_timeseries(series(t.shape, 20, t.affine), masks.compute(), "std")
    np.testing.assert_allclose(ts.values, expected.values, rtol=1e-6)


def test_output_contract(tmp_path, subject, bool_masks):
    t = subject.transform("fullhead")
    path = write_nifti(tmp_path / "b.nii", series(t.shape, 8, t.affine).values, t.affine, tr=1.5)
    ts = roi_timeseries(open_nifti(path), bool_masks)
    assert ts.name == "roi_timeseries" and ts.dims == ("roi", "hemisphere", "time")
    assert list(ts.roi.values) == list(bool_masks.roi.values)
    assert list(ts.hemisphere.values) == ["L", "R"]
    np.testing.assert_allclose(ts.time.values, np.arange(8) * 1.5)
    np.testing.assert_array_equal(ts.coverage.values, bool_masks.coverage.values)
    assert ts.attrs["stat"] == "mean" and ts.attrs["subject"] == bool_masks.attrs["subject"]
    assert ts.attrs["xfm"] == "fullhead" and ts.attrs["sampler"] == "cortical"
    assert ts.attrs["bold_tr"] == 1.5 and ts.attrs["bold_source"] == str(path)
    assert ts.attrs["weighted"] is False
    json.dumps(ts.attrs)
    assert roi_timeseries(open_nifti(path), bool_masks, "count").dtype == np.int32


def test_index_volume_and_zarr_masks_agree(tmp_path, bool_masks):
    bold = series(bool_masks.shape[2:], 7, bool_masks.attrs["affine"])
    expected = roi_timeseries(bold, bool_masks)
    volume, _ = roixr.to_index_volume(bool_masks)
    xr.testing.assert_allclose(roi_timeseries(bold, volume).drop_vars("coverage"),
                               expected.drop_vars("coverage"))  # fmt: skip
    roixr.to_zarr(bool_masks, tmp_path / "m.zarr")
    reopened = roixr.open_roi_masks(tmp_path / "m.zarr")
    xr.testing.assert_allclose(roi_timeseries(bold, reopened), expected)
    xr.testing.assert_allclose(roi_timeseries(bold, tmp_path / "m.zarr"), expected)
    xr.testing.assert_allclose(roi_timeseries(bold, reopened.to_dataset()), expected)


def test_3d_image(tmp_path, bool_masks):
    affine = np.asarray(bool_masks.attrs["affine"])
    vol = series(bool_masks.shape[2:], 1, affine).isel(time=0)
    path = write_nifti(tmp_path / "beta.nii.gz", vol.values, affine)
    ts = roi_timeseries(open_nifti(path), bool_masks)
    assert ts.dims == ("roi", "hemisphere")
    expected = reference(vol.values[..., None], bool_masks.values, "mean")[..., 0]
    np.testing.assert_allclose(ts.values, expected, rtol=1e-6)


def test_accessor_method(bool_masks):
    if not hasattr(roixr.accessor.RoixrAccessor, "timeseries"):
        pytest.skip("the .roi.timeseries accessor method is not installed yet")
    bold = series(bool_masks.shape[2:], 5, bool_masks.attrs["affine"])
    xr.testing.assert_identical(bool_masks.roixr.timeseries(bold, stat="sum"),
                                roi_timeseries(bold, bool_masks, "sum"))  # fmt: skip


# --- errors ------------------------------------------------------------------------------------


def test_grid_shape_mismatch(bool_masks):
    bold = series((10, 10, 10), 3, bool_masks.attrs["affine"])
    with pytest.raises(GridMismatchError, match=r"spatial shape \(10, 10, 10\) but .*"
                       r"\(52, 22, 10\)"):  # fmt: skip
        roi_timeseries(bold, bool_masks)
    assert issubclass(GridMismatchError, RoixrError) and issubclass(GridMismatchError, ValueError)


def rotation(deg: float) -> np.ndarray:
    a = np.deg2rad(deg)
    out = np.eye(4)
    out[:2, :2] = [[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]
    return out


@pytest.mark.parametrize(
    ("change", "ok"),
    [
        (lambda a: rotation(0.5) @ a, False),
        (lambda a: a + np.pad(np.array([[0, 0, 0, 0.5]] * 3), ((0, 1), (0, 0))), False),
        (lambda a: a @ np.diag([1, 1, 1.01, 1]), False),  # voxel size
        (lambda a: (a.astype(np.float32) * (1 + 1e-7)).astype(float), True),  # float noise
        (lambda a: a + 1e-5, True),
    ],
)
def test_grid_affine_mismatch(change, ok, bool_masks, tmp_path):
    affine = change(np.asarray(bool_masks.attrs["affine"]))
    bold = series(bool_masks.shape[2:], 3, affine)
    if ok:
        roi_timeseries(bold, bool_masks)
        path = write_nifti(tmp_path / "b.nii.gz", bold.values, affine)  # float32 header
        roi_timeseries(open_nifti(path), bool_masks)
    else:
        with pytest.raises(GridMismatchError, match="voxel centres differ by up to"):
            roi_timeseries(bold, bool_masks)


def test_no_affine_checks_shape_and_warns(bool_masks):
    bold = series(bool_masks.shape[2:], 3, np.eye(4))
    del bold.attrs["affine"]
    with pytest.warns(UnverifiedGridWarning, match="only the grid's shape was checked"):
        roi_timeseries(bold, bool_masks)
    with pytest.raises(GridMismatchError):
        roi_timeseries(bold.isel(x=slice(1, None)), bool_masks)


def test_bad_inputs(bool_masks):
    bold = series(bool_masks.shape[2:], 3, bool_masks.attrs["affine"])
    with pytest.raises(OptionError, match="stat must be one of"):
        roi_timeseries(bold, bool_masks, "mode")
    with pytest.raises(BoldError, match="must have dims x, y, z"):
        roi_timeseries(bold.expand_dims(run=2), bool_masks)
    with pytest.raises(BoldError, match="must have dims x, y, z"):
        roi_timeseries(bold.rename(x="i"), bool_masks)
    with pytest.raises(BoldError, match="xarray DataArray"):
        roi_timeseries(bold.values, bool_masks)
    with pytest.raises(FormError, match="roi_timeseries takes masks"):
        roi_timeseries(bold, bool_masks.isel(hemisphere=0))
    with pytest.raises(FormError, match="no 'roi_masks' or 'roi_index'"):
        roi_timeseries(bold, xr.Dataset({"other": bool_masks}))


# --- cohorts -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cohort(subject, tmp_path_factory):
    root = tmp_path_factory.mktemp("cohort-ts")
    subjects = {"sub-01": (subject, "fullhead"), "sub-02": (subject, "oblique")}
    bolds = {}
    for i, (name, (_, xfm)) in enumerate(subjects.items()):
        t = subject.transform(xfm)
        data = series(t.shape, 12, t.affine, seed=i).values
        bolds[name] = write_nifti(root / f"{name}.nii.gz", data, t.affine)
    return subjects, bolds


def test_cohort_tree_and_stack_on_a_cluster(cohort, client):
    subjects, bolds = cohort
    rois = ["V1", "A", "CUT"]
    tree_masks = roixr.cohort_masks(subjects, rois=rois)
    tree = cohort_timeseries(tree_masks, bolds, client=client)
    stacked = cohort_timeseries(tree_masks, bolds, client=client, stack=True, stat="sum")
    assert set(tree.children) == set(subjects)
    for name, (subj, xfm) in subjects.items():
        expected = roi_timeseries(open_nifti(bolds[name]), roixr.roi_masks(subj, xfm, rois))
        got = tree[name]["roi_timeseries"]
        assert not isinstance(got.data, da.Array)
        xr.testing.assert_allclose(got, expected.compute())
        sums = roi_timeseries(open_nifti(bolds[name]), roixr.roi_masks(subj, xfm, rois), "sum")
        np.testing.assert_allclose(stacked.sel(subject=name).values, sums.values, rtol=1e-6)
    assert stacked.dims == ("subject", "roi", "hemisphere", "time")
    assert list(stacked.subject.values) == list(subjects)
    assert stacked.coverage.dims == ("subject", "roi")
    assert stacked.attrs["stat"] == "sum" and "xfm" not in stacked.attrs  # differ: dropped


def test_cohort_from_store(cohort, client, tmp_path):
    subjects, bolds = cohort
    store = tmp_path / "cohort.zarr"
    roixr.write_cohort(subjects, store, client=client, rois=["V1"])
    tree = cohort_timeseries(store, bolds, client=client)
    for name, (subj, xfm) in subjects.items():
        expected = roi_timeseries(open_nifti(bolds[name]), roixr.roi_masks(subj, xfm, ["V1"]))
        xr.testing.assert_allclose(tree[name]["roi_timeseries"], expected.compute())


def test_cohort_errors(cohort, subject, tmp_path):
    subjects, bolds = cohort
    tree_masks = roixr.cohort_masks(subjects, rois=["V1"])
    with pytest.raises(OptionError, match=r"no masks for the subject\(s\) \['sub-03'\]"):
        cohort_timeseries(tree_masks, {**bolds, "sub-03": bolds["sub-01"]})
    with pytest.raises(GridMismatchError, match="subject 'sub-02'"):
        cohort_timeseries(tree_masks, {"sub-01": bolds["sub-01"], "sub-02": bolds["sub-01"]})
    t = subject.transform("oblique")
    short = write_nifti(tmp_path / "short.nii", series(t.shape, 5, t.affine).values, t.affine)
    with pytest.raises(OptionError, match="cannot stack along 'subject'"):
        cohort_timeseries(tree_masks, {**bolds, "sub-02": short}, stack=True, compute=False)
    masks = {"sub-01": tree_masks["sub-01"].to_dataset()}
    lazy = cohort_timeseries(masks, {"sub-01": bolds["sub-01"]}, compute=False)
    assert isinstance(lazy["sub-01"]["roi_timeseries"].data, da.Array)
    with pytest.raises(OptionError, match="cohort DataTree"):
        cohort_timeseries([1], bolds)


# --- a series larger than a worker's memory ----------------------------------------------------


def write_big_nifti(path, shape, n_time, affine):
    """A float32 NIfTI-2 file (NIfTI-1 caps dims at 32767) written 1000 volumes at a time
    through a memmap, so the test never holds it: value = base[voxel, t % 1000] + t // 1000."""
    header = nib.Nifti2Header()
    header.set_data_shape((*shape, n_time))
    header.set_data_dtype(np.float32)
    header.set_sform(affine, code=1)
    header.set_qform(affine, code=1)
    header.set_xyzt_units("mm", "sec")
    offset = 544
    header["vox_offset"] = offset
    with open(path, "wb") as f:
        f.write(header.binaryblock)
        f.write(b"\0" * (offset - len(header.binaryblock)))
    out = np.memmap(path, np.float32, "r+", offset=offset, shape=(*shape, n_time), order="F")
    base = np.random.default_rng(0).standard_normal((*shape, 1000)).astype(np.float32)
    base = np.asfortranarray(base)  # as on disk: each slab is one contiguous copy
    for start in range(0, n_time, 1000):
        stop = min(start + 1000, n_time)
        out[..., start:stop] = base[..., : stop - start] + np.float32(start // 1000)
    out.flush()
    del out
    return base


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited from
    the parent of a forked process)."""
    with open("/proc/self/status") as f:
        line = next(line for line in f if line.startswith("VmHWM"))
    return int(line.split()[1]) / 1024


def test_series_larger_than_worker_memory(tmp_path, bool_masks):
    """A 2.5 GB series on one worker process limited to 1 GB."""
    from distributed import Client, LocalCluster

    shape = bool_masks.shape[2:]
    n_time = 56_000  # 52 * 22 * 10 voxels * 4 bytes * 56000 = 2.56 GB
    if shutil.disk_usage(tmp_path).free < 6e9:
        pytest.skip("needs 6 GB of free disk space")
    affine = np.asarray(bool_masks.attrs["affine"])
    path = tmp_path / "big.nii"
    try:
        base = write_big_nifti(path, shape, n_time, affine)
        assert path.stat().st_size > 2.5e9
        with LocalCluster(n_workers=1, threads_per_worker=2, memory_limit="1GB",
                          processes=True, dashboard_address=":0") as cluster, \
                Client(cluster) as client:  # fmt: skip
            ts = roi_timeseries(open_nifti(path), bool_masks)
            assert ts.nbytes < 5e6 and len(ts.chunks[2]) > 10
            result = client.compute(ts).result()
            peaks = client.run(peak_rss_mb)
    finally:
        path.unlink(missing_ok=True)  # pytest keeps the last runs' tmp folders
    assert max(peaks.values()) < 1000, peaks
    assert result.shape == (6, 2, n_time)
    expected = reference(base, bool_masks.values, "mean")  # the t % 1000 part
    for start in (0, 27_000, n_time - 1000):
        np.testing.assert_allclose(result.values[..., start:start + 1000],
                                   expected + start // 1000, rtol=1e-5, atol=1e-4)  # fmt: skip
