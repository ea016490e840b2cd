"""Stores that know what they hold (issue 10): provenance, the kinds of store opening tells
apart, overwriting a store from itself, cohorts that refuse mixed options and survive a bad
subject. Real zarr stores; cohorts on the real two-process ``client`` cluster."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr
import zarr

import roixr
from roixr.cohort import cohort_status, drop_subjects
from roixr.errors import (
    CohortError,
    CohortMismatchError,
    ForeignStoreError,
    IncompleteCohortWarning,
    IncompleteStoreError,
    OutputPathError,
    StoreKindError,
)
from roixr.store import store_info

pytestmark = pytest.mark.filterwarnings("ignore::roixr.errors.EmptyRoiWarning")


@pytest.fixture(scope="module")
def small(synth_dir):
    return roixr.roi_masks(synth_dir, "fullhead", ["V1", "CUT"], chunks=16)


def test_store_records_provenance_and_completion(small, tmp_path):
    small.roixr.to_zarr(tmp_path / "s.zarr")
    info = store_info(tmp_path / "s.zarr")
    assert info["kind"] == "roi_masks" and info["complete"]
    prov = info["provenance"]
    assert prov["subject"] == "synth" and prov["xfm"] == "fullhead"
    assert prov["sampler"] == "cortical" and prov["rois"] == ["V1", "CUT"]
    assert prov["roixr_version"] == roixr.__version__ and "written" in prov
    assert "source" in prov and "threshold" in prov and "allow_overlap" in prov
    json.dumps(prov)


def test_overwrite_from_itself_round_trip(small, tmp_path):
    """The lazy source is read before the old store goes: never zeros."""
    store = tmp_path / "s.zarr"
    small.roixr.to_zarr(store)
    expected = small.compute()
    o = roixr.open_roi_masks(store)
    o.roixr.to_zarr(store, mode="w")
    back = roixr.open_roi_masks(store)
    assert int(back.sum()) == int(expected.sum()) > 0
    xr.testing.assert_identical(back.compute(), expected)
    assert store_info(store)["complete"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.zarr"]  # no leftovers
    # and from a derived lazy expression of itself
    (roixr.open_roi_masks(store).sel(roi=["CUT"])).roixr.to_zarr(store, mode="w")
    xr.testing.assert_identical(roixr.open_roi_masks(store).compute(), expected.sel(roi=["CUT"]))


def test_failed_replacement_keeps_the_old_store(small, tmp_path, synth_dir):
    store = tmp_path / "s.zarr"
    small.roixr.to_zarr(store)

    def boom(block):
        raise RuntimeError("disk full")

    bad = small.copy(data=small.data.map_blocks(boom, dtype=bool))
    with pytest.raises(RuntimeError, match="disk full"):
        bad.roixr.to_zarr(store, mode="w")
    xr.testing.assert_identical(roixr.open_roi_masks(store).compute(), small.compute())


def test_opening_tells_stores_apart(small, tmp_path):
    folder = tmp_path / "plain"
    folder.mkdir()
    (folder / "notes.txt").write_text("hi")
    with pytest.raises(ForeignStoreError, match=r"plain is not a zarr store \(no zarr.json"):
        roixr.open_roi_masks(folder)
    xr.Dataset({"a": ("x", np.zeros(3))}).to_zarr(
        tmp_path / "x.zarr", zarr_format=3, consolidated=False
    )
    with pytest.raises(ForeignStoreError, match="zarr store that roixr did not write"):
        roixr.open_roi_masks(tmp_path / "x.zarr")
    with pytest.raises(ForeignStoreError, match="zarr store that roixr did not write"):
        roixr.open_cohort(tmp_path / "x.zarr")
    small.roixr.to_zarr(tmp_path / "one.zarr")
    with pytest.raises(StoreKindError, match="single-subject store.*roixr.open_roi_masks"):
        roixr.open_cohort(tmp_path / "one.zarr")
    with pytest.raises(OutputPathError, match="does not exist; create it first"):
        small.roixr.to_zarr(tmp_path / "nope" / "s.zarr")


def test_interrupted_write_is_detected_and_named(small, tmp_path):
    store = tmp_path / "s.zarr"
    pending = small.roixr.to_zarr(store, compute=False)
    with pytest.raises(IncompleteStoreError, match=r"0 of its \d+ chunks of 'roi_masks'"):
        roixr.open_roi_masks(store)
    pending.compute()
    # an interrupted write: some chunks on disk, the marker never set
    zarr.open_group(str(store), mode="r+").attrs["roixr_complete"] = False
    chunk = next(p for p in (store / "roi_masks" / "c").rglob("*") if p.is_file())
    chunk.unlink()
    with pytest.raises(IncompleteStoreError, match=r"\d+ of its \d+ chunks.*mode='w'"):
        roixr.open_roi_masks(store)


def test_cohort_opened_as_single_store_and_overwritten(small, tmp_path, client, synth_dir):
    store = tmp_path / "c.zarr"
    roixr.write_cohort({"a": (synth_dir, "fullhead")}, store, client=client, rois=["V1"])
    with pytest.raises(StoreKindError, match="is a cohort store.*open_cohort"):
        roixr.open_roi_masks(store)
    with pytest.raises(StoreKindError, match="cohort store.*replace all its subjects"):
        small.roixr.to_zarr(store, mode="w")
    assert roixr.open_roi_masks(store, group="a").sizes["roi"] == 1
    assert cohort_status(store) == {"a": {"status": "complete", "error": None}}


@pytest.mark.parametrize(
    ("options", "diff"),
    [
        ({"sampler": "thick"}, "sampler='thick' \\(the store has 'cortical'\\)"),
        ({"rois": ["CUT"]}, "rois=\\['CUT'\\] \\(the store has \\['V1'\\]\\)"),
        ({"allow_overlap": True}, "allow_overlap=True"),
    ],
)
def test_cohort_refuses_mixed_options(client, tmp_path, synth_dir, options, diff):
    store = tmp_path / "c.zarr"
    roixr.write_cohort({"a": (synth_dir, "fullhead")}, store, client=client, rois=["V1"],
                       sampler="cortical")  # fmt: skip
    more = {"b": (synth_dir, "oblique")}
    with pytest.raises(CohortMismatchError, match=f"other options.*{diff}"):
        roixr.write_cohort(more, store, client=client, **{"rois": ["V1"], **options})
    assert list(cohort_status(store)) == ["a"]  # nothing planned, nothing computed
    # the same options, spelled differently (a str ROI, the default sampler), are accepted
    assert roixr.write_cohort(more, store, client=client, rois="V1") == ["b"]


def test_cohort_with_a_failing_subject_opens_the_good_ones(client, tmp_path, synth_dir):
    store = tmp_path / "c.zarr"
    subjects = {"good": (synth_dir, "fullhead"), "bad": ("/nope", "fullhead")}
    with pytest.raises(CohortError, match=r"1 of 2 subjects failed(.|\n)*bad: Subject"):
        roixr.write_cohort(subjects, store, client=client, rois=["V1"])
    status = cohort_status(store)
    assert status["good"]["status"] == "complete"
    assert status["bad"]["status"] == "failed" and "/nope" in status["bad"]["error"]
    with pytest.warns(IncompleteCohortWarning, match=r"bad \(failed\)"):
        tree = roixr.open_cohort(store)
    assert set(tree.children) == {"good"}
    assert tree.attrs["roixr_incomplete"]["bad"]["status"] == "failed"
    expected = roixr.roi_masks(synth_dir, "fullhead", ["V1"]).compute()
    xr.testing.assert_identical(tree["good"]["roi_masks"].compute(), expected)
    with pytest.raises(IncompleteStoreError, match=r"bad \(failed\)"):
        roixr.open_cohort(store, strict=True)
    # redo it with a fixed input: only it is computed
    fixed = {"good": subjects["good"], "bad": (synth_dir, "oblique")}
    assert roixr.write_cohort(fixed, store, client=client, rois=["V1"]) == ["bad"]
    assert set(roixr.open_cohort(store, strict=True).children) == {"good", "bad"}
    # redo a complete subject on demand, then drop one
    assert roixr.write_cohort(fixed, store, client=client, rois=["V1"], redo=["good"]) == ["good"]
    drop_subjects(store, ["bad"])
    assert set(roixr.open_cohort(store, strict=True).children) == {"good"}
    with pytest.raises(roixr.errors.OptionError, match="holds no subject"):
        drop_subjects(store, ["zzz"])


def test_write_cohort_without_main_guard(tmp_path, synth_dir):
    """A script without a __main__ guard is refused before any worker process starts."""
    import subprocess
    import sys

    script = tmp_path / "run.py"
    script.write_text(
        "import roixr\n"
        f"roixr.write_cohort({{'a': ({str(synth_dir)!r}, 'fullhead')}}, "
        f"{str(tmp_path / 'c.zarr')!r})\n"
    )
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert out.returncode != 0
    assert "if __name__ == " in out.stderr and "client=" in out.stderr
    assert len(out.stderr.splitlines()) < 40
