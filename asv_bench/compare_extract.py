"""Cohorts from derivatives: ``find_runs``, ``extract_cohort`` and ``open_timeseries`` on a
1,000-subject synthetic tree, and real-size runs against nilearn, side by side in one run.

    python asv_bench/compare_extract.py [--subjects 100 1000] [--runs 2]
                                        [--real-subjects 10] [--real-runs 2] [--volumes 400]
                                        [--repeat 1] [--tmp /tmp]
                                        [--skip-synthetic] [--skip-real] [--no-variants]

**Synthetic tree** (``--subjects``): :func:`roixr.datasets.fmriprep_like` writes
max(subjects) subjects × ``--runs`` runs in ``space-T1w`` (the synthetic subject's anatomy,
a 52 × 22 × 10 grid of 2 mm, 12 volumes, FreeSurfer ``aparc`` annotations; every file
written, none linked); a cohort size is that tree's first subjects
(``find_runs(..., subjects=)``). For each size: a fresh ``LocalCluster`` (2 worker
processes, 1 thread each) in its own process, and a fresh client process that times
``find_runs`` and ``extract_cohort(source="aparc")`` into a new store, then reads the peak
resident memory (``VmHWM``, the kernel's high-water mark of each process, not a sample) of
the scheduler's process (``client.run_on_scheduler``), of each worker (``client.run``) and
of itself, the scheduler's total task time per kind (masks, series) and how much of it
the tasks' thread was on a CPU (distributed's metrics), and, from distributed's task
stream, each worker's time outside tasks: before its first task, between the masks and the
series phases, between tasks, after its last task. The per-run
overhead is ``wall × workers / runs`` minus the reduction itself: ``roi_timeseries`` of
one run on its masks held in memory (synchronous scheduler, one decoder thread, as on a
worker; median of 5 after a first call). Then: the store's files, and ``open_timeseries``
timed in fresh processes (median of 3). Unless ``--no-variants``, each size is also
extracted on a cluster whose workers' statistical profiler is off
(``distributed.worker.profile.enabled``: its history, one entry per second of a run, is
what grows in a worker), before the default cluster.

**Real-size runs** (``--real-subjects`` × ``--real-runs``): pycortex's S1 under as many
subject names, as an fMRIPrep tree (``anat/*_hemi-{L,R}_{white,pial}.surf.gii`` and the
T1w hard-linked to S1's files; ``space-T1w`` runs, so the masks are made once per
subject): S1's ``fullhead`` EPI grid (100 × 100 × 31, 2.24 × 2.24 × 4.13 mm) expressed in
the anatomical space, so the registration is ``identity``. Each run is ``--volumes``
float32 volumes written by nibabel as ``.nii.gz`` (gzip level 1, nibabel's default): S1's
mean EPI (``reference.nii.gz``) as the baseline, zero outside the head (S1's reference >
100, holes filled), times 1 + 1% smooth spatial components with slow time courses, plus 2%
thermal noise and a slow drift, rounded to integers as scanners store them. The ROIs are
S1's 32 overlay ROIs (``roi_verts``), given to roixr as vertices and to nilearn as the
masks' index volume on the run's grid (``labels_img``: ROI i is 2i - 1 left, 2i right;
``resampling_target=None``, so nilearn resamples nothing), strategy mean. Each tool is a
fresh process, interleaved (the order alternating between repeats): roixr starts a
2-worker ``LocalCluster`` (1 thread each) and runs ``find_runs`` and ``extract_cohort``
(the masks included: nilearn is given them); nilearn loops ``NiftiLabelsMasker(...).fit()``
per subject and ``.transform`` per run in one process. Unless ``--no-variants``, also:
roixr on a cluster whose workers are spawned without the ``MALLOC_TRIM_THRESHOLD_=65536``
that distributed puts in their environment, and nilearn's loop split over two processes
with joblib. Checked: roixr and nilearn give the same series for the first run. Then one
run part by part in a fresh single-threaded process (what a worker does), with and
without the workers' environment: sampling and writing the masks, reading them, inflating
the ``.nii.gz``, the reduction, writing the run's chunk.

Prints the machine's cores and load average, every measurement and markdown tables. Each
tree is written under ``--tmp`` and removed at the end.
"""

from __future__ import annotations

import argparse
import compileall
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nibabel as nib
import numpy as np

import roixr
from roixr.datasets import pycortex_sample_subject

TR = 2.0
WORKERS = 2

# A LocalCluster in its own process: the scheduler's memory is then the scheduler's only.
CLUSTER = """
import sys, warnings
warnings.simplefilter("ignore")
import dask
from distributed import LocalCluster
if __name__ == "__main__":
    if sys.argv[2] == "no-malloc-trim":  # unset what distributed sets in workers' environment
        dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None})
    if sys.argv[2] == "no-profiler":  # the workers' statistical profiler (its history) off
        dask.config.set({"distributed.worker.profile.enabled": False})
    with LocalCluster(n_workers=int(sys.argv[1]), threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        print(cluster.scheduler_address, flush=True)
        sys.stdin.read()  # until the parent closes our stdin
"""

