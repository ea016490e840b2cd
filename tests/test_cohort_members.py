"""A cohort store's subjects are the groups roixr wrote: a group a user adds (a ``qc``) is
neither called unfinished nor offered for removal, and opening a subject the cohort does
not hold names the ones it does (issue 22)."""

from __future__ import annotations

import warnings

import pytest
import zarr

import roixr
from roixr.cohort import cohort_status, drop_subjects
from roixr.errors import OptionError, StoreNotFoundError

pytestmark = pytest.mark.filterwarnings("ignore::roixr.errors.EmptyRoiWarning")


@pytest.fixture
def cohort(synth_dir, client, tmp_path):
    store = tmp_path / "c.zarr"
    subjects = {"sub-01": (synth_dir, "fullhead"), "sub-02": (synth_dir, "fullhead")}
    roixr.write_cohort(subjects, store, client=client, rois=["V1"])
    qc = zarr.open_group(str(store), mode="a").create_group("qc")
    qc.attrs["note"] = "the user's own"
    return store


def test_a_users_group_is_not_a_subject(cohort):
    assert cohort_status(cohort) == {
        "sub-01": {"status": "complete", "error": None},
        "sub-02": {"status": "complete", "error": None},
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing is called unfinished
        tree = roixr.open_cohort(cohort)
    assert sorted(tree.children) == ["sub-01", "sub-02"]
    with pytest.raises(OptionError, match=r"holds no subject\(s\) \['qc'\]"):
        drop_subjects(cohort, ["qc"])
    assert dict(zarr.open_group(str(cohort), path="qc", mode="r").attrs) == {
        "note": "the user's own"
    }  # never deleted


def test_opening_a_subject_it_does_not_hold_names_those_it_does(cohort):
    with pytest.raises(StoreNotFoundError, match=r"holds no subject 'sub-09'; it holds 2: "
                       r"sub-01, sub-02\.") as info:  # fmt: skip
        roixr.open_roi_masks(cohort, group="sub-09")
    assert "roixr.open_cohort()" in info.value.fix and info.value.option == "store"
    masks = roixr.open_roi_masks(cohort, group="sub-02")
    assert masks.sizes["roi"] == 1
