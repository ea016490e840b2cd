"""Cohorts on clusters whose workers retire mid-run, as batch jobs do before their walltime
(dask's worker lifetime: ``dask worker --lifetime``), and the dask-jobqueue set-up that
docs/clusters.md shows.

A retiring worker stops taking tasks, hands the results it holds to a running worker, gives
back the tasks it was running (the scheduler runs them again elsewhere at once) and exits,
once the task its thread is running has ended; with ``lifetime_restart`` its nanny starts a
fresh process. The tests run real worker processes that retire every few seconds while
``write_cohort`` and ``extract_cohort`` run, prove from the scheduler's own events that they
did, and check that every subject and run ends complete and exact, that a lone worker
that keeps retiring still finishes a cohort, and that no complete subject is torn down or
written again while workers retire.
"""

from __future__ import annotations

import ast
import contextlib
import re
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dask
import numpy as np
import pytest
import xarray as xr
from dask.utils import parse_timedelta
from distributed import Client, LocalCluster, Nanny

import roixr
from roixr.cohort import cohort_status, timeseries_status
from roixr.errors import IncompleteCohortWarning

pytestmark = [
    pytest.mark.filterwarnings("ignore::roixr.errors.EmptyRoiWarning"),
    pytest.mark.filterwarnings("ignore::roixr.errors.MissingRoiWarning"),
]

DOCS = Path(__file__).parents[1] / "docs" / "clusters.md"
# seconds: a retiring worker leaves 2 s after it starts, while it imports roixr and runs its
# first task (a fresh worker process needs about 2 s for one here): each retirement
# interrupts roixr's work. Each call starts when a retiring worker has just joined and
# lasts longer than that, so a retirement falls within it however fast or loaded the
# machine is.
LIFETIME = 2.0


# --- the documented dask-jobqueue clusters ----------------------------------------------------


def documented_call(name: str) -> str:
    """The source of the ``name(...)`` call in docs/clusters.md's Python blocks."""
    for block in re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.S):
        for node in ast.walk(ast.parse(block)):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == name:
                return ast.get_source_segment(block, node) or ""
    raise AssertionError(f"docs/clusters.md shows no {name}(...) call")