# The client: find_runs and extract_cohort, then memory peaks and the reduction alone.
EXTRACT = """
import json, os, sys, time, warnings
warnings.simplefilter("ignore")
start = time.perf_counter()
import numpy as np
import dask
import roixr
from distributed import Client, get_task_stream
roixr.find_runs, roixr.extract_cohort, roixr.open_timeseries  # first use imports them
from roixr.timeseries import open_nifti, roi_timeseries
imported = time.perf_counter()
address, root, store, n_subjects, source, out = sys.argv[1:7]

def memory():
    with open("/proc/self/status") as f:
        fields = dict(line.split(":", 1) for line in f)
    return {k: int(fields[k].split()[0]) / 1024 for k in ("VmHWM", "VmRSS")}

def cpu():
    t = os.times()
    return {"user": t.user, "system": t.system}

def metrics(dask_scheduler=None):  # seconds on and off CPU in tasks, per kind of task
    return {f"{k[1]}:{k[2]}": v for k, v in dask_scheduler.cumulative_worker_metrics.items()
            if isinstance(k, tuple) and len(k) == 4 and k[0] == "execute"
            and str(k[1]).startswith("roixr-") and k[3] == "seconds"}

def idle(records, begin, end):  # each worker's time outside tasks, by where it falls
    out = {"start": 0.0, "switch": 0.0, "between": 0.0, "end": 0.0}
    spans = {}
    for r in records:
        for s in r["startstops"]:
            if s["action"] == "compute":
                kind = "masks" if str(r["key"]).startswith("roixr-masks") else "series"
                spans.setdefault(r["worker"], []).append((s["start"], s["stop"], kind))
    for w in spans.values():
        w.sort()
        out["start"] += w[0][0] - begin
        out["end"] += end - w[-1][1]
        for (_, stop, a), (start, _, b) in zip(w, w[1:]):
            out["switch" if a != b else "between"] += max(0.0, start - stop)
    return out

def prefixes(dask_scheduler=None):
    return {name: dict(tp.all_durations) for name, tp in dask_scheduler.task_prefixes.items()
            if name.startswith("roixr-")}

client = Client(address)
client.run(warnings.simplefilter, "ignore")
labels = None if n_subjects == "all" else [f"{i:04d}" for i in range(int(n_subjects))]
if source != "aparc":  # ROI vertices: {name: {"L": vertices, "R": vertices}}
    with np.load(source) as f:
        source = {str(n): {"L": f["L:" + n], "R": f["R:" + n]} for n in f["names"]}
begin = time.perf_counter()
runs = roixr.find_runs(root, subjects=labels)
found = time.perf_counter()
with get_task_stream(client) as stream:
    started = time.time()
    roixr.extract_cohort(runs, store, source=source, client=client)
    ended = time.time()
done = time.perf_counter()
gaps = idle(stream.data, started, ended)
peaks = {"scheduler": client.run_on_scheduler(memory), "workers": client.run(memory),
         "client": memory()}
tasks = client.run_on_scheduler(prefixes)
split = client.run_on_scheduler(metrics)
workers_cpu = client.run(cpu)
client.close()
ds = roixr.open_timeseries(store)
first = ds.isel(run=0)
group, bold = str(first.masks_group.values), str(first.bold.values)
masks = roixr.open_roi_masks(store, group=group).compute()
np.save(out + "/roixr_first.npy", first.roi_timeseries.sel(roi=masks.roi.values).values)
reduce = []
with dask.config.set({"scheduler": "sync", "roixr.gzip-threads": 1}):
    for _ in range(6):  # as on a one-thread worker; the first call pays one-off costs
        b = time.perf_counter()
        roi_timeseries(open_nifti(bold), masks, "mean").values
        reduce.append(time.perf_counter() - b)
print(json.dumps({"imports": imported - start, "find": found - begin, "extract": done - found,
                  "runs": int(ds.sizes["run"]), "groups": len(set(ds.masks_group.values)),
                  "rois": int(ds.sizes["roi"]), "volumes": int(ds.sizes["time"]),
                  "reduce": sorted(reduce[1:])[2], "peaks": peaks, "tasks": tasks,
                  "cpu": workers_cpu, "split": split, "idle": gaps, "first_bold": bold}))
"""

OPEN = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
start = time.perf_counter()
import roixr
roixr.open_timeseries
imported = time.perf_counter()
ds = roixr.open_timeseries(sys.argv[1])
n = ds.sizes["run"]
done = time.perf_counter()
print(json.dumps({"call": done - imported, "imports": imported - start, "runs": n}))
"""

NILEARN = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
start = time.perf_counter()
import numpy as np
from nilearn.maskers import NiftiLabelsMasker
import joblib
imported = time.perf_counter()
plan, jobs, out = json.loads(open(sys.argv[1]).read()), int(sys.argv[2]), sys.argv[3]

def subject(labels, bolds):
    import warnings
    warnings.simplefilter("ignore")
    masker = NiftiLabelsMasker(labels_img=labels, strategy="mean", resampling_target=None)
    masker.fit()
    ids = [int(v) for k, v in masker.region_ids_.items() if k != "background"]
    return ids, [masker.transform(b) for b in bolds]

begin = time.perf_counter()
if jobs == 1:
    results = [subject(s["labels"], s["bolds"]) for s in plan]
else:
    results = joblib.Parallel(n_jobs=jobs)(joblib.delayed(subject)(s["labels"], s["bolds"])
                                           for s in plan)
done = time.perf_counter()
with open("/proc/self/status") as f:
    peak = next(int(l.split()[1]) for l in f if l.startswith("VmHWM")) / 1024
np.save(out + f"/nilearn{jobs}_first.npy", results[0][1][0])
print(json.dumps({"call": done - begin, "imports": imported - start, "peak_mb": peak,
                  "labels": results[0][0], "first_bold": plan[0]["bolds"][0],
                  "runs": sum(len(r[1]) for r in results)}))
"""

