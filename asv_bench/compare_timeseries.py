"""roixr ``roi_timeseries`` vs nilearn ``NiftiLabelsMasker``, side by side, in one run.

    python asv_bench/compare_timeseries.py [--volumes 400 1000] [--ext .nii .nii.gz]
                                           [--repeat 3] [--stat mean]
                                           [--nibabel-gzip zlib indexed_gzip] [--warm]

The ROI masks are pycortex's S1, transform ``fullhead`` (100 × 100 × 31), all ROIs,
sampler ``cortical``. Written once per series length: a random float32 bold series as
``.nii`` (1.24 GB for 1000 volumes) and as ``.nii.gz`` (gzip level 1, nibabel's default),
the masks as a roixr zarr store, and for nilearn the same masks as a labels image (ROI i:
left 2i - 1, right 2i) on the same affine.

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
"""

from __future__ import annotations

import argparse
import compileall
import gzip
import json
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
import json, sys, time, warnings
warnings.simplefilter("ignore")
start = time.perf_counter()
which, folder, stat, bold, gz = sys.argv[1:6]
if which == "nilearn":
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
    begin = time.perf_counter()
    if which == "nilearn":
        strategy = {"std": "standard_deviation", "var": "variance", "min": "minimum",
                    "max": "maximum"}.get(stat, stat)
        masker = NiftiLabelsMasker(labels_img=folder + "/labels.nii.gz", strategy=strategy)
        out = masker.fit_transform(folder + "/" + bold)
        labels = [v for k, v in masker.region_ids_.items() if k != "background"]
    else:
        masks = roixr.open_roi_masks(folder + "/masks.zarr")
        out = roi_timeseries(open_nifti(folder + "/" + bold), masks, stat).values
        labels = None
done = time.perf_counter()
with open("/proc/self/status") as f:
    peak = next(int(l.split()[1]) for l in f if l.startswith("VmHWM")) / 1024
import numpy as np
np.save(folder + f"/{which}.npy", out)
print(json.dumps({"call": done - begin, "imports": imported - start, "peak_mb": peak,
                  "labels": labels}))
"""


def write_inputs(folder: Path, n_volumes: int) -> tuple[int, ...]:
    s1 = pycortex_sample_subject()
    transform = roixr.Subject(s1).transform("fullhead")
    masks = roixr.roi_masks(s1, "fullhead").compute()
    roixr.to_zarr(masks, folder / "masks.zarr")
    signed = roixr.to_index_volume(masks)[0].values.astype(np.int32)
    labels = (2 * np.abs(signed) - (signed < 0)).astype(np.int32)
    nib.save(nib.Nifti1Image(labels, transform.affine), folder / "labels.nii.gz")
    shape = (*transform.shape, n_volumes)
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


def measure(which: str, folder: Path, stat: str, bold: str, gz: str, calls: int = 1) -> dict:
    start = time.perf_counter()
    argv = [which, str(folder), stat, bold, gz, str(calls)]
    out = subprocess.run([sys.executable, "-c", CHILD, *argv],
                         capture_output=True, text=True, check=True)  # fmt: skip
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process"] = time.perf_counter() - start
    return result


def agreement(folder: Path, labels: list[int]) -> float:
    """Largest difference between roixr's and nilearn's series, over nilearn's labels."""
    ours, theirs = np.load(folder / "roixr.npy"), np.load(folder / "nilearn.npy")
    worst = 0.0
    for col, label in enumerate(labels):
        roi, hemi = (label + 1) // 2 - 1, int(label % 2 == 0)
        worst = max(worst, float(np.abs(ours[roi, hemi] - theirs[:, col]).max()))
    return worst


