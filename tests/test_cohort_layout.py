"""The cohort store's layout 2: three files a subject, an index at the root, subjects opened
by name, stores of roixr 0.1 (layout 1) still opened and upgraded, and the writes that one
subject's attempts make (sharded data, completion last, concurrent attempts)."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
import xarray as xr
import zarr
from distributed import Client, LocalCluster

import roixr
from roixr.cohort import cohort_status, drop_subjects, upgrade_cohort
from roixr.errors import (
    IncompleteCohortWarning,
    OptionError,
    StoreExistsError,
    StoreKindError,
    StoreNotFoundError,
)
from roixr.store.compact import write_subject
from roixr.store.format import DATA, INDEX, group_attrs
from roixr.store.location import as_location


def files(folder) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def direct(subject, xfm, **options) -> xr.DataArray:
    return roixr.roi_masks(subject, xfm, **options).compute(scheduler="sync")


@pytest.fixture(scope="module")
def local():
    """One in-process worker with two threads: two subjects' tasks run at once in one
    process (dask's config is not per thread there)."""
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as c:  # fmt: skip
        yield c


@pytest.mark.parametrize(
    ("sampler", "chunks"), [("cortical", "auto"), ("cortical-liberal", 4), ("thin", (7, 5, 3))]
)
def test_three_files_a_subject_and_exact(synth_dir, tmp_path, local, sampler, chunks):
    store = tmp_path / "c.zarr"
    subjects = {f"s{i}": (synth_dir, "oblique" if i % 2 else "fullhead") for i in range(6)}
    roixr.write_cohort(subjects, store, client=local, sampler=sampler, chunks=chunks)
    for name in subjects:  # the group, the array's metadata, its one shard
        held = files(store / name)
        assert len(held) == 3, held
        assert held[0].startswith("roixr-data-") and held[0].endswith("/c/0/0/0/0/0")
    assert files(store / INDEX) and all(f.endswith(".json") for f in files(store / INDEX))
    tree = roixr.open_cohort(store)
    for name, (subject, xfm) in subjects.items():
        want = direct(subject, xfm, sampler=sampler, chunks=chunks)
        got = tree[name]["roi_masks"]
        assert got.chunks is not None  # lazy
        xr.testing.assert_identical(got.compute(), want)
        # the same subject through open_roi_masks, and as a single store reads it back
        xr.testing.assert_identical(roixr.open_roi_masks(store, group=name).compute(), want)
        want.roixr.to_zarr(tmp_path / f"{name}.zarr")
        xr.testing.assert_identical(
            roixr.open_roi_masks(tmp_path / f"{name}.zarr").compute(), got.compute()
        )


def test_open_by_name_and_status_from_the_index(synth_dir, tmp_path, local):
    store = tmp_path / "c.zarr"
    subjects = {f"s{i}": (synth_dir, "fullhead") for i in range(4)}
    roixr.write_cohort(subjects, store, client=local, rois=["V1", "A"])
    tree = roixr.open_cohort(store, subjects=["s2", "s0"])
    assert list(tree.children) == ["s2", "s0"]
    assert list(roixr.open_cohort(store, subjects="s3").children) == ["s3"]
    with pytest.raises(StoreNotFoundError, match=r"no subject\(s\) \['s9'\]; it holds 4: s0"):
        roixr.open_cohort(store, subjects=["s1", "s9"])
    assert {n: s["status"] for n, s in cohort_status(store).items()} == dict.fromkeys(
        subjects, "complete"
    )
    # the index is read, not the groups: a subject the index calls complete needs no read
    # of its own group, and one it calls pending is looked up there
    drop_subjects(store, ["s1"])
    assert sorted(cohort_status(store)) == ["s0", "s2", "s3"]
    assert not (store / "s1").exists()
    with pytest.raises(StoreNotFoundError, match="holds no subject 's1'"):
        roixr.open_roi_masks(store, group="s1")
    # a group a user adds is not a subject
    zarr.open_group(str(store), path="qc", mode="w").attrs["note"] = "mine"
    assert sorted(cohort_status(store)) == ["s0", "s2", "s3"]
    assert sorted(roixr.open_cohort(store).children) == ["s0", "s2", "s3"]


def test_an_index_cut_short_falls_back_on_the_groups(synth_dir, tmp_path, local):
    store = tmp_path / "c.zarr"
    subjects = {f"s{i}": (synth_dir, "fullhead") for i in range(3)}
    roixr.write_cohort(subjects, store, client=local, rois=["V1"])
    for doc in (store / INDEX).iterdir():
        doc.write_text(doc.read_text()[:20])  # unreadable
    assert {n: s["status"] for n, s in cohort_status(store).items()} == dict.fromkeys(
        subjects, "complete"
    )
    assert sorted(roixr.open_cohort(store).children) == sorted(subjects)


def test_a_pending_subject_is_looked_up_in_its_group(synth_dir, tmp_path, local):
    """A client killed after a subject's task completed it but before the index said so."""
    store = tmp_path / "c.zarr"
    roixr.write_cohort({"s0": (synth_dir, "fullhead")}, store, client=local, rois=["V1"])
    for doc in (store / INDEX).iterdir():
        held = json.loads(doc.read_text())
        for entry in held["roixr_subjects"].values():
            entry["status"] = "pending"
        doc.write_text(json.dumps(held))
    assert cohort_status(store)["s0"]["status"] == "complete"


def test_concurrent_attempts_at_one_subject(synth_dir, tmp_path):
    """A worker retired mid-task finishes the task it gave back while another worker ran it
    too: the first attempt to complete the subject stays; the late one drops its copy."""
    loc = as_location(tmp_path / "c.zarr")
    masks = roixr.roi_masks(synth_dir, "fullhead", rois=["V1", "A"])
    late = roixr.roi_masks(synth_dir, "oblique", rois=["V1", "A"])  # tells them apart
    first = write_subject(masks, loc, "s0", {"by": "first"})
    # the late attempt was planned when s0 was not complete (replaces=None)
    assert write_subject(late, loc, "s0", {"by": "late"}, replaces=None) == first
    assert group_attrs(loc, "s0")[DATA] == first
    assert [p for p in (tmp_path / "c.zarr" / "s0").iterdir() if p.is_dir()] == [
        tmp_path / "c.zarr" / "s0" / first
    ]
    # a redo planned when s0 held `first` replaces it, and removes it
    second = write_subject(late, loc, "s0", {"by": "redo"}, replaces=first)
    assert second != first and group_attrs(loc, "s0")[DATA] == second
    assert not (tmp_path / "c.zarr" / "s0" / first).exists()


def test_a_subject_larger_than_a_shard(synth_dir, tmp_path, monkeypatch):
    """Masks above the shard size are written as slabs of whole chunks, each whole."""
    import roixr.store.compact as compact

    monkeypatch.setattr(compact, "SHARD_BYTES", 20_000)
    loc = as_location(tmp_path / "c.zarr")
    masks = roixr.roi_masks(synth_dir, "fullhead", sampler="cortical-liberal", chunks=8)
    write_subject(masks, loc, "s0", {})
    shards = files(tmp_path / "c.zarr" / "s0")
    assert len(shards) > 3  # several shard files
    got = compact.open_subject(loc, "s0", group_attrs(loc, "s0"))
    np.testing.assert_array_equal(got.values, masks.values)


# --- stores of roixr 0.1 (layout 1) ---------------------------------------------------------


@pytest.fixture
def layout1(synth_dir, tmp_path):
    """A cohort as roixr 0.1 wrote it: root attributes only, and each subject a group as
    to_zarr writes one (one array per coordinate, a file per chunk); one subject failed."""
    store = tmp_path / "old.zarr"
    root = zarr.open_group(str(store), mode="w", zarr_format=3)
    options = roixr.cohort.cohort_options({"rois": ["V1", "A"]})
    root.attrs.update({"roixr_kind": "cohort", "roixr_options": options,
                       "roixr_version": "0.1.0"})  # fmt: skip
    for name, xfm in (("s0", "fullhead"), ("s1", "oblique")):
        roixr.roi_masks(synth_dir, xfm, rois=["V1", "A"]).roixr.to_zarr(store, group=name)
    failed = zarr.open_group(str(store), path="s2", mode="w", zarr_format=3)
    failed.attrs.update({"roixr_complete": False, "roixr_status": "failed",
                         "roixr_error": "TransformNotFoundError: no nope"})  # fmt: skip
    return store


def test_a_layout1_store_opens_and_upgrades(layout1, synth_dir, tmp_path, local):
    status = {n: s["status"] for n, s in cohort_status(layout1).items()}
    assert status == {"s0": "complete", "s1": "complete", "s2": "failed"}
    with pytest.warns(IncompleteCohortWarning, match="s2"):
        old = roixr.open_cohort(layout1)
    assert sorted(old.children) == ["s0", "s1"]
    assert sorted(roixr.open_cohort(layout1, subjects=["s1"]).children) == ["s1"]
    before = files(layout1)
    with pytest.raises(StoreKindError, match="layout 1") as info:
        roixr.write_cohort({"s3": (synth_dir, "fullhead")}, layout1, client=local,
                           rois=["V1", "A"])  # fmt: skip
    assert "upgrade_cohort" in str(info.value)
    new = tmp_path / "new.zarr"
    assert upgrade_cohort(layout1, new) == ["s0", "s1"]
    assert files(layout1) == before  # the old store is only read
    assert cohort_status(new) == cohort_status(layout1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", IncompleteCohortWarning)
        upgraded = roixr.open_cohort(new)
    for name in ("s0", "s1"):
        xr.testing.assert_identical(upgraded[name]["roi_masks"].compute(),
                                    old[name]["roi_masks"].compute())  # fmt: skip
        assert len(files(new / name)) == 3
    with pytest.raises(StoreExistsError):
        upgrade_cohort(layout1, new)
    with pytest.raises(OptionError, match="already in layout 2"):
        upgrade_cohort(new, tmp_path / "again.zarr")
    # the new store takes subjects, and redoes the failed one
    written = roixr.write_cohort({"s2": (synth_dir, "fullhead"), "s3": (synth_dir, "oblique")},
                                 new, client=local, rois=["V1", "A"])  # fmt: skip
    assert sorted(written) == ["s2", "s3"]
    assert {s["status"] for s in cohort_status(new).values()} == {"complete"}


def test_the_cli_upgrades_and_advises(layout1, synth_dir, tmp_path):
    lst = tmp_path / "subjects.txt"
    lst.write_text(f"s3 {synth_dir} fullhead\n")
    cmd = [sys.executable, "-m", "roixr"]
    out = subprocess.run([*cmd, "cohort", str(lst), "--out", str(layout1), "--rois", "V1", "A"],
                         capture_output=True, text=True)  # fmt: skip
    assert out.returncode != 0
    assert "layout 1" in out.stderr and "roixr upgrade STORE NEW" in out.stderr
    assert "Traceback" not in out.stderr
    new = tmp_path / "new.zarr"
    out = subprocess.run([*cmd, "upgrade", str(layout1), str(new)], capture_output=True,
                         text=True)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "2 subject(s) copied, 1 failed or unfinished" in out.stdout + out.stderr
    assert sorted(cohort_status(new)) == ["s0", "s1", "s2"]
