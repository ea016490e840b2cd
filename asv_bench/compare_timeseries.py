"""roixr ``roi_timeseries`` vs nilearn ``NiftiLabelsMasker``, side by side, in one run.

    python asv_bench/compare_timeseries.py [--volumes 400 1000] [--ext .nii .nii.gz]
                                           [--series random realistic]
                                           [--repeat 3] [--stat mean]
                                           [--nibabel-gzip zlib indexed_gzip] [--warm]
                                           [--floor] [--malloc-trim] [--cluster]

The ROI masks are pycortex's S1, transform ``fullhead`` (100 × 100 × 31), all ROIs,
sampler ``cortical``. Written once per series length: the bold series as ``.nii`` (1.24 GB
for 1000 volumes of float32) and as ``.nii.gz`` (gzip level 1, nibabel's default), the
masks as a roixr zarr store, and for nilearn the same masks as a labels image (ROI i: left
2i - 1, right 2i) on the same affine. ``--series``: ``random`` float32 values (barely
compressible: 461 MB of gzip for 496 MB at 400 volumes) and/or a ``realistic`` series (that
of ``compare_extract.py``: a smooth brain-shaped signal on S1's mean EPI, zero outside the
head, rounded as scanners store it; it compresses about 4.7×).

Each measurement is a fresh Python process (roixr and nilearn interleaved, the order
alternating, so both read the series from a warm page cache) that reports the call's time
(imports excluded: opening the masks store, ``open_nifti``, ``roi_timeseries`` and
``.values`` for roixr; ``NiftiLabelsMasker(...).fit_transform`` for nilearn), the whole
process's time (interpreter start, imports, call) and its peak resident memory (``VmHWM``,
which unlike ``ru_maxrss`` is not inherited from the parent); roixr's modules are
byte-compiled first, as pip does when it installs a package. Prints medians and ratios as
a markdown table, and checks that both give the same time series.

nibabel reads ``.nii.gz`` through indexed_gzip when that package is installed (an optional
extra of nibabel; roixr's own installs do not bring it), else through CPython's zlib.
``--nibabel-gzip`` runs nilearn with each named reader (``zlib`` hides an installed
indexed_gzip from nibabel; ``indexed_gzip`` needs it installed), one table row per reader.
With ``--warm``, each repeat also times a second call in one process, for both tools (the
per-series cost in a session, or a loop over runs).

Three more measurements of roixr on ``.nii.gz``, interleaved with the others:

- ``--floor``: inflating the file alone with the decoder roixr's reader picks for it (its
  own stream, into one reused buffer), a first and a second pass in a fresh process: the
  decompression floor of a call.
- ``--malloc-trim``: the same roixr processes with ``MALLOC_TRIM_THRESHOLD_=65536`` in their
  environment, as ``dask.distributed``'s nanny sets it in every worker process (glibc then
  returns freed memory at once and stops raising its mmap threshold).
- ``--cluster``: the call as a task on a 2-worker ``distributed.LocalCluster`` (one thread
  each, the threads a cohort's worker has; the task computes with dask's ``sync`` scheduler
  as ``extract_cohort``'s tasks do), both workers busy at once: with distributed's default
  worker environment and with ``MALLOC_TRIM_THRESHOLD_`` unset. Each cluster is a process of
  its own; the first round of tasks (imports) is left out, the median of the next three is
  its figure.
"""

from __future__ import annotations

import argparse
import compileall
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nibabel as nib
import numpy as np

import roixr
from roixr.datasets import pycortex_sample_subject

