"""Cohorts on a real dask.distributed LocalCluster: parallel writes, faults, re-runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import xarray as xr
from distributed import Client, LocalCluster

import roixr
from roixr.cohort import unfinished
from roixr.errors import CohortError, IncompleteStoreError, OptionError

pytestmark = [
    pytest.mark.filterwarnings("ignore::roixr.errors.EmptyRoiWarning"),
]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """Ten synthetic subjects, alternating between the axis-aligned and oblique transforms."""
    root = tmp_path_factory.mktemp("cohort")
    return {
        f"sub-{i:02d}": (
            roixr.datasets.synthetic_subject(root / f"sub{i:02d}"),
            "oblique" if i % 2 else "fullhead",
        )
        for i in range(10)
    }


def serial(subject, xfm, **options):
    return roixr.roi_masks(subject, xfm, **options).compute(scheduler="sync")


def test_cohort_masks_is_lazy_per_subject_grid(cohort):
    tree = roixr.cohort_masks(cohort, rois=["V1", "CUT"])
    assert set(tree.children) == set(cohort)
    assert tree["sub-00"]["roi_masks"].shape[2:] != tree["sub-01"]["roi_masks"].shape[2:]
    assert all(node["roi_masks"].chunks for node in tree.children.values())


def test_write_cohort_on_two_worker_processes(cohort, client, tmp_path):
    store = tmp_path / "cohort.zarr"
    written = roixr.write_cohort(cohort, store, client=client, sampler="cortical-liberal",
                                 chunks=16)  # fmt: skip
    assert sorted(written) == sorted(cohort)
    assert len(client.scheduler_info()["workers"]) == 2
    tree = roixr.open_cohort(store)
    for name, (subject, xfm) in cohort.items():
        expected = serial(subject, xfm, sampler="cortical-liberal")
        xr.testing.assert_identical(tree[name]["roi_masks"].compute(), expected)
    # a re-run finds everything complete and writes nothing
    assert roixr.write_cohort(cohort, store, client=client, sampler="cortical-liberal") == []


def test_adding_subjects_later_keeps_the_others(cohort, client, tmp_path):
    store = tmp_path / "c.zarr"
    first = dict(list(cohort.items())[:3])
    roixr.write_cohort(first, store, client=client)
    stamp = (store / "sub-00" / "zarr.json").stat().st_mtime_ns
    assert sorted(roixr.write_cohort(cohort, store, client=client)) == sorted(cohort)[3:]
    assert (store / "sub-00" / "zarr.json").stat().st_mtime_ns == stamp
    assert set(roixr.open_cohort(store).children) == set(cohort)


def test_concurrent_writers_of_different_subjects(cohort, client, tmp_path):
    store = tmp_path / "c.zarr"
    names = sorted(cohort)
    halves = [{n: cohort[n] for n in names[:5]}, {n: cohort[n] for n in names[5:]}]
    roixr.write_cohort({names[0]: cohort[names[0]]}, store, client=client, sampler="thin")
    errors = []

    def run(part):
        try:
            roixr.write_cohort(part, store, client=client, sampler="thin")
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=run, args=(h,)) for h in halves]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    tree = roixr.open_cohort(store)
    for name in names[1:]:
        subject, xfm = cohort[name]
        xr.testing.assert_identical(tree[name]["roi_masks"].compute(),
                                    serial(subject, xfm, sampler="thin"))  # fmt: skip


def test_worker_killed_while_computing(cohort, tmp_path):
    """A worker process dies mid-run; the scheduler reruns its tasks and nothing is lost."""
    store = tmp_path / "c.zarr"
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as c:  # fmt: skip
        pids = c.run(os.getpid)
        result = {}
        thread = threading.Thread(
            target=lambda: result.setdefault("written", roixr.write_cohort(
                cohort, store, client=c, sampler="cortical-liberal", chunks=6)),
        )  # fmt: skip
        thread.start()
        deadline = time.monotonic() + 60
        while not any(p.name == "zarr.json" for p in store.rglob("*")):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.kill(next(iter(pids.values())), signal.SIGKILL)
        killed_before_done = thread.is_alive()
        thread.join(timeout=300)
    assert killed_before_done
    assert sorted(result["written"]) == sorted(cohort)
    tree = roixr.open_cohort(store)
    for name, (subject, xfm) in cohort.items():
        expected = serial(subject, xfm, sampler="cortical-liberal")
        xr.testing.assert_identical(tree[name]["roi_masks"].compute(), expected)


WRITER = textwrap.dedent(
    """
    import sys, warnings
    warnings.simplefilter("ignore")
    import roixr
    from distributed import Client, LocalCluster
    store, *folders = sys.argv[1:]
    subjects = {f"s{i}": (f, "fullhead") for i, f in enumerate(folders)}
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False) as cluster:
        with Client(cluster) as client:
            roixr.write_cohort(subjects, store, client=client, sampler="cortical-liberal",
                               chunks=4)
    """
)


def test_writer_killed_half_way_then_rerun(cohort, tmp_path):
    store = tmp_path / "c.zarr"
    folders = [str(s) for s, _ in cohort.values()][:6]
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(store), *folders])
    deadline = time.monotonic() + 120
    try:
        # wait until some subjects are complete but not all, then kill the writer
        while True:
            assert time.monotonic() < deadline, "the writer never got half-way"
            assert proc.poll() is None, "the writer finished before it could be killed"
            if (store / "zarr.json").exists():
                done = [f"s{i}" for i in range(6) if roixr.store.is_complete(store, f"s{i}")]
                if 1 <= len(done) < 6:
                    break
            time.sleep(0.02)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    left = unfinished(store)
    assert left, "nothing was left unfinished"
    with pytest.raises(IncompleteStoreError, match="did not finish") as info:
        roixr.open_cohort(store, strict=True)
    for name in left:
        assert name in str(info.value)
    subjects = {f"s{i}": (f, "fullhead") for i, f in enumerate(folders)}
    with LocalCluster(n_workers=1, processes=False) as cluster, Client(cluster) as c:
        redone = roixr.write_cohort(subjects, store, client=c, sampler="cortical-liberal")
    assert set(left) <= set(redone) and len(redone) < 6
    tree = roixr.open_cohort(store)
    for name, (folder, xfm) in subjects.items():
        xr.testing.assert_identical(tree[name]["roi_masks"].compute(),
                                    serial(folder, xfm, sampler="cortical-liberal"))  # fmt: skip


def test_bad_cohorts(cohort, tmp_path, client):
    with pytest.raises(OptionError, match="non-empty mapping"):
        roixr.cohort_masks({})
    with pytest.raises(OptionError, match="cannot name a group"):
        roixr.cohort_masks({"a/b": next(iter(cohort.values()))})
    with pytest.raises(OptionError, match=r"\(subject, xfm\) pair"):
        roixr.cohort_masks({"a": "sub"})
    broken = {"ok": next(iter(cohort.values())), "bad": (next(iter(cohort.values()))[0], "nope")}
    with pytest.raises(
        CohortError,
        match=r"1 of 2 subjects failed(.|\n)*bad: TransformNotFoundError: .*no transform 'nope'",
    ):
        roixr.write_cohort(broken, tmp_path / "b.zarr", client=client)
    assert roixr.store.is_complete(tmp_path / "b.zarr", "ok")  # the other one was written
    assert issubclass(CohortError, roixr.errors.RoixrError)
