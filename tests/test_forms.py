"""The masks' other forms: dict, signed index volume, NIfTI, and the .roi accessor."""

from __future__ import annotations

import os
import re
from pathlib import Path

import dask.array as da
import nibabel as nib
import numpy as np
import pytest
import xarray as xr
from helpers import AFFINE, ATTRS, SHAPE, make_masks, raise_if_dask_computes
from hypothesis import given, settings
from hypothesis import strategies as st

from roixr.convert import (
    from_dict,
    from_index_volume,
    index_dtype,
    to_dict,
    to_index_volume,
)
from roixr.errors import FormError, OutputExistsError, OverlapError, RoixrError
from roixr.forms import MASK_DIMS
from roixr.nifti import from_nifti, to_nifti

# --- builders ----------------------------------------------------------------------------------


def expected_dict(masks, split_lr=False, layout="xyz"):
    data, out = np.asarray(masks.values), {}
    for i, name in enumerate(masks["roi"].values):
        parts = {f"{name}_L": data[i, 0], f"{name}_R": data[i, 1]}
        if not split_lr:
            parts = {
                name: data[i, 0] | data[i, 1] if data.dtype == bool else data[i, 0] + data[i, 1]
            }
        for k, v in parts.items():
            out[k] = v.T if layout == "pycortex" else v
    return out


def expected_index(masks):
    """Later ROIs win; within an ROI, right after left."""
    data = np.asarray(masks.values)
    out = np.zeros(data.shape[2:], int)
    for r in range(data.shape[0]):
        out[data[r, 0]] = -(r + 1)
        out[data[r, 1]] = r + 1
    return out


def assert_same(actual: xr.DataArray, expected: xr.DataArray) -> None:
    """Identical after computing, dtypes included (assert_identical ignores dtypes)."""
    actual, expected = actual.compute(), expected.compute()
    xr.testing.assert_identical(actual, expected)
    assert actual.dtype == expected.dtype
    for k in expected.coords:
        assert actual[k].dtype.kind == expected[k].dtype.kind, k


def no_compute():
    return raise_if_dask_computes()


chunkings = st.tuples(*(st.integers(1, n) for n in SHAPE))


# --- dict --------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [bool, np.float32])
@pytest.mark.parametrize("chunks", [None, (2, 3, 4)])
@pytest.mark.parametrize("split_lr", [False, True])
@pytest.mark.parametrize("layout", ["xyz", "pycortex"])
def test_to_dict(dtype, chunks, split_lr, layout):
    masks = make_masks(dtype=dtype, chunks=chunks)
    out = to_dict(masks, split_lr=split_lr, layout=layout)
    expected = expected_dict(masks, split_lr, layout)
    assert list(out) == list(expected)
    for k, v in expected.items():
        assert out[k].dtype == np.dtype(dtype)
        assert out[k].flags.c_contiguous
        np.testing.assert_array_equal(out[k], v, err_msg=k)
    shape = SHAPE[::-1] if layout == "pycortex" else SHAPE
    assert all(v.shape == shape for v in out.values())


def test_to_dict_split_order():
    assert list(to_dict(make_masks(), split_lr=True)) == [
        "V1_L",
        "V1_R",
        "V2_L",
        "V2_R",
        "V3_L",
        "V3_R",
    ]


def test_to_dict_computes_once():
    masks = make_masks(n_roi=5, chunks=(2, 2, 2))
    with raise_if_dask_computes(max_computes=1) as counter:
        to_dict(masks, split_lr=True)
    assert counter.total_computes == 1


def test_to_dict_copies_numpy_input():
    masks = make_masks()
    before = masks.values.copy()
    for v in to_dict(masks, split_lr=True).values():
        v[...] = True
    np.testing.assert_array_equal(masks.values, before)


@pytest.mark.parametrize("dtype", [bool, np.float32])
@pytest.mark.parametrize("chunks", [None, (4, 2, 3)])
@pytest.mark.parametrize("split_lr", [True, False])
def test_from_dict_round_trip_like(dtype, chunks, split_lr):
    masks = make_masks(dtype=dtype, chunks=chunks)
    back = from_dict(to_dict(masks, split_lr=split_lr), like=masks)
    assert_same(back, masks)
    assert back.chunks == masks.chunks