CHILD = """
import json, resource, sys, time, warnings
warnings.simplefilter("ignore")
start = time.perf_counter()
which, folder, stat, bold, gz = sys.argv[1:6]
if which == "inflate":
    import nibabel as nib
    import numpy as np
    from roixr.timeseries import reader
elif which == "nilearn":
    if gz == "zlib":
        sys.modules["indexed_gzip"] = None  # nibabel then reads gzip with zlib
    from nilearn.maskers import NiftiLabelsMasker
    from nibabel._compression import HAVE_INDEXED_GZIP
    if (gz == "indexed_gzip") != bool(HAVE_INDEXED_GZIP):
        raise SystemExit(f"nibabel's gzip reader is not {gz}")
else:
    import roixr
    from roixr.timeseries import open_nifti, roi_timeseries
imported = time.perf_counter()
for _ in range(int(sys.argv[6])):  # the last call is timed (2: the second, "warm" call)
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    begin = time.perf_counter()
    labels = None
    if which == "inflate":  # the file alone, by the decoder roixr's reader picks for it
        layout = reader.raw_layout(nib.load(folder + "/" + bold))
        stream = reader._Stream(layout)
        buffer = memoryview(np.empty(8 << 20, np.uint8))
        left = stream.need
        while left > 0:
            stream.readinto(buffer[: min(left, len(buffer))])
            left -= min(left, len(buffer))
        stream.close()
        out = np.zeros(1)
        labels = "rapidgzip, %d threads" % stream.threads if stream.threads > 1 else "isal"
    elif which == "nilearn":
        strategy = {"std": "standard_deviation", "var": "variance", "min": "minimum",
                    "max": "maximum"}.get(stat, stat)
        masker = NiftiLabelsMasker(labels_img=folder + "/labels.nii.gz", strategy=strategy)
        out = masker.fit_transform(folder + "/" + bold)
        labels = [v for k, v in masker.region_ids_.items() if k != "background"]
    else:
        masks = roixr.open_roi_masks(folder + "/masks.zarr")
        out = roi_timeseries(open_nifti(folder + "/" + bold), masks, stat).values
done = time.perf_counter()
r1 = resource.getrusage(resource.RUSAGE_SELF)
with open("/proc/self/status") as f:
    peak = next(int(l.split()[1]) for l in f if l.startswith("VmHWM")) / 1024
import numpy as np
if which != "inflate":
    np.save(folder + f"/{which}.npy", out)
print(json.dumps({"call": done - begin, "imports": imported - start, "peak_mb": peak,
                  "labels": labels, "system": r1.ru_stime - r0.ru_stime,
                  "faults": r1.ru_minflt - r0.ru_minflt}))
"""

# A 2-worker LocalCluster in its own process: the call as a task, both workers at once.
CLUSTER = """
import json, statistics, sys, time, warnings
warnings.simplefilter("ignore")
import dask
from distributed import Client, LocalCluster

def task(folder, bold, stat):
    import resource
    import roixr
    from roixr.timeseries import open_nifti, roi_timeseries
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    begin = time.perf_counter()
    with dask.config.set(scheduler="sync"):  # as extract_cohort's tasks compute
        masks = roixr.open_roi_masks(folder + "/masks.zarr")
        out = roi_timeseries(open_nifti(folder + "/" + bold), masks, stat).values
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    return {"call": time.perf_counter() - begin, "system": r1.ru_stime - r0.ru_stime,
            "faults": r1.ru_minflt - r0.ru_minflt, "sum": float(out.sum(dtype="float64"))}

if __name__ == "__main__":
    folder, bold, stat, mode = sys.argv[1:5]
    if mode == "no-malloc-trim":  # unset what distributed sets in its workers' environment
        dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None})
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        workers = list(client.scheduler_info()["workers"])
        env = client.run(lambda: __import__("os").environ.get("MALLOC_TRIM_THRESHOLD_"))
        rounds = []
        for _ in range(4):  # the first round imports roixr and pays first-compute costs
            futures = [client.submit(task, folder, bold, stat, workers=[w], pure=False)
                       for w in workers]
            rounds.append(client.gather(futures))
    warm = [r for round_ in rounds[1:] for r in round_]
    print(json.dumps({"call": statistics.median(r["call"] for r in warm),
                      "system": statistics.median(r["system"] for r in warm),
                      "faults": statistics.median(r["faults"] for r in warm),
                      "env": sorted(set(map(str, env.values()))),
                      "sums": sorted({round(r["sum"], 3) for r in warm})}))
"""