# One run as a worker does it, part by part, in one thread (medians of 3 after a first call).
PROFILE = """
import json, shutil, sys, time, warnings
warnings.simplefilter("ignore")
import numpy as np, dask, zarr
import roixr
from roixr.cohort.series_store import write_run
from roixr.store.format import SERIES
from roixr.timeseries import open_nifti, roi_timeseries
from isal import igzip
store, group, bold, reference, surfaces, source, scratch = sys.argv[1:8]
surfaces = json.loads(surfaces)
with np.load(source) as f:
    source = {str(n): {"L": f["L:" + n], "R": f["R:" + n]} for n in f["names"]}
dask.config.set({"scheduler": "sync", "roixr.gzip-threads": 1})
masks = roixr.open_roi_masks(store, group=group).compute()
shape = (1, masks.sizes["roi"], 2, open_nifti(bold).sizes["time"])  # as the store's chunks
zarr.open_group(scratch, mode="w", zarr_format=3).create_array(
    SERIES, shape=shape, chunks=shape, dtype="float32", fill_value=np.nan)
rows = list(range(masks.sizes["roi"]))
plain = scratch + "/bold.nii"  # the same run uncompressed (a .nii.gz inflates to a .nii)
with igzip.open(bold, "rb") as src, open(plain, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 24)

def sample():
    subject = roixr.Subject.from_surfaces(white=surfaces["white"], pial=surfaces["pial"],
                                          name="sub-x")
    return roixr.roi_masks(subject, (reference, "identity"), source=source).compute()

def decode():
    buf = bytearray(8 << 20)
    with igzip.open(bold, "rb") as f:
        while f.readinto(buf):
            pass

def timed(t, label, fn):
    b = time.perf_counter()
    out = fn()
    t[label] = time.perf_counter() - b
    return out

def parts():
    t = {}
    m = timed(t, "masks: sample them (per subject)", sample)
    timed(t, "masks: write them to the store (per subject)",
          lambda: roixr.to_zarr(m, scratch + "/m.zarr", mode="w"))
    timed(t, "series: read the masks from the store",
          lambda: roixr.open_roi_masks(store, group=group).compute())
    timed(t, "series: inflate the .nii.gz alone (isal, 1 thread)", decode)
    v = timed(t, "series: roi_timeseries of the .nii.gz (inflate + reduction)",
              lambda: roi_timeseries(open_nifti(bold), masks, "mean")
              .transpose("roi", "hemisphere", ...).values)
    timed(t, "series: roi_timeseries of the same run as .nii (reduction, memory-mapped)",
          lambda: roi_timeseries(open_nifti(plain), masks, "mean").values)
    timed(t, "series: write the run's chunk to the store",
          lambda: write_run(scratch, 0, rows, v.astype(np.float32)))
    return t

parts()  # one-off costs (imports, first compute) paid, as on a worker after its first task
runs = [parts() for _ in range(3)]
print(json.dumps({k: sorted(r[k] for r in runs)[1] for k in runs[0]}))
"""


def cores() -> str:
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    return f"{os.cpu_count()} cores ({affinity} usable by this process), load average {load}"