def test_from_dict_round_trip_pycortex_layout():
    masks = make_masks()
    back = from_dict(
        to_dict(masks, split_lr=True, layout="pycortex"), layout="pycortex", like=masks
    )
    assert_same(back, masks)


def test_from_dict_is_lazy_with_dask_like():
    masks = make_masks(chunks=(3, 3, 3))
    d = to_dict(masks, split_lr=True)
    with no_compute():
        back = from_dict(d, like=masks)
    assert isinstance(back.data, da.Array)


@pytest.mark.parametrize("as_dataarray", [False, True])
def test_from_dict_left(as_dataarray):
    masks = make_masks(dtype=np.float32)
    left = np.asarray((masks.sel(hemisphere="L") != 0).any("roi"))
    if as_dataarray:
        left = xr.DataArray(left.transpose(2, 0, 1), dims=("z", "x", "y"))
    attrs = {**ATTRS, "coverage": list(masks.coverage.values)}
    back = from_dict(to_dict(masks), left=left, attrs=attrs)
    assert_same(back, masks)


def test_from_dict_without_like():
    d = {"A_L": np.ones((2, 1, 1), bool), "A_R": np.zeros((2, 1, 1), bool)}
    m = from_dict(d)
    assert m.dims == MASK_DIMS and m.name == "roi_masks" and m.dtype == bool and m.attrs == {}
    assert list(m.roi.values) == ["A"] and list(m.hemisphere.values) == ["L", "R"]
    assert np.isnan(m.coverage.values).all() and list(m.x.values) == [0, 1]


def test_from_dict_converts_dtypes():
    ints = {"A_L": np.ones((2, 1, 1), np.int64), "A_R": np.zeros((2, 1, 1), np.uint8)}
    assert from_dict(ints).dtype == bool
    mixed = {"A_L": np.full((2, 1, 1), 0.5), "A_R": np.zeros((2, 1, 1), bool)}
    assert from_dict(mixed).dtype == np.float32


def test_from_dict_unsplit_names_of_like_ending_in_hemisphere():
    masks = make_masks(n_roi=2, names=["FEF_L", "FEF_R"])
    assert_same(from_dict(to_dict(masks), like=masks), masks)


def test_from_dict_like_subset_and_unknown_names():
    masks = make_masks()
    d = to_dict(masks, split_lr=True)
    d = {k: d[k] for k in ["V3_L", "V3_R", "V1_L", "V1_R"]}
    d["new_L"] = d["new_R"] = np.zeros(SHAPE, bool)
    back = from_dict(d, like=masks)
    assert list(back.roi.values) == ["V3", "V1", "new"]
    np.testing.assert_array_equal(back.coverage[:2], masks.coverage.values[[2, 0]])
    assert np.isnan(back.coverage[2])


@pytest.mark.parametrize(
    "d, kwargs, match",
    [
        ({}, {}, "non-empty dict"),
        ({"A": np.zeros((2, 2))}, {}, r"'A' has shape \(2, 2\); each mask must be 3D"),
        ({"A": np.full((1, 1, 1), 2.0)}, {}, r"fractions in \[0, 1\].*Threshold it"),
        ({"A": np.full((1, 1, 1), 3)}, {}, "0/1 integers"),
        ({"A": np.zeros((1, 1, 1)), "B": np.zeros((2, 1, 1))}, {}, "one shape"),
        ({"A": np.zeros((1, 1, 1), bool)}, {}, "Pass left=.*like=.*split dict"),
        ({"A_L": np.zeros((1, 1, 1), bool)}, {"split_lr": True}, "both name_L and name_R"),
        ({"A": np.zeros((1, 1, 1), bool)}, {"left": np.ones((2, 1, 1), bool)}, "left must be"),
        ({"A": np.zeros((1, 1, 1), bool)}, {"layout": "zyx"}, "layout must be 'xyz'"),
        (
            {"A_L": np.zeros((1, 1, 1)), "A_R": np.zeros((1, 1, 1))},
            {"attrs": {"coverage": [1.0, 2.0]}},
            r"needs one value per ROI \(1, \['A'\]\); got 2",
        ),
    ],
)
def test_from_dict_errors(d, kwargs, match):
    with pytest.raises(FormError, match=match):
        from_dict(d, **kwargs)