def write_inputs(folder: Path, n_volumes: int, series: tuple[str, ...] = ("random",),
                 exts: tuple[str, ...] = (".nii", ".nii.gz")) -> tuple[int, ...]:  # fmt: skip
    """The masks store, nilearn's labels image, and the series: ``bold{ext}`` (random) and
    ``real{ext}`` (realistic)."""
    s1 = pycortex_sample_subject()
    transform = roixr.Subject(s1).transform("fullhead")
    masks = roixr.roi_masks(s1, "fullhead").compute()
    roixr.to_zarr(masks, folder / "masks.zarr")
    signed = roixr.to_index_volume(masks)[0].values.astype(np.int32)
    labels = (2 * np.abs(signed) - (signed < 0)).astype(np.int32)
    nib.save(nib.Nifti1Image(labels, transform.affine), folder / "labels.nii.gz")
    shape = (*transform.shape, n_volumes)
    if "realistic" in series:
        sys.path.insert(0, str(Path(__file__).parent))
        from compare_extract import write_bold  # the series of the cohort benchmark

        reference = nib.load(s1 / "transforms" / "fullhead" / "reference.nii.gz")
        for ext in exts:
            write_bold(str(folder / f"real{ext}"), np.asarray(reference.dataobj),
                       transform.affine, n_volumes, seed=0)  # fmt: skip
    if "random" not in series:
        return shape
    header = nib.Nifti1Header()
    header.set_data_shape(shape)
    header.set_data_dtype(np.float32)
    header.set_sform(transform.affine, code=1)
    header.set_qform(transform.affine, code=1)
    header.set_zooms((*header.get_zooms()[:3], 2.0))
    header["vox_offset"] = 352
    path = folder / "bold.nii"
    with open(path, "wb") as f:
        f.write(header.binaryblock + b"\0" * (352 - len(header.binaryblock)))
    data = np.memmap(path, np.float32, "r+", offset=352, shape=shape, order="F")
    rng = np.random.default_rng(0)
    for start in range(0, n_volumes, 100):  # slab by slab: this process stays small
        stop = min(start + 100, n_volumes)
        data[..., start:stop] = rng.standard_normal((*shape[:3], stop - start), np.float32)
    data.flush()
    del data
    with open(path, "rb") as src, gzip.open(folder / "bold.nii.gz", "wb", compresslevel=1) as dst:
        shutil.copyfileobj(src, dst, 1 << 24)
    return shape


TRIM = {"MALLOC_TRIM_THRESHOLD_": "65536"}  # what distributed's nanny sets in its workers


def measure(which: str, folder: Path, stat: str, bold: str, gz: str, calls: int = 1,
            env: dict | None = None) -> dict:  # fmt: skip
    start = time.perf_counter()
    argv = [which, str(folder), stat, bold, gz, str(calls)]
    environ = {k: v for k, v in os.environ.items() if k != "MALLOC_TRIM_THRESHOLD_"}
    out = subprocess.run([sys.executable, "-c", CHILD, *argv], capture_output=True, text=True,
                         check=True, env={**environ, **(env or {})})  # fmt: skip
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process"] = time.perf_counter() - start
    return result


def on_cluster(folder: Path, bold: str, stat: str, mode: str) -> dict:
    """The call as tasks of a 2-worker LocalCluster started for it (``mode``: "default" or
    "no-malloc-trim")."""
    out = subprocess.run([sys.executable, "-c", CLUSTER, str(folder), bold, stat, mode],
                         capture_output=True, text=True, check=True, timeout=900)  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def agreement(folder: Path, labels: list[int]) -> float:
    """Largest difference between roixr's and nilearn's series, over nilearn's labels."""
    ours, theirs = np.load(folder / "roixr.npy"), np.load(folder / "nilearn.npy")
    worst = 0.0
    for col, label in enumerate(labels):
        roi, hemi = (label + 1) // 2 - 1, int(label % 2 == 0)
        worst = max(worst, float(np.abs(ours[roi, hemi] - theirs[:, col]).max()))
    return worst


