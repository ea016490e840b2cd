"""Zarr stores of masks: round trips, refusals, interrupted writes."""

from __future__ import annotations

import json

import dask
import numpy as np
import pytest
import xarray as xr
import zarr
from helpers import raise_if_dask_computes

import roixr
from roixr.errors import (
    IncompleteStoreError,
    RoixrError,
    StoreError,
    StoreExistsError,
    StoreNotFoundError,
)

pytestmark = [
    pytest.mark.filterwarnings("ignore::roixr.errors.EmptyRoiWarning"),
]


@pytest.mark.parametrize(
    ("sampler", "threshold", "chunks"),
    [
        ("cortical", None, (20, 22, 10)),
        ("cortical-liberal", None, ((30, 24), 11, 5)),
        ("cortical-conservative", 0.3, -1),
    ],
)
def test_round_trip(synth_dir, tmp_path, sampler, threshold, chunks):
    masks = roixr.roi_masks(synth_dir, "oblique", sampler=sampler, threshold=threshold,
                            chunks=chunks)  # fmt: skip
    masks.roixr.to_zarr(tmp_path / "m.zarr")
    with raise_if_dask_computes():
        back = roixr.open_roi_masks(tmp_path / "m.zarr")  # lazy
    assert isinstance(back.data, dask.array.Array)
    xr.testing.assert_identical(back.compute(), masks.compute())
    assert back.attrs == masks.attrs
    json.dumps(back.attrs)
    arr = zarr.open_array(str(tmp_path / "m.zarr" / "roi_masks"), mode="r")
    assert arr.metadata.zarr_format == 3
    assert "zstd" in str(arr.compressors).lower()


def test_index_volume_round_trip(synth_dir, tmp_path):
    masks = roixr.roi_masks(synth_dir, "fullhead")
    volume, _labels = masks.roixr.to_index_volume()
    roixr.to_zarr(volume, tmp_path / "i.zarr")
    back = roixr.open_roi_masks(tmp_path / "i.zarr")
    xr.testing.assert_identical(back.compute(), volume.compute())
    xr.testing.assert_identical(
        roixr.from_index_volume(back).compute().drop_vars("coverage"),
        masks.compute().drop_vars("coverage"),
    )


def test_never_overwrites_unless_asked(synth_dir, tmp_path):
    a = roixr.roi_masks(synth_dir, "fullhead", ["V1"])
    b = roixr.roi_masks(synth_dir, "fullhead", ["CUT"])
    roixr.to_zarr(a, tmp_path / "s.zarr")
    with pytest.raises(StoreExistsError, match="already exists.*mode='w'"):
        roixr.to_zarr(b, tmp_path / "s.zarr")
    assert list(roixr.open_roi_masks(tmp_path / "s.zarr").roi.values) == ["V1"]
    roixr.to_zarr(b, tmp_path / "s.zarr", mode="w")
    assert list(roixr.open_roi_masks(tmp_path / "s.zarr").roi.values) == ["CUT"]


def test_interrupted_write_is_refused(synth_dir, tmp_path):
    masks = roixr.roi_masks(synth_dir, "fullhead")
    pending = roixr.to_zarr(masks, tmp_path / "s.zarr", compute=False)
    # metadata is on disk, data is not: the store must not open as if complete
    with pytest.raises(IncompleteStoreError, match="not completely written"):
        roixr.open_roi_masks(tmp_path / "s.zarr")
    pending.compute()
    assert roixr.open_roi_masks(tmp_path / "s.zarr").sizes["roi"] == 6


def test_bad_stores(tmp_path, synth_dir):
    with pytest.raises(StoreNotFoundError, match="no zarr store"):
        roixr.open_roi_masks(tmp_path / "missing.zarr")
    with pytest.raises(StoreError, match="takes roixr masks"):
        roixr.to_zarr(xr.DataArray(np.zeros(3), name="other"), tmp_path / "x.zarr")
    with pytest.raises(StoreError, match="mode must be"):
        roixr.to_zarr(roixr.roi_masks(synth_dir, "fullhead"), tmp_path / "y.zarr", mode="a")
    assert issubclass(StoreExistsError, RoixrError)