def test_from_dict_like_errors():
    masks = make_masks()
    with pytest.raises(FormError, match=r"differs from like's \(x, y, z\) sizes \(6, 5, 4\)"):
        from_dict({"V1": np.zeros((2, 2, 2), bool)}, like=masks)
    outside = ~np.asarray((masks != 0).any(("roi", "hemisphere")))
    with pytest.raises(FormError, match=r"ROIs \['V9'\] .* in no single hemisphere .*left="):
        from_dict({"V1": np.zeros(SHAPE, bool), "V9": outside}, like=masks)
    with pytest.raises(FormError, match=r"from_dict\(like=...\) takes masks with dims"):
        from_dict({"V1": np.zeros(SHAPE, bool)}, like=masks.isel(hemisphere=0))


# --- index volume ------------------------------------------------------------------------------


@pytest.mark.parametrize("chunks", [None, (2, 5, 3)])
def test_to_index_volume(chunks):
    masks = make_masks(chunks=chunks)
    volume, labels = to_index_volume(masks)
    assert labels == {"V1": 1, "V2": 2, "V3": 3}
    assert volume.name == "roi_index" and volume.dims == ("x", "y", "z")
    assert volume.dtype == np.int8
    assert isinstance(volume.data, da.Array) == (chunks is not None)
    if chunks is not None:
        assert volume.chunks == masks.chunks[2:]
    np.testing.assert_array_equal(volume.values, expected_index(masks))
    xr.testing.assert_identical(volume.x, masks.x)
    assert volume.attrs == {
        **ATTRS,
        "flag_values": [-3, -2, -1, 1, 2, 3],
        "flag_meanings": "V3_L V2_L V1_L V1_R V2_R V3_R",
        "long_name": "ROI index (right hemisphere positive, left hemisphere negative)",
        "roi_names": ["V1", "V2", "V3"],
        "coverage": list(masks.coverage.values),
    }


def test_to_index_volume_small_hand_checked():
    data = np.zeros((2, 2, 3, 1, 1), bool)
    data[0, 0, 0] = data[1, 1, 2] = True
    masks = xr.DataArray(
        data, dims=MASK_DIMS, coords={"roi": ["A", "B"], "hemisphere": ["L", "R"]}
    )
    volume, _ = to_index_volume(masks)
    np.testing.assert_array_equal(volume.values.ravel(), [-1, 0, 2])


def test_index_volume_spaces_in_names():
    masks = make_masks(n_roi=2, names=["left FEF", "hMT+"])
    volume, labels = to_index_volume(masks)
    assert volume.attrs["flag_meanings"] == "hMT+_L left_FEF_L left_FEF_R hMT+_R"
    assert labels == {"left FEF": 1, "hMT+": 2}
    assert_same(from_index_volume(volume), masks)


def test_index_volume_int16_for_200_rois():
    masks = make_masks(n_roi=200, names=[f"roi{i}" for i in range(200)], chunks=(3, 3, 2))
    volume, labels = to_index_volume(masks)
    assert volume.dtype == np.int16 and labels["roi199"] == 200
    np.testing.assert_array_equal(volume.values, expected_index(masks))
    assert_same(from_index_volume(volume), masks)


@pytest.mark.parametrize(
    "n, dtype",
    [(0, np.int8), (127, np.int8), (128, np.int16), (32767, np.int16), (40000, np.int32)],
)
def test_index_dtype(n, dtype):
    assert index_dtype(n) == dtype


def test_overlap_raises_numpy():
    masks = make_masks(overlap=True)
    match = (
        r"voxels belong to more than one ROI or hemisphere \(ROIs involved: "
        r"\['V1', 'V2', 'V3'\]\).*overlap='last'.*allow_overlap=True"
    )
    with pytest.raises(OverlapError, match=match):
        to_index_volume(masks)


def test_overlap_raises_at_compute_for_dask():
    masks = make_masks(overlap=True, chunks=(3, 5, 4))
    with no_compute():
        volume, _ = to_index_volume(masks)
    with pytest.raises(
        OverlapError, match=r"in the chunk x=(0:3|3:6), y=0:5, z=0:4 belong to more than one ROI"
    ):
        volume.compute()


@pytest.mark.parametrize("chunks", [None, (4, 4, 4)])
def test_overlap_last(chunks):
    masks = make_masks(overlap=True, chunks=chunks)
    volume, _ = to_index_volume(masks, overlap="last")
    np.testing.assert_array_equal(volume.values, expected_index(masks))