def compare(folder: Path, bold: str, stat: str, repeat: int, gz: str, warm: bool,
            extra: tuple[str, ...] = ()) -> dict:  # fmt: skip
    """Interleaved runs of both tools on one file: medians, every run, agreement. With
    ``warm``, each repeat also runs both tools calling twice in one process: ``warm`` is the
    second call's time (imports done, the first compute's one-off costs paid). ``extra``
    (``.nii.gz`` only): "floor" (inflating alone, first and second pass), "trim" (roixr with
    distributed's ``MALLOC_TRIM_THRESHOLD_``), "cluster" and "cluster-no-trim" (tasks on a
    LocalCluster), in the same rotation."""
    kinds = ["roixr", "nilearn", *extra]
    runs: dict[str, list[dict]] = {k: [] for k in kinds}
    worst = 0.0
    for i in range(repeat):
        order = kinds[i % len(kinds) :] + kinds[: i % len(kinds)]  # each kind first in turn
        for which in order:
            if which.startswith("cluster"):
                mode = "no-malloc-trim" if which.endswith("no-trim") else "default"
                runs[which].append(on_cluster(folder, bold, stat, mode))
                continue
            tool = {"trim": "roixr", "floor": "inflate"}.get(which, which)
            env = TRIM if which == "trim" else None
            runs[which].append(measure(tool, folder, stat, bold, gz, env=env))
            if warm or which in ("trim", "floor"):
                second = measure(tool, folder, stat, bold, gz, 2, env=env)
                runs[which][-1]["warm"] = second["call"]
                runs[which][-1]["warm_faults"] = second["faults"]
        worst = max(worst, agreement(folder, runs["nilearn"][-1]["labels"]))
    keys = ("call", "process", "peak_mb", "system", "faults")
    med = {}
    for w, rs in runs.items():
        med[w] = {k: statistics.median(r[k] for r in rs) for k in keys if k in rs[0]}
        for k in ("warm", "warm_faults"):
            if k in rs[0]:
                med[w][k] = statistics.median(r[k] for r in rs)
    return {"median": med, "runs": runs, "worst": worst}