def child(code: str, *args: object, env: dict | None = None) -> tuple[dict, float]:
    """Run ``code`` in a fresh interpreter; its last stdout line as JSON, and its wall time."""
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code, *map(str, args)],
                         capture_output=True, text=True, env=env)  # fmt: skip
    if out.returncode:
        raise RuntimeError(f"child failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1]), time.perf_counter() - start


class Cluster:
    """A 2-worker LocalCluster in a process of its own (started, timed, closed); ``mode``
    "no-malloc-trim" spawns its workers without distributed's ``MALLOC_TRIM_THRESHOLD_``,
    "no-profiler" with ``distributed.worker.profile.enabled`` False."""

    def __init__(self, mode: str = "default") -> None:
        self.mode = mode

    def __enter__(self) -> Cluster:
        start = time.perf_counter()
        self.proc = subprocess.Popen([sys.executable, "-c", CLUSTER, str(WORKERS), self.mode],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)  # fmt: skip
        assert self.proc.stdout is not None
        self.address = self.proc.stdout.readline().strip()
        if not self.address:
            raise RuntimeError("the LocalCluster did not start")
        self.startup = time.perf_counter() - start
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def extract(root: Path, store: Path, n_subjects: str, source: str, out: Path,
            mode: str = "default") -> dict:  # fmt: skip
    """A fresh cluster and client process: find_runs + extract_cohort into a new store."""
    shutil.rmtree(store, ignore_errors=True)
    with Cluster(mode) as cluster:
        result, wall = child(EXTRACT, cluster.address, root, store, n_subjects, source, out)
    result["process"] = wall
    result["cluster_start"] = cluster.startup
    return result


def store_files(store: Path) -> tuple[int, int]:
    n = size = 0
    for folder, _, files in os.walk(store):
        n += len(files)
        size += sum(os.path.getsize(os.path.join(folder, f)) for f in files)
    return n, size


def task_seconds(result: dict, kind: str) -> float:
    """Seconds the scheduler counted in ``kind`` tasks ("masks" or "series"), all workers."""
    return float(result["tasks"].get(f"roixr-{kind}", {}).get("compute", 0.0))


def cpu_seconds(result: dict, kind: str) -> float:
    """Of those, the seconds the task's thread was on a CPU (distributed's own metrics; the
    rest is waiting: for the disk, for the GIL, for a core other processes hold)."""
    return float(result["split"].get(f"roixr-{kind}:thread-cpu", 0.0))


def worker_cpu(result: dict) -> float:
    """CPU seconds (user + system, every thread) of the workers over their lives."""
    return sum(c["user"] + c["system"] for c in result["cpu"].values())


def mib(v: float) -> str:
    return f"{v:.0f} MB"


# --- the synthetic tree ------------------------------------------------------------------


def synthetic(args: argparse.Namespace, tmp: Path) -> None:
    n_max = max(args.subjects)
    start = time.perf_counter()
    root = roixr.datasets.fmriprep_like(
        tmp / "fmriprep", subjects=[f"{i:04d}" for i in range(n_max)], sessions=None,
        tasks=["rest"], runs=args.runs, spaces=["T1w"],
    )  # fmt: skip
    written = time.perf_counter() - start
    n_files, size = store_files(root)
    print(f"synthetic tree: {n_max} subjects × {args.runs} runs (space-T1w, 52×22×10, 12 "
          f"volumes) written by fmriprep_like in {written:.1f} s: {n_files} files, "
          f"{size / 1e6:.0f} MB, no hard links", flush=True)  # fmt: skip
    results: dict[int, list[dict]] = {n: [] for n in args.subjects}
    quiet: dict[int, list[dict]] = {n: [] for n in args.subjects}  # workers' profiler off
    opened: dict[int, list[dict]] = {n: [] for n in args.subjects}
    files: dict[int, tuple[int, int]] = {}
    for r in range(args.repeat):
        for n in args.subjects:
            store = tmp / f"ts{n}.zarr"
            if not args.no_variants:
                q = extract(root, store, str(n), "aparc", tmp, "no-profiler")
                quiet[n].append(q)
                print(f"[{r + 1}/{args.repeat}] {n} subjects, workers' profiler off: "
                      f"extract_cohort {q['extract']:.1f} s, worker peaks "
                      f"{[round(m['VmHWM']) for m in q['peaks']['workers'].values()]} MB; "
                      f"load {os.getloadavg()[0]:.1f}", flush=True)  # fmt: skip
            res = extract(root, store, str(n), "aparc", tmp)
            results[n].append(res)
            files[n] = store_files(store)
            for _ in range(3):
                o, wall = child(OPEN, store)
                o["process"] = wall
                opened[n].append(o)
            w = res["peaks"]["workers"]
            print(f"[{r + 1}/{args.repeat}] {n} subjects, {res['runs']} runs, {res['groups']} "
                  f"masks groups: find_runs {res['find']:.2f} s, extract_cohort "
                  f"{res['extract']:.1f} s (masks tasks {task_seconds(res, 'masks'):.1f} s, "
                  f"{cpu_seconds(res, 'masks'):.1f} s on CPU; series tasks "
                  f"{task_seconds(res, 'series'):.1f} s, {cpu_seconds(res, 'series'):.1f} s on "
                  f"CPU; workers' CPU {worker_cpu(res):.1f} s), reduction alone "
                  f"{res['reduce'] * 1e3:.1f} ms; peaks: scheduler "
                  f"{res['peaks']['scheduler']['VmHWM']:.0f} MB, workers "
                  f"{[round(m['VmHWM']) for m in w.values()]} MB, client "
                  f"{res['peaks']['client']['VmHWM']:.0f} MB; store {files[n][0]} files; "
                  f"open_timeseries {[round(o['call'], 3) for o in opened[n][-3:]]} s; "
                  f"load {os.getloadavg()[0]:.1f}",
                  flush=True)  # fmt: skip
    shutil.rmtree(root)

    def med(n: int, get, among: dict | None = None) -> float:
        return statistics.median(get(x) for x in (among or results)[n])

    def per_run(x: dict) -> float:
        return x["extract"] * WORKERS / x["runs"]

    def worker_peak(x: dict) -> float:
        return max(m["VmHWM"] for m in x["peaks"]["workers"].values())

    print(f"\n{cores()}")
    print(f"\nSynthetic tree, 2-worker LocalCluster (1 thread each), medians of {args.repeat}\n")
    head = " | ".join(f"{n} subjects" for n in args.subjects)
    print(f"| measure | {head} |")
    print("|---|" + "---|" * len(args.subjects))
    rows = [
        ("runs (masks groups)", lambda n: f"{results[n][0]['runs']} ({results[n][0]['groups']})"),
        ("`find_runs`", lambda n: f"{med(n, lambda x: x['find']):.2f} s"),
        ("`extract_cohort` wall", lambda n: f"{med(n, lambda x: x['extract']):.1f} s"),
        ("masks tasks, total (both workers; their thread on CPU)",
         lambda n: f"{med(n, lambda x: task_seconds(x, 'masks')):.1f} s "
                   f"({med(n, lambda x: cpu_seconds(x, 'masks')):.1f} s)"),
        ("series tasks, total (both workers; their thread on CPU)",
         lambda n: f"{med(n, lambda x: task_seconds(x, 'series')):.1f} s "
                   f"({med(n, lambda x: cpu_seconds(x, 'series')):.1f} s)"),
        ("workers' CPU, user + system (of 2 × wall)",
         lambda n: f"{med(n, worker_cpu):.1f} s "
                   f"({med(n, lambda x: WORKERS * x['extract']):.1f} s)"),
        ("wall × workers / runs", lambda n: f"{med(n, per_run) * 1e3:.0f} ms"),
        ("`roi_timeseries` alone, one run (masks in memory)",
         lambda n: f"{med(n, lambda x: x['reduce']) * 1e3:.1f} ms"),
        ("per-run overhead beyond the reduction",
         lambda n: f"{med(n, lambda x: per_run(x) - x['reduce']) * 1e3:.0f} ms"),
        ("scheduler peak RSS", lambda n: mib(med(n, lambda x: x["peaks"]["scheduler"]["VmHWM"]))),
        ("worker peak RSS (the larger)", lambda n: mib(med(n, worker_peak))),
        ("client peak RSS", lambda n: mib(med(n, lambda x: x["peaks"]["client"]["VmHWM"]))),
        *([] if args.no_variants else [
            ("`extract_cohort` wall, workers' profiler off",
             lambda n: f"{med(n, lambda x: x['extract'], quiet):.1f} s"),
            ("worker peak RSS (the larger), workers' profiler off",
             lambda n: mib(med(n, worker_peak, quiet))),
        ]),
        ("files in the store (size)", lambda n: f"{files[n][0]} ({files[n][1] / 1e6:.0f} MB)"),
        ("`open_timeseries` call, fresh process",
         lambda n: f"{statistics.median(o['call'] for o in opened[n]):.2f} s"),
        ("`open_timeseries` whole process",
         lambda n: f"{statistics.median(o['process'] for o in opened[n]):.2f} s"),
    ]  # fmt: skip
    for label, cell in rows:
        print(f"| {label} | " + " | ".join(cell(n) for n in args.subjects) + " |")
    if len(args.subjects) > 1:
        a, b = min(args.subjects), max(args.subjects)
        ratios = {
            "scheduler": med(b, lambda x: x["peaks"]["scheduler"]["VmHWM"])
            / med(a, lambda x: x["peaks"]["scheduler"]["VmHWM"]),
            "worker": med(b, worker_peak) / med(a, worker_peak),
            "client": med(b, lambda x: x["peaks"]["client"]["VmHWM"])
            / med(a, lambda x: x["peaks"]["client"]["VmHWM"]),
        }
        if not args.no_variants:
            ratios["worker, profiler off"] = med(b, worker_peak, quiet) / med(
                a, worker_peak, quiet
            )
        shown = ", ".join(f"{k} {v:.2f}" for k, v in ratios.items())
        print(f"\npeak RSS, {b} vs {a} subjects: {shown}")


# --- real-size runs ----------------------------------------------------------------------


def _head(reference: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    return ndimage.binary_fill_holes(ndimage.binary_closing(reference > 100, iterations=2))


def write_bold(path: str, reference: np.ndarray, affine: np.ndarray, n_volumes: int,
               seed: int) -> int:  # fmt: skip
    """A realistic float32 series (see the module's doc) as ``.nii.gz``; its size in bytes."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    head = _head(reference)
    base = np.where(head, reference, 0).astype(np.float32).ravel(order="F")
    inside = base > 0
    n_comp = 8
    maps = np.empty((n_comp, base.size), np.float32)
    for k in range(n_comp):
        field = ndimage.gaussian_filter(rng.standard_normal(reference.shape), 3.0)
        field = field.ravel(order="F")
        maps[k] = (field - field[inside].mean()) / field[inside].std()
    t = np.arange(n_volumes) * TR
    courses = np.zeros((n_volumes, n_comp), np.float32)
    for k in range(n_comp):
        for f in rng.uniform(0.008, 0.1, 3):  # slow fluctuations, 0.008-0.1 Hz
            courses[:, k] += np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi))
    courses /= courses.std(axis=0)
    courses *= np.float32(0.01 / np.sqrt(n_comp))  # 1% in all
    data = courses @ maps  # (time, voxels), float32
    data += 1 + np.linspace(-0.01, 0.01, n_volumes, dtype=np.float32)[:, None]  # drift
    data *= base
    noise = rng.standard_normal(data.shape, np.float32)
    noise *= np.float32(0.02) * base
    data += noise
    del noise
    np.rint(data, out=data)
    np.maximum(data, 0, out=data)
    data *= inside  # zero outside the head
    volume = data.T.reshape((*reference.shape, n_volumes), order="F")  # a view: Fortran order
    assert volume.dtype == np.float32 and volume.base is not None
    img = nib.Nifti1Image(volume, affine)
    img.set_data_dtype(np.float32)
    img.set_sform(affine, code=1)
    img.set_qform(affine, code=1)
    img.header.set_zooms((*img.header.get_zooms()[:3], TR))
    img.header.set_xyzt_units("mm", "sec")
    nib.save(img, path)
    return os.path.getsize(path)


def write_real_tree(root: Path, n_subjects: int, n_runs: int, n_volumes: int) -> dict:
    """S1 as ``n_subjects`` fMRIPrep subjects with ``n_runs`` T1w-space runs each."""
    s1 = pycortex_sample_subject()
    folder = s1 / "transforms" / "fullhead"
    ref_img = nib.load(folder / "reference.nii.gz")
    magnet = np.array(json.loads((folder / "matrices.xfm").read_text())["magnet"])
    affine = np.linalg.inv(magnet) @ ref_img.affine  # the EPI grid in the anatomical space
    reference = np.asarray(ref_img.dataobj, np.float32)
    shared = root / "shared"
    shared.mkdir(parents=True)
    boldref = shared / "boldref.nii.gz"
    nib.save(nib.Nifti1Image(np.where(_head(reference), reference, 0), affine), boldref)
    surfaces = {
        (kind, hemi): s1 / "surfaces" / f"{name}_{fs}.gii"
        for kind, name in (("white", "wm"), ("pial", "pia"))
        for hemi, fs in (("L", "lh"), ("R", "rh"))
    }
    deriv = root / "fmriprep"
    deriv.mkdir()
    (deriv / "dataset_description.json").write_text(json.dumps(
        {"Name": "S1 as fMRIPrep", "BIDSVersion": "1.8.0", "DatasetType": "derivative",
         "GeneratedBy": [{"Name": "fMRIPrep", "Version": "23.2.3"}]}))  # fmt: skip
    jobs = []
    for i in range(n_subjects):
        sub = f"sub-{i:04d}"
        anat, func = deriv / sub / "anat", deriv / sub / "func"
        anat.mkdir(parents=True)
        func.mkdir()
        for (kind, hemi), path in surfaces.items():
            os.link(path, anat / f"{sub}_hemi-{hemi}_{kind}.surf.gii")
        os.link(s1 / "anatomicals" / "raw.nii.gz", anat / f"{sub}_desc-preproc_T1w.nii.gz")
        for k in range(1, n_runs + 1):
            stem = f"{sub}_task-rest_run-{k}_space-T1w"
            os.link(boldref, func / f"{stem}_boldref.nii.gz")
            sidecar = json.dumps({"RepetitionTime": TR})
            (func / f"{stem}_desc-preproc_bold.json").write_text(sidecar)
            jobs.append(str(func / f"{stem}_desc-preproc_bold.nii.gz"))
    start = time.perf_counter()
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(WORKERS, mp_context=spawn) as pool:
        sizes = list(pool.map(write_bold, jobs, [reference] * len(jobs), [affine] * len(jobs),
                              [n_volumes] * len(jobs), range(len(jobs))))  # fmt: skip
    written = time.perf_counter() - start
    # the ROIs: S1's overlay ROIs as vertices (roixr) and as an index volume (nilearn)
    subject = roixr.Subject(s1)
    n_lh = subject.n_vertices("lh")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        verts = roixr.roi_verts(subject)
    arrays = {"names": np.array(list(verts))}
    for name, v in verts.items():
        arrays[f"L:{name}"], arrays[f"R:{name}"] = v[v < n_lh], v[v >= n_lh] - n_lh
    np.savez(shared / "rois.npz", **arrays)
    source = {n: {"L": arrays[f"L:{n}"], "R": arrays[f"R:{n}"]} for n in verts}
    white = tuple(str(surfaces["white", h]) for h in "LR")
    pial = tuple(str(surfaces["pial", h]) for h in "LR")
    anatomy = roixr.Subject.from_surfaces(white=white, pial=pial, name="S1")
    masks = roixr.roi_masks(anatomy, (str(boldref), "identity"), source=source).compute()
    signed = roixr.to_index_volume(masks)[0].values.astype(np.int32)
    labels = (2 * np.abs(signed) - (signed < 0)).astype(np.int32)
    nib.save(nib.Nifti1Image(labels, affine), shared / "labels.nii.gz")
    plan = []
    for i in range(n_subjects):  # each subject its own labels file (here the same content)
        sub = f"sub-{i:04d}"
        own = deriv / sub / "anat" / f"{sub}_labels.nii.gz"
        os.link(shared / "labels.nii.gz", own)
        plan.append({"labels": str(own), "bolds": jobs[i * n_runs : (i + 1) * n_runs]})
    (shared / "plan.json").write_text(json.dumps(plan))
    return {
        "root": deriv, "shared": shared, "plan": shared / "plan.json", "bolds": jobs,
        "sizes": sizes, "written": written, "shape": (*reference.shape, n_volumes),
        "zooms": ref_img.header.get_zooms()[:3], "head": float(_head(reference).mean()),
        "n_rois": len(verts), "voxels": int(masks.values.any(axis=(0, 1)).sum()),
        "boldref": boldref, "white": white, "pial": pial,
    }  # fmt: skip


WORKER_ENV = {
    "MALLOC_TRIM_THRESHOLD_": "65536",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
}
"""What distributed's nanny sets in a worker's environment (``distributed.nanny.
pre-spawn-environ``, default config)."""

TOOLS = {
    "roixr": "roixr, `find_runs` + `extract_cohort`, 2 workers",
    "roixr-no-trim": "roixr, the same, workers without `MALLOC_TRIM_THRESHOLD_=65536`",
    "nilearn": "nilearn `NiftiLabelsMasker`, loop in one process",
    "nilearn-2": "nilearn `NiftiLabelsMasker`, loop split over 2 processes (joblib)",
}


def real(args: argparse.Namespace, tmp: Path) -> None:
    n_runs = args.real_subjects * args.real_runs
    tree = write_real_tree(tmp / "real", args.real_subjects, args.real_runs, args.volumes)
    shape, zooms = tree["shape"], tree["zooms"]
    sizes = np.array(tree["sizes"]) / 1e6
    raw = np.prod(shape) * 4 / 1e6
    print(f"\nreal-size runs: {args.real_subjects} subjects (S1) × {args.real_runs} runs = "
          f"{n_runs} runs of {shape[3]} float32 volumes on {shape[0]}×{shape[1]}×{shape[2]} "
          f"({zooms[0]:.2f}×{zooms[1]:.2f}×{zooms[2]:.2f} mm, head {tree['head']:.0%} of the "
          f"voxels), .nii.gz {sizes.mean():.0f} MB each (raw {raw:.0f} MB; "
          f"{sizes.sum() / 1e3:.1f} GB in all), written in {tree['written']:.0f} s on "
          f"{WORKERS} processes; {tree['n_rois']} ROIs × 2 hemispheres, "
          f"{tree['voxels']} voxels", flush=True)  # fmt: skip
    tools = ["roixr", "nilearn"]
    tools += [] if args.no_variants else ["roixr-no-trim", "nilearn-2"]
    runs: dict[str, list[dict]] = {t: [] for t in tools}
    worst = scale = 0.0
    store = tmp / "real" / "ts.zarr"
    source = str(tree["shared"] / "rois.npz")
    for r in range(args.repeat):
        for tool in tools if r % 2 == 0 else tools[::-1]:
            if tool.startswith("roixr"):
                mode = "no-malloc-trim" if tool == "roixr-no-trim" else "default"
                res = extract(tree["root"], store, "all", source, tmp, mode)
                res["call"] = res["find"] + res["extract"]
                res["total"] = res["cluster_start"] + res["process"]
                res["peak_mb"] = max(m["VmHWM"] for m in res["peaks"]["workers"].values())
                ours = np.load(tmp / "roixr_first.npy")
                assert res["first_bold"] == tree["bolds"][0], res["first_bold"]
                if tool == "roixr":
                    last = res
            else:
                jobs = 2 if tool == "nilearn-2" else 1
                res, wall = child(NILEARN, tree["plan"], jobs, tmp)
                res["total"] = wall
                theirs = np.load(tmp / f"nilearn{jobs}_first.npy")
                assert res["first_bold"] == tree["bolds"][0], res["first_bold"]
                worst = max(worst, difference(ours, theirs, res["labels"]))
                scale = max(scale, float(np.abs(theirs).max()))
            runs[tool].append(res)
            print(f"[{r + 1}/{args.repeat}] {tool}: {res['call']:.1f} s (whole process: "
                  f"{res['total']:.1f} s); load {os.getloadavg()[0]:.1f}",
                  flush=True)  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in WORKER_ENV}
    profiles = {}
    for label, extra in (("worker's environment", WORKER_ENV), ("without it", {})):
        profiles[label], _ = child(
            PROFILE, store, "masks/" + _first_group(store), tree["bolds"][0], tree["boldref"],
            json.dumps({"white": tree["white"], "pial": tree["pial"]}), source,
            tmp / "scratch.zarr", env={**env, **extra},
        )  # fmt: skip
    shutil.rmtree(tmp / "real")

    def med(tool: str, key: str) -> float:
        return statistics.median(x[key] for x in runs[tool])

    print(f"\n{cores()}")
    print(f"\n{n_runs} real-size runs ({shape[3]} volumes, `.nii.gz`), strategy mean, medians "
          f"of {args.repeat}, each tool a fresh process, interleaved. Largest |roixr - nilearn| "
          f"over the first run {worst:.1e} (values up to {scale:.0f})\n")  # fmt: skip
    print("| tool | call | roixr faster | whole process | roixr faster | peak RSS |")
    print("|---|---|---|---|---|---|")
    o_call, o_total = med("roixr", "call"), med("roixr", "total")
    for tool in tools:
        call, total = med(tool, "call"), med(tool, "total")
        peak = mib(med(tool, "peak_mb"))
        peak += " per worker" if tool.startswith("roixr") else ""
        peak += " (the parent)" if tool == "nilearn-2" else ""
        faster = ("—", "—") if tool == "roixr" else (f"{call / o_call:.1f}×",
                                                     f"{total / o_total:.1f}×")  # fmt: skip
        print(f"| {TOOLS[tool]} | {call:.1f} s | {faster[0]} | {total:.1f} s | {faster[1]} | "
              f"{peak} |")  # fmt: skip
    print("\n'call' is the work after imports (roixr: find_runs + extract_cohort, masks "
          "included; nilearn: the loop); 'whole process' adds interpreter start and imports "
          "(roixr: also starting the LocalCluster). 'roixr faster' is the tool's time over "
          "roixr's (default cluster).")  # fmt: skip
    groups, n = last["groups"], last["runs"]

    def rmed(get) -> float:  # roixr's default cluster, median over the repeats
        return statistics.median(get(x) for x in runs["roixr"])

    wall = rmed(lambda x: x["extract"])
    masks_t, series_t = (
        rmed(lambda x: task_seconds(x, "masks")),
        rmed(lambda x: task_seconds(x, "series")),
    )
    masks_c, series_c = (
        rmed(lambda x: cpu_seconds(x, "masks")),
        rmed(lambda x: cpu_seconds(x, "series")),
    )
    gaps = {k: rmed(lambda x, k=k: x["idle"][k]) for k in ("start", "switch", "between", "end")}
    cpu = {t: [statistics.median(sum(c[k] for c in x["cpu"].values()) for x in runs[t])
               for k in ("user", "system")] for t in tools if "roixr" in t}  # fmt: skip
    print(f"\nWhere roixr's time goes (default cluster, medians of {args.repeat}): "
          f"extract_cohort {wall:.1f} s wall on {WORKERS} workers, so {WORKERS * wall:.1f} "
          f"worker-seconds: {masks_t:.1f} s in {groups} masks tasks ({masks_t / groups:.2f} s "
          f"each, their thread {masks_c / groups:.2f} s on CPU), {series_t:.1f} s in {n} "
          f"series tasks ({series_t / n:.2f} s each, {series_c / n:.2f} s on CPU); outside "
          f"tasks, both workers together: {gaps['start']:.1f} s before the first task (the "
          f"client's planning, the worker importing roixr), {gaps['switch']:.1f} s between "
          f"the masks and the series phases, {gaps['between']:.1f} s between tasks, "
          f"{gaps['end']:.1f} s after the last one. The workers' CPU over their lives "
          f"(medians, user / system): "
          + ", ".join(f"{t} {u:.1f} s / {k:.1f} s" for t, (u, k) in cpu.items())
          + f". find_runs {last['find']:.2f} s; "
          f"LocalCluster start {last['cluster_start']:.1f} s; client imports "
          f"{last['imports']:.1f} s.\n")  # fmt: skip
    print(
        "One run part by part in a fresh single-threaded process (what a worker does), "
        "medians of 3 after a first call, with the environment distributed gives its "
        "workers (`MALLOC_TRIM_THRESHOLD_=65536`, one BLAS/OpenMP thread) and without it:\n"
    )
    labels = list(profiles)
    print("| part | " + " | ".join(labels) + " |")
    print("|---|" + "---|" * len(labels))
    for part in profiles[labels[0]]:
        print(f"| {part} | " + " | ".join(f"{profiles[k][part]:.2f} s" for k in labels) + " |")


def difference(ours: np.ndarray, theirs: np.ndarray, labels: list[int]) -> float:
    """Largest difference between roixr's first run ``(roi, hemisphere, time)`` and
    nilearn's ``(time, label)``: label 2i - 1 is ROI i left, 2i right."""
    worst = 0.0
    for col, label in enumerate(labels):
        roi, hemi = (label + 1) // 2 - 1, int(label % 2 == 0)
        n = theirs.shape[0]
        worst = max(worst, float(np.abs(ours[roi, hemi, :n] - theirs[:, col]).max()))
    return worst


def _first_group(store: Path) -> str:
    return sorted(p.name for p in (store / "masks").iterdir() if p.is_dir())[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--runs", type=int, default=2, help="runs per synthetic subject")
    parser.add_argument("--real-subjects", type=int, default=10)
    parser.add_argument("--real-runs", type=int, default=2, help="runs per real-size subject")
    parser.add_argument("--volumes", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--tmp", default=None, help="folder for the trees (default: /tmp)")
    parser.add_argument("--skip-synthetic", action="store_true")
    parser.add_argument("--skip-real", action="store_true")
    parser.add_argument("--no-variants", action="store_true",
                        help="skip the variants: workers without their profiler, or "
                        "without MALLOC_TRIM_THRESHOLD_; nilearn on 2 processes")  # fmt: skip
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    # roixr runs from bytecode, as an installed package does (PYTHONDONTWRITEBYTECODE=1 would
    # otherwise compile the editable roixr in every process)
    compileall.compile_dir(Path(roixr.__file__).parent, quiet=1)
    print(cores(), flush=True)
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
        if not args.skip_synthetic:
            synthetic(args, Path(tmp))
        if not args.skip_real:
            real(args, Path(tmp))


if __name__ == "__main__":
    main()