def test_to_index_volume_errors():
    with pytest.raises(FormError, match=r"needs bool masks; got float32.*threshold=t.*masks > t"):
        to_index_volume(make_masks(dtype=np.float32))
    with pytest.raises(FormError, match="overlap must be 'raise' or 'last'; got 'first'"):
        to_index_volume(make_masks(), overlap="first")


def test_to_index_volume_is_lazy():
    masks = make_masks(chunks=(2, 2, 2))
    masks = masks.assign_coords(coverage=("roi", da.from_array(masks.coverage.values)))
    with no_compute():
        volume, _ = to_index_volume(masks)
        back = from_index_volume(volume)
        masks.roixr.to_index_volume()
    assert isinstance(volume.data, da.Array) and isinstance(back.data, da.Array)
    with no_compute(), pytest.raises(RuntimeError, match="Too many dask computations"):
        volume.compute()  # the guard works
    assert "coverage" not in volume.attrs  # left out rather than computed
    assert np.isnan(back.coverage.values).all()


@settings(max_examples=25, deadline=None, database=None)
@given(chunks=chunkings, seed=st.integers(0, 2**16))
def test_index_volume_round_trip_chunks(chunks, seed):
    masks = make_masks(chunks=chunks, seed=seed, n_roi=4)
    volume, _ = to_index_volume(masks)
    back = from_index_volume(volume)
    assert back.chunks == masks.chunks
    assert_same(back, masks)
    eager, _ = to_index_volume(masks.compute())
    xr.testing.assert_identical(volume.compute(), eager)


def test_from_index_volume_labels_from_flags_only():
    masks = make_masks()
    volume, labels = to_index_volume(masks)
    del volume.attrs["roi_names"]
    assert_same(from_index_volume(volume), masks)
    del volume.attrs["flag_values"]
    with pytest.raises(FormError, match=r"no labels.*Pass labels=\{name: index\}"):
        from_index_volume(volume)
    back = from_index_volume(volume, labels)
    xr.testing.assert_equal(back.drop_vars("coverage"), masks.drop_vars("coverage"))


def test_from_index_volume_given_labels():
    volume = xr.DataArray(np.array([-3, 0, 3, 1], np.int16).reshape(4, 1, 1), dims=("x", "y", "z"))
    masks = from_index_volume(volume, {"B": 3, "A": 1})
    assert list(masks.roi.values) == ["A", "B"]
    expected = [[[0, 0, 0, 0], [0, 0, 0, 1]], [[1, 0, 0, 0], [0, 0, 1, 0]]]
    np.testing.assert_array_equal(masks.values[:, :, :, 0, 0], expected)


@pytest.mark.parametrize("chunks", [None, 2])
def test_from_index_volume_unknown_value(chunks):
    data = np.array([-1, 0, 7], np.int8).reshape(3, 1, 1)
    volume = xr.DataArray(
        data if chunks is None else da.from_array(data, chunks), dims=("x", "y", "z")
    )
    with pytest.raises(FormError, match=r"values \[7\].* no label names"):
        from_index_volume(volume, {"A": 1}).compute()


def test_from_index_volume_errors():
    volume = xr.DataArray(np.zeros((2, 2, 2), np.int8), dims=("x", "y", "z"))
    with pytest.raises(FormError, match=r"unique indices ≥ 1; got \{'A': 0\}"):
        from_index_volume(volume, {"A": 0})
    match = r"takes an index volume DataArray with dims \('x', 'y', 'z'\); got \('x', 'y'\)"
    with pytest.raises(FormError, match=match):
        from_index_volume(volume.isel(z=0), {"A": 1})
    with pytest.raises(FormError, match="holds signed integers; got dtype uint8"):
        from_index_volume(volume.astype(np.uint8), {"A": 1})
    volume.attrs.update(flag_values=[1], flag_meanings="A_L A_R")
    with pytest.raises(FormError, match=r"flag_values \(1\) and flag_meanings \(2\)"):
        from_index_volume(volume)


# --- masks checks ------------------------------------------------------------------------------


def test_masks_checks():
    masks = make_masks()
    with pytest.raises(FormError, match="takes a masks DataArray .* got a dict"):
        to_dict({})
    with pytest.raises(FormError, match=r"got dims \('hemisphere', 'roi', 'x', 'y', 'z'\)"):
        to_dict(masks.transpose("hemisphere", ...))
    with pytest.raises(FormError, match=r"must be \['L', 'R'\]; got \['R', 'L'\]"):
        to_dict(masks.isel(hemisphere=[1, 0]))
    with pytest.raises(FormError, match=r"unique; \['V1'\] repeat"):
        to_dict(masks.assign_coords(roi=["V1", "V1", "V2"]))
    with pytest.raises(FormError, match=r"bool or float32 fractions; got dtype int64"):
        to_index_volume(masks.astype(int))