def load() -> str:
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--volumes", type=int, nargs="+", default=[400, 1000])
    parser.add_argument("--ext", nargs="+", default=[".nii", ".nii.gz"])
    parser.add_argument("--series", nargs="+", default=["random"],
                        choices=["random", "realistic"])  # fmt: skip
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--stat", default="mean",
                        choices=["mean", "median", "sum", "std", "var", "min", "max"])  # fmt: skip
    parser.add_argument("--nibabel-gzip", nargs="+", default=["zlib"],
                        choices=["zlib", "indexed_gzip"],
                        help="nibabel's gzip reader(s) for nilearn on .nii.gz")  # fmt: skip
    parser.add_argument("--warm", action="store_true",
                        help="also time a second call in one process")  # fmt: skip
    parser.add_argument("--floor", action="store_true",
                        help=".nii.gz: also time inflating the file alone")  # fmt: skip
    parser.add_argument(
        "--malloc-trim",
        action="store_true",
        help=".nii.gz: also run roixr with MALLOC_TRIM_THRESHOLD_=65536",
    )
    parser.add_argument(
        "--cluster",
        action="store_true",
        help=".nii.gz: also run roixr as tasks on a 2-worker LocalCluster",
    )
    parser.add_argument("--tmp", default=None, help="folder for the inputs (default: /tmp)")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    print(f"{os.cpu_count()} cores ({cores} usable), load average at start {load()}")
    # roixr runs from bytecode, as nilearn does: pip compiles a package at install, but an
    # editable install under PYTHONDONTWRITEBYTECODE=1 would compile roixr in every process
    compileall.compile_dir(Path(roixr.__file__).parent, quiet=1)
    extra = tuple(k for k, on in (("floor", args.floor), ("trim", args.malloc_trim),
                                  ("cluster", args.cluster), ("cluster-no-trim", args.cluster))
                  if on)  # fmt: skip
    rows = []
    for n_volumes in args.volumes:
        with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
            folder = Path(tmp)
            shape = write_inputs(folder, n_volumes, tuple(args.series), tuple(args.ext))
            readers = {
                ext: args.nibabel_gzip if ext.endswith("gz") else ["zlib"] for ext in args.ext
            }
            cases = [(kind, ext, gz) for kind in args.series for ext in args.ext
                     for gz in readers[ext]]  # fmt: skip
            for kind, ext, gz in cases:
                bold = ("bold" if kind == "random" else "real") + ext
                more = extra if ext.endswith(".gz") else ()
                result = compare(folder, bold, args.stat, args.repeat, gz, args.warm, more)
                med = result["median"]
                size = (folder / bold).stat().st_size / 1e6
                label = f"`{ext}`" + ("" if kind == "random" else f" {kind}") + (
                    f" (nilearn: {gz})" if ext.endswith(".gz") else "")  # fmt: skip
                rows.append((label, shape, med, size))
                print(f"{label} {shape} ({size:.0f} MB, load {load()}): calls",
                      {w: [round(r["call"], 2) for r in rs] for w, rs in result["runs"].items()},
                      "peaks (MB)", {w: [round(r["peak_mb"]) for r in rs]
                                     for w, rs in result["runs"].items() if "peak_mb" in rs[0]},
                      f"largest |roixr - nilearn| {result['worst']:.1e}",
                      flush=True)  # fmt: skip
                for w in ("floor", "cluster", "cluster-no-trim"):
                    if w in result["runs"]:
                        print(f"  {w}:", [r.get("labels", r.get("env")) for r in
                                          result["runs"][w]][-1], flush=True)  # fmt: skip
    print(
        f"\nS1 fullhead masks (all ROIs), float32 series, stat={args.stat}, medians of "
        f"{args.repeat} interleaved fresh processes; load average at the end {load()}\n"
    )
    print("| file | volumes | roixr call | nilearn call | ratio | roixr process | nilearn "
          "process | ratio | roixr peak | nilearn peak | ratio |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for label, shape, med, _ in rows:
        o, n = med["roixr"], med["nilearn"]
        print(f"| {label} | {shape[3]} | {o['call']:.2f} s | {n['call']:.2f} s | "
              f"{n['call'] / o['call']:.1f}× | {o['process']:.2f} s | {n['process']:.2f} s | "
              f"{n['process'] / o['process']:.1f}× | {o['peak_mb']:.0f} MB | "
              f"{n['peak_mb']:.0f} MB | {n['peak_mb'] / o['peak_mb']:.1f}× |")  # fmt: skip
    if args.warm:
        print("\nA second call in the same process (imports and the first compute's one-off "
              "costs paid):\n")  # fmt: skip
        print("| file | volumes | roixr warm call | nilearn warm call | ratio |")
        print("|---|---|---|---|---|")
        for label, shape, med, _ in rows:
            o, n = med["roixr"], med["nilearn"]
            print(f"| {label} | {shape[3]} | {o['warm']:.2f} s | {n['warm']:.2f} s | "
                  f"{n['warm'] / o['warm']:.1f}× |")  # fmt: skip
    gz_rows = [r for r in rows if "floor" in r[2] or "trim" in r[2] or "cluster" in r[2]]
    if any("floor" in r[2] for r in gz_rows) and args.warm:
        print("\nroixr's call against inflating the file alone (the same decoder, a fresh "
              "process; first and second pass):\n")  # fmt: skip
        print("| file | MB | inflate | roixr call | ratio | inflate, 2nd | roixr warm call | "
              "ratio |")  # fmt: skip
        print("|---|---|---|---|---|---|---|---|")
        for label, _, med, size in gz_rows:
            o, f = med["roixr"], med["floor"]
            print(f"| {label} | {size:.0f} | {f['call']:.2f} s | {o['call']:.2f} s | "
                  f"{o['call'] / f['call']:.2f}× | {f['warm']:.2f} s | {o['warm']:.2f} s | "
                  f"{o['warm'] / f['warm']:.2f}× |")  # fmt: skip
    if any("trim" in r[2] for r in gz_rows) and args.warm:
        print("\nroixr with `MALLOC_TRIM_THRESHOLD_=65536` (a dask worker's environment) and "
              "without (fresh processes; page faults of the call):\n")  # fmt: skip
        print("| file | call without | call with | ratio | warm without | warm with | ratio | "
              "faults without | faults with |")  # fmt: skip
        print("|---|---|---|---|---|---|---|---|---|")
        for label, _, med, _ in gz_rows:
            o, t = med["roixr"], med["trim"]
            print(
                f"| {label} | {o['call']:.2f} s | {t['call']:.2f} s | "
                f"{t['call'] / o['call']:.2f}× | {o['warm']:.2f} s | {t['warm']:.2f} s | "
                f"{t['warm'] / o['warm']:.2f}× | {o['faults']:.0f} | {t['faults']:.0f} |"
            )
    if any("cluster" in r[2] for r in gz_rows):
        print("\nroixr as tasks on a 2-worker LocalCluster (both workers at once; medians of "
              "the warm tasks, then of the clusters):\n")  # fmt: skip
        print("| file | task, default workers | task, no MALLOC_TRIM_THRESHOLD_ | ratio | "
              "faults default | faults without |")  # fmt: skip
        print("|---|---|---|---|---|---|")
        for label, _, med, _ in gz_rows:
            c, u = med["cluster"], med["cluster-no-trim"]
            print(
                f"| {label} | {c['call']:.2f} s | {u['call']:.2f} s | "
                f"{c['call'] / u['call']:.2f}× | {c['faults']:.0f} | {u['faults']:.0f} |"
            )


if __name__ == "__main__":
    main()