@pytest.mark.parametrize("name", ["SLURMCluster", "PBSCluster"])
def test_documented_jobqueue_cluster_retires_workers_before_walltime(name, tmp_path,
                                                                     monkeypatch):  # fmt: skip
    """The documented call builds (no batch system is needed to write a job script), and its
    workers retire, all of them, at least a minute before the walltime kills the job."""
    import dask_jobqueue

    monkeypatch.chdir(tmp_path)  # the documented log_directory is relative
    call = documented_call(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the dashboard's port may be taken
        cluster = eval(call, {name: getattr(dask_jobqueue, name)})  # the docs' own text
    with cluster:
        script = cluster.job_script()
    worker = next(line for line in script.splitlines() if "dask_worker" in line)
    lifetime = re.search(r"--lifetime (\S+)", worker)
    stagger = re.search(r"--lifetime-stagger (\S+)", worker)
    walltime = re.search(r"(?:#SBATCH -t |walltime=)(\d+):(\d\d):(\d\d)", script)
    assert lifetime and stagger and walltime, script
    hours, minutes, seconds = map(int, walltime.groups())
    latest = parse_timedelta(lifetime[1]) + parse_timedelta(stagger[1])
    assert latest + 60 <= 3600 * hours + 60 * minutes + seconds
    # the job ends with its worker, and adapt starts a new job: a worker restarted inside
    # the job would be killed by the walltime, ungracefully
    assert "--lifetime-restart" not in worker
    assert "--nthreads 1" in worker  # one subject or run per worker process at a time


# --- clusters of retiring workers ------------------------------------------------------------


@pytest.fixture(scope="module")
def derivatives(tmp_path_factory) -> Path:
    """Four subjects, two tasks of two runs, native and T1w-space series: 32 runs."""
    return roixr.datasets.fmriprep_like(
        tmp_path_factory.mktemp("fmriprep") / "fmriprep", subjects=("01", "02", "03", "04"),
        sessions=None, tasks=("rest", "nback"), runs=2, n_volumes=8,
    )  # fmt: skip


@contextlib.contextmanager
def retiring_cluster(n: int, lifetime: float, steady: bool) -> Iterator[LocalCluster]:
    """``n`` single-threaded worker processes that retire ``lifetime`` seconds after they
    start, each then restarted by its nanny as a fresh process (so they retire again and
    again); with ``steady``, started first, one more, named "steady", that stays."""
    # a worker gone for 15 s (distributed.deploy.lost-worker-timeout) is taken for a lost
    # job and its nanny closed: a restarting worker may be gone at that moment
    with dask.config.set({"distributed.deploy.lost-worker-timeout": "1h"}), LocalCluster(
        n_workers=0, threads_per_worker=1, processes=True, dashboard_address=":0",
        lifetime=f"{lifetime}s", lifetime_restart=True,
    ) as cluster:  # fmt: skip
        if steady:
            options = {**cluster.new_spec["options"], "lifetime": None,
                       "lifetime_restart": False}  # fmt: skip
            cluster.worker_spec["steady"] = {"cls": Nanny, "options": options}
            cluster.scale(1)  # starts the one added to the spec
            cluster.wait_for_workers(1, timeout=120)
        cluster.scale(n + steady)
        cluster.wait_for_workers(n + steady, timeout=120)
        yield cluster


async def _drop_closed_nannies(cluster) -> list:
    dead = [name for name, nanny in cluster.workers.items()
            if name != "steady" and nanny.status.name in ("closed", "failed")]  # fmt: skip
    for name in dead:
        del cluster.workers[name]
    return dead


def revive(cluster) -> None:
    """Start a new nanny for a retiring worker whose nanny distributed closed: a heartbeat
    the retiring worker sends just after the scheduler removed it makes it close its nanny
    too ("Scheduler was unaware of this worker; shutting down"), and nothing restarts it."""
    if cluster.sync(_drop_closed_nannies, cluster):
        cluster.scale(len(cluster.worker_spec))  # starts what the spec has and runs not


def _joined_just_now(dask_scheduler, young: float) -> float | None:
    running = {address for address, ws in dask_scheduler.workers.items()
               if ws.name != "steady" and ws.status.name == "running"}  # fmt: skip
    now = time.time()
    joined = [stamp for stamp, e in dask_scheduler.get_events("all")
              if isinstance(e, dict) and e.get("action") == "add-worker"
              and e.get("worker") in running and now - stamp < young]  # fmt: skip
    return max(joined, default=None)


def fresh_worker(client, young: float = 0.5) -> float:
    """Wait until a retiring worker has joined within ``young`` seconds and runs (nearly all
    its lifetime is ahead, so a call started now is under way when it retires); return
    when it joined."""
    deadline = time.monotonic() + 120
    while (joined := client.run_on_scheduler(_joined_just_now, young=young)) is None:
        assert time.monotonic() < deadline, "no retiring worker joined in 120 s"
        revive(client.cluster)
        time.sleep(0.01)
    return joined


def settled(client) -> None:
    """Wait until no retired worker's process is left. A nanny starts a new process only
    once the old one has exited, that is once the task its thread was still running has
    ended: a worker retired while it prepared a subject goes on writing its own copy of it
    for a few seconds (test_a_complete_subject_stays_complete_while_workers_retire)."""
    deadline = time.monotonic() + 120
    while True:
        registered = set(client.scheduler_info()["workers"])
        waiting = [name for name, nanny in client.cluster.workers.items()
                   if name != "steady" and nanny.status.name not in ("closed", "failed")
                   and nanny.worker_address not in registered]  # fmt: skip
        if not waiting:
            return
        assert time.monotonic() < deadline, f"retired workers never replaced: {waiting}"
        time.sleep(0.05)


def events(client, action: str, since: float) -> list[dict]:
    """The scheduler's events ``action`` (``add-worker``, ``remove-worker``) since ``since``."""
    return [event for stamp, event in client.get_events("all") if stamp >= since
            and isinstance(event, dict) and event.get("action") == action]  # fmt: skip


def retirements(client, since: float, until: float = float("inf")) -> list[dict]:
    """Workers removed from ``since`` to ``until`` because they asked to leave (an expected
    removal is a retirement; a crash is not)."""
    return [event for stamp, event in client.get_events("all") if since <= stamp <= until
            and isinstance(event, dict) and event.get("action") == "remove-worker"
            and event["expected"]]  # fmt: skip


def handed_back(retired: list[dict]) -> set[str]:
    """The kinds of roixr task (write, masks, series) these retirements gave back."""
    return {str(k).split("-")[1] for e in retired for k in e["processing-tasks"]
            if str(k).startswith("roixr-")}  # fmt: skip


def run_by_hand(row: dict) -> xr.DataArray:
    """One run's ROI time series without a cluster, as test_extract checks them."""
    subject = roixr.Subject.from_surfaces(
        white=(row["white_L"], row["white_R"]), pial=(row["pial_L"], row["pial_R"]),
        name=f"sub-{row['subject']}",
    )  # fmt: skip
    label = Path(row["freesurfer"]) / "label"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the fixture's warnings, checked elsewhere
        annots = (label / "lh.aparc.annot", label / "rh.aparc.annot")
        masks = roixr.roi_masks(subject, (row["reference"], row["registration"]), source=annots)
        return roixr.roi_timeseries(roixr.open_nifti(row["bold"]), masks).compute()


def write_watched(client, subjects: dict, store: Path, seconds: float,
                  linger: float = 0.0) -> tuple[bool, set[str], dict]:  # fmt: skip
    """Run write_cohort in a thread while watching the store: whether it returned within
    ``seconds``, the subjects torn down or rewritten after they were complete (until
    ``linger`` seconds after it returned; the watch stops at the first), and its outcome."""
    outcome: dict[str, Any] = {}

    def write() -> None:
        try:
            outcome["written"] = roixr.write_cohort(subjects, store, client=client)
        except BaseException as err:  # the cluster closed under it: reported by the caller
            outcome["error"] = err

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    outcome["thread"] = thread
    stamps: dict[str, int] = {}  # the group's zarr.json when first seen complete
    rewritten: set[str] = set()
    deadline = time.monotonic() + seconds
    ended = None
    while not rewritten and time.monotonic() < deadline:
        revive(client.cluster)  # a worker that retires keeps coming back
        if ended is None and not thread.is_alive():
            ended = time.monotonic()
        if ended is not None and time.monotonic() > ended + linger:
            break
        for name in subjects:
            try:
                complete = roixr.store.is_complete(store, name)
                stamp = (store / name / "zarr.json").stat().st_mtime_ns
            except Exception:  # being removed or written
                complete, stamp = False, 0
            if complete and name not in stamps:
                stamps[name] = stamp
            elif name in stamps and (not complete or stamp != stamps[name]):
                rewritten.add(name)
        time.sleep(0.01)
    return ended is not None, rewritten, outcome


def finish(outcome: dict) -> None:
    """After the cluster closed: write_cohort's thread has ended (the closed client ends its
    waits), so no thread outlives the test."""
    outcome["thread"].join(timeout=60)
    assert not outcome["thread"].is_alive(), "write_cohort still runs after its cluster closed"


# --- one worker that keeps retiring, with no peer to take its results --------------------


def test_write_cohort_on_one_worker_that_keeps_retiring(synth_dir, tmp_path):
    """One worker retiring 5 s after it starts, restarted each time: no running worker takes
    its results, as when every job of a batch cluster reaches its lifetime before adapt's
    new ones start. The cohort (more than one lifetime writes here) must finish, and
    nothing complete be written again."""
    store = tmp_path / "cohort.zarr"
    subjects = {f"sub-{i:02d}": (synth_dir, "fullhead") for i in range(60)}
    with retiring_cluster(1, 5.0, steady=False) as cluster, Client(cluster) as client:
        fresh_worker(client, young=1.0)
        finished, rewritten, outcome = write_watched(client, subjects, store, 40)
    finish(outcome)
    assert not rewritten, f"complete subjects written again: {sorted(rewritten)}"
    assert finished and "error" not in outcome, outcome.get("error", "not finished in 40 s")
    assert {s["status"] for s in cohort_status(store).values()} == {"complete"}


# --- a cohort while workers retire beside a steady one -------------------------------------


@pytest.fixture(scope="module")
def retiring_client():
    """A worker retiring every few seconds beside one that stays: as on a cluster of jobs
    with staggered lifetimes, a running worker is always there to take over a retiring
    one's results."""
    with retiring_cluster(1, LIFETIME, steady=True) as cluster, Client(cluster) as c:
        yield c


def test_cohort_complete_while_workers_retire(retiring_client, derivatives, synth_dir,
                                              tmp_path):  # fmt: skip
    """write_cohort and extract_cohort at once while a worker keeps retiring and restarting:
    every run and subject complete after one call (a retirement fails nothing; a subject
    that a retired worker's late copy left unfinished is written by one re-run), and exact;
    the scheduler's events prove that workers retired during each call."""
    client = retiring_client
    xfms = ("fullhead", "oblique")
    subjects = {f"sub-{i:02d}": (synth_dir, xfms[i % 2]) for i in range(48)}  # two grids
    runs = roixr.find_runs(derivatives)
    assert len(runs) == 32 and runs.problem.isna().all()
    outcome: dict[str, Any] = {}

    def write() -> None:
        try:
            outcome["written"] = roixr.write_cohort(subjects, tmp_path / "cohort.zarr",
                                                    client=client)  # fmt: skip
        except BaseException as err:  # reported below
            outcome["error"] = err
        outcome["ended"] = time.time()

    fresh_worker(client)
    began = time.time()  # the scheduler runs in this process, on this clock
    thread = threading.Thread(target=write)
    thread.start()
    done = roixr.extract_cohort(runs, tmp_path / "ts.zarr", source="aparc", client=client)
    extracted = time.time()
    thread.join(timeout=600)
    assert not thread.is_alive() and "error" not in outcome, outcome.get("error")
    assert sorted(outcome["written"]) == sorted(subjects)
    assert len(done) == 32

    # the proof: the worker retired during each call, handing roixr's tasks back to be run
    # again elsewhere, and its nanny started new worker processes
    during_write = retirements(client, began, outcome["ended"])
    during_extract = retirements(client, began, extracted)
    assert during_write and during_extract
    assert handed_back(during_write + during_extract) & {"write", "masks", "series"}
    assert events(client, "add-worker", began)

    # the late copies of subjects by retired workers ended; one of them cut short (its
    # process stopped) leaves its subject unfinished, as docs/clusters.md says: the re-run
    # that it calls for redoes that subject only (extract_cohort needs none)
    settled(client)
    left = [n for n, s in cohort_status(tmp_path / "cohort.zarr").items()
            if s["status"] != "complete"]  # fmt: skip
    if left:
        assert len(left) <= 2, left
        again = roixr.write_cohort(subjects, tmp_path / "cohort.zarr", client=client)
        assert sorted(again) == sorted(left)
        settled(client)
    status = cohort_status(tmp_path / "cohort.zarr")
    assert len(status) == 48 and {s["status"] for s in status.values()} == {"complete"}
    with warnings.catch_warnings():
        warnings.simplefilter("error", IncompleteCohortWarning)
        tree = roixr.open_cohort(tmp_path / "cohort.zarr")
    expected = {x: roixr.roi_masks(synth_dir, x).compute(scheduler="sync") for x in xfms}
    for name, (_, xfm) in subjects.items():
        xr.testing.assert_identical(tree[name]["roi_masks"].compute(), expected[xfm])

    status = timeseries_status(tmp_path / "ts.zarr")
    assert {s["status"] for s in status.values()} == {"complete"}
    with warnings.catch_warnings():
        warnings.simplefilter("error", IncompleteCohortWarning)
        ds = roixr.open_timeseries(tmp_path / "ts.zarr")
    for row in runs.to_dict("records")[::7]:  # both tasks and spaces, four subjects
        want = run_by_hand(row)
        got = ds.roi_timeseries.isel(run=list(ds.bold.values).index(row["bold"]))
        got = got.sel(roi=want.roi.values).isel(time=slice(0, want.sizes["time"]))
        np.testing.assert_array_equal(got, want)


def test_a_complete_subject_stays_complete_while_workers_retire(retiring_client, synth_dir,
                                                               tmp_path):  # fmt: skip
    """A worker retiring 2 s after it starts, while it imports roixr and samples its first
    subject, beside one that stays: once complete, no subject may be torn down or
    rewritten, during the call or after it returned."""
    client = retiring_client
    store = tmp_path / "cohort.zarr"
    subjects = {f"sub-{i:02d}": (synth_dir, "fullhead") for i in range(24)}
    # the steady worker warm (roixr imported, its kernels loaded): it finishes a subject
    # given back well before the retired worker's late copy of it gets going
    steady = [a for a, w in client.scheduler_info()["workers"].items() if w["name"] == "steady"]
    client.submit(roixr.roi_masks, synth_dir, "fullhead", workers=steady, pure=False).result()
    # started 0.9 s before a fresh worker retires: it is importing roixr and sampling its
    # first subject then, before it removes and writes the subject's group
    joined = fresh_worker(client)
    time.sleep(max(0.0, joined + LIFETIME - 0.9 - time.time()))
    since = time.time()
    finished, rewritten, outcome = write_watched(client, subjects, store, 40, linger=5)
    given_back = handed_back(retirements(client, since, time.time()))
    outcome["thread"].join(timeout=120)  # the cluster is the module's: write_cohort ends
    assert not outcome["thread"].is_alive()
    assert given_back >= {"write"}  # the case arose: a retiring worker gave a subject back
    assert not rewritten, f"complete subjects torn down or rewritten: {sorted(rewritten)}"
    assert finished and "error" not in outcome, outcome.get("error", "not finished in 40 s")
    assert {s["status"] for s in cohort_status(store).values()} == {"complete"}