# --- NIfTI -------------------------------------------------------------------------------------


def test_nifti_masks_split_round_trip(tmp_path):
    masks = make_masks(dtype=np.float32, chunks=(3, 3, 3))
    path = to_nifti(masks, tmp_path / "m.nii.gz", split_lr=True)
    img = nib.load(path)
    assert img.shape == (*SHAPE, 6) and img.get_data_dtype() == np.float32
    assert img.header["sform_code"] == 1 and img.header["qform_code"] == 1
    np.testing.assert_allclose(img.affine, AFFINE)
    np.testing.assert_array_equal(img.get_fdata()[..., 1], masks.values[0, 1])
    assert_same(from_nifti(path), masks)
    assert os.listdir(tmp_path) == ["m.nii.gz"]


def test_nifti_masks_unsplit(tmp_path):
    masks = make_masks()
    path = to_nifti(masks, tmp_path / "m.nii")
    img = nib.load(path)
    assert img.shape == (*SHAPE, 3) and img.get_data_dtype() == np.uint8
    flat = from_nifti(path)
    assert flat.dims == ("roi", "x", "y", "z") and flat.dtype == bool
    xr.testing.assert_identical(flat, masks.any("hemisphere").assign_attrs(ATTRS))
    left = np.asarray((masks.sel(hemisphere="L")).any("roi"))
    assert_same(from_nifti(path, left=left), masks)


@pytest.mark.parametrize("chunks", [None, (2, 2, 2)])
def test_nifti_index_volume_round_trip(tmp_path, chunks):
    volume, _ = to_index_volume(make_masks(chunks=chunks))
    path = volume.roixr.to_nifti(tmp_path / "index.nii.gz")
    img = nib.load(path)
    assert img.shape == SHAPE and img.get_data_dtype() == np.int8
    assert img.header.get_intent()[0] == "label"
    assert_same(from_nifti(path), volume)


def test_nifti_block_of_the_grid(tmp_path):
    masks = make_masks().isel(x=slice(2, 5), z=slice(1, 3))
    img = nib.load(to_nifti(masks, tmp_path / "b.nii", split_lr=True))
    np.testing.assert_allclose(img.affine[:3, 3], np.asarray(AFFINE)[:3] @ [2, 0, 1, 1])
    assert_same(from_nifti(tmp_path / "b.nii"), masks)
    with pytest.raises(FormError, match=r"x coord must be consecutive voxel indices.*slice"):
        to_nifti(make_masks().isel(x=[0, 2]), tmp_path / "c.nii")


def test_nifti_refuses_overwrite(tmp_path):
    masks = make_masks()
    path = to_nifti(masks, tmp_path / "m.nii.gz")
    before = path.read_bytes()
    with pytest.raises(OutputExistsError, match=r"exists.*overwrite=True"), no_compute():
        to_nifti(make_masks(seed=3, chunks=(2, 2, 2)), path)  # refused before computing
    assert issubclass(OutputExistsError, FileExistsError)
    assert issubclass(OutputExistsError, RoixrError)
    assert path.read_bytes() == before
    to_nifti(make_masks(seed=3), path, overwrite=True)
    assert path.read_bytes() != before
    assert os.listdir(tmp_path) == ["m.nii.gz"]
    (tmp_path / "ref").touch()
    assert path.stat().st_mode == (tmp_path / "ref").stat().st_mode


def test_nifti_errors(tmp_path):
    masks = make_masks()
    with pytest.raises(FormError, match=r"must end in .nii or .nii.gz; got '.*m.nrrd'"):
        to_nifti(masks, tmp_path / "m.nrrd")
    with pytest.raises(FormError, match=r"affine in attrs\['affine'\]; it is missing"):
        to_nifti(masks.drop_attrs(), tmp_path / "m.nii")
    with pytest.raises(FormError, match="split_lr applies to masks"):
        to_nifti(to_index_volume(masks)[0], tmp_path / "m.nii", split_lr=True)
    with pytest.raises(FileNotFoundError, match="does not exist; create it"):
        to_nifti(masks, tmp_path / "nope" / "m.nii")
    assert os.listdir(tmp_path) == []