def compare(folder: Path, bold: str, stat: str, repeat: int, gz: str, warm: bool) -> dict:
    """Interleaved runs of both tools on one file: medians, every run, agreement. With
    ``warm``, each repeat also runs both tools calling twice in one process: ``warm`` is the
    second call's time (imports done, the first compute's one-off costs paid)."""
    runs: dict[str, list[dict]] = {"roixr": [], "nilearn": []}
    worst = 0.0
    for i in range(repeat):
        order = ("roixr", "nilearn") if i % 2 == 0 else ("nilearn", "roixr")
        for which in order:
            runs[which].append(measure(which, folder, stat, bold, gz))
            if warm:
                runs[which][-1]["warm"] = measure(which, folder, stat, bold, gz, 2)["call"]
        worst = max(worst, agreement(folder, runs["nilearn"][-1]["labels"]))
    keys = ("call", "process", "peak_mb", *(("warm",) if warm else ()))
    med = {w: {k: statistics.median(r[k] for r in rs) for k in keys} for w, rs in runs.items()}
    return {"median": med, "runs": runs, "worst": worst}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--volumes", type=int, nargs="+", default=[400, 1000])
    parser.add_argument("--ext", nargs="+", default=[".nii", ".nii.gz"])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--stat", default="mean",
                        choices=["mean", "median", "sum", "std", "var", "min", "max"])  # fmt: skip
    parser.add_argument("--nibabel-gzip", nargs="+", default=["zlib"],
                        choices=["zlib", "indexed_gzip"],
                        help="nibabel's gzip reader(s) for nilearn on .nii.gz")  # fmt: skip
    parser.add_argument("--warm", action="store_true",
                        help="also time a second call in one process")  # fmt: skip
    parser.add_argument("--tmp", default=None, help="folder for the inputs (default: /tmp)")
    args = parser.parse_args()
    # roixr runs from bytecode, as nilearn does: pip compiles a package at install, but an
    # editable install under PYTHONDONTWRITEBYTECODE=1 would compile roixr in every process
    compileall.compile_dir(Path(roixr.__file__).parent, quiet=1)
    rows = []
    for n_volumes in args.volumes:
        with tempfile.TemporaryDirectory(dir=args.tmp) as tmp:
            folder = Path(tmp)
            shape = write_inputs(folder, n_volumes)
            readers = {
                ext: args.nibabel_gzip if ext.endswith("gz") else ["zlib"] for ext in args.ext
            }
            cases = [(ext, gz) for ext in args.ext for gz in readers[ext]]
            for ext, gz in cases:
                result = compare(folder, f"bold{ext}", args.stat, args.repeat, gz, args.warm)
                o, n = result["median"]["roixr"], result["median"]["nilearn"]
                label = f"`{ext}`" + (f" (nilearn: {gz})" if ext.endswith(".gz") else "")
                rows.append((label, shape, o, n))
                print(f"{label} {shape}: calls", {w: [round(r["call"], 2) for r in rs]
                      for w, rs in result["runs"].items()}, "peaks (MB)",
                      {w: [round(r["peak_mb"]) for r in rs] for w, rs in result["runs"].items()},
                      f"largest |roixr - nilearn| {result['worst']:.1e}", flush=True)  # fmt: skip
    print(f"\nS1 fullhead masks (all ROIs), float32 series, stat={args.stat}, medians of "
          f"{args.repeat} interleaved fresh processes\n")  # fmt: skip
    print("| file | volumes | roixr call | nilearn call | ratio | roixr process | nilearn "
          "process | ratio | roixr peak | nilearn peak | ratio |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for label, shape, o, n in rows:
        print(f"| {label} | {shape[3]} | {o['call']:.2f} s | {n['call']:.2f} s | "
              f"{n['call'] / o['call']:.1f}× | {o['process']:.2f} s | {n['process']:.2f} s | "
              f"{n['process'] / o['process']:.1f}× | {o['peak_mb']:.0f} MB | "
              f"{n['peak_mb']:.0f} MB | {n['peak_mb'] / o['peak_mb']:.1f}× |")  # fmt: skip
    if args.warm:
        print("\nA second call in the same process (imports and the first compute's one-off "
              "costs paid):\n")  # fmt: skip
        print("| file | volumes | roixr warm call | nilearn warm call | ratio |")
        print("|---|---|---|---|---|")
        for label, shape, o, n in rows:
            print(f"| {label} | {shape[3]} | {o['warm']:.2f} s | {n['warm']:.2f} s | "
                  f"{n['warm'] / o['warm']:.1f}× |")  # fmt: skip


if __name__ == "__main__":
    main()