def test_read_foreign_nifti(tmp_path):
    labels = np.array([[[0, -1], [2, 0]]], np.int16)
    nib.save(nib.Nifti1Image(labels, np.diag([2.0, 2, 2, 1])), tmp_path / "labels.nii")
    volume = from_nifti(tmp_path / "labels.nii")
    assert volume.dtype == np.int16 and volume.attrs == {
        "affine": np.diag([2.0, 2, 2, 1]).tolist()
    }
    masks = from_index_volume(volume, {"A": 1, "B": 2})
    assert int(masks.sel(roi="A", hemisphere="L").sum()) == 1
    nib.save(nib.Nifti1Image(np.zeros((2, 2, 2, 2), np.float32), np.eye(4)), tmp_path / "f.nii")
    with pytest.raises(FormError, match="not written by roixr.to_nifti.*nibabel.load"):
        from_nifti(tmp_path / "f.nii")


# --- accessor ----------------------------------------------------------------------------------


def test_accessor(tmp_path):
    masks = make_masks(chunks=(3, 3, 3))
    d = masks.roixr.to_dict(split_lr=True, layout="pycortex")
    expected = to_dict(masks, split_lr=True, layout="pycortex")
    assert list(d) == list(expected) and all(np.array_equal(d[k], expected[k]) for k in d)
    volume, labels = masks.roixr.to_index_volume()
    assert labels == {"V1": 1, "V2": 2, "V3": 3}
    assert_same(volume.roixr.to_masks(), masks)
    assert_same(volume.roixr.to_masks(labels), masks)
    assert_same(from_nifti(masks.roixr.to_nifti(tmp_path / "m.nii", split_lr=True)), masks)


@pytest.mark.filterwarnings("ignore:The data type .* does not have a Zarr V3 specification")
def test_accessor_to_zarr(tmp_path):
    from roixr.store import open_roi_masks

    masks = make_masks(chunks=(3, 3, 3), names=["V1", "left FEF", "hMT+"])
    masks.roixr.to_zarr(tmp_path / "m.zarr")
    assert_same(open_roi_masks(tmp_path / "m.zarr"), masks)
    volume, _ = masks.roixr.to_index_volume()
    volume.roixr.to_zarr(tmp_path / "i.zarr")
    reopened = open_roi_masks(tmp_path / "i.zarr")
    assert_same(reopened, volume)
    assert_same(reopened.roixr.to_masks(), masks)


def test_accessor_wrong_kind():
    masks = make_masks()
    volume, _ = masks.roixr.to_index_volume()
    with pytest.raises(FormError, match=re.escape("takes an index volume DataArray")):
        masks.roixr.to_masks()
    with pytest.raises(FormError, match=re.escape("to_index_volume takes masks with dims")):
        volume.roixr.to_index_volume()
    with pytest.raises(FormError, match=re.escape("to_dict takes masks with dims")):
        xr.DataArray(np.zeros(3), dims="t").roixr.to_dict()
    with pytest.raises(FormError, match=re.escape("to_nifti takes masks with dims")):
        xr.DataArray(np.zeros(3), dims="t").roixr.to_nifti(Path("never.nii"))


def test_roi_is_the_coordinate_and_roixr_the_accessor():
    masks = make_masks()
    coord = masks["roi"]
    assert isinstance(masks.roi, xr.DataArray)
    xr.testing.assert_identical(masks.roi, coord)
    assert list(masks.roi.values) == ["V1", "V2", "V3"]
    assert list(masks.roi) == list(coord) and len(masks.roi) == 3 and "V2" in masks.roi
    xr.testing.assert_identical(masks.roi == "V2", coord == "V2")
    assert masks.where(masks.roi == "V2", drop=True).sizes["roi"] == 1
    assert {"to_dict", "to_index_volume", "to_nifti", "to_zarr", "timeseries"} <= set(
        dir(masks.roixr)
    )
    assert masks.roixr.to_dict().keys() == {"V1", "V2", "V3"}
    volume, _ = masks.roixr.to_index_volume()
    assert {"to_masks", "to_nifti"} <= set(dir(volume.roixr))
    with pytest.raises(AttributeError, match="roi"):
        volume.roi  # noqa: B018  (an index volume has no roi coordinate)
