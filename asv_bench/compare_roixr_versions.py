"""Two roixr source trees side by side on S1: the drop-in, lazy masks, time series.

    python asv_bench/compare_roixr_versions.py OLD_TREE NEW_TREE [--repeat 3]
        [--jobs dropin masks timeseries] [--samplers ...]

(``git worktree add /tmp/old <commit>`` makes an old tree.) Each measurement is a fresh
process with ``PYTHONPATH`` set to the tree; the two versions are interleaved, on one copy
of S1, so the machine's load affects both alike. Prints the medians of the call and of the
whole process, and new / old. The jobs:

- ``dropin``: ``roixr.get_roi_masks(S1, "fullhead", gm_sampler=s)`` per sampler;
- ``masks``: ``roixr.roi_masks(S1, "fullhead", sampler=s).compute()`` (dask) per sampler;
- ``timeseries``: ``roixr.roi_timeseries`` of a 200-volume float32 ``.nii.gz`` on S1's
  fullhead grid with S1's cortical masks (computed first, not timed).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from roixr.datasets import pycortex_sample_subject

SAMPLERS = ["cortical", "thick", "thin", "2", "cortical-conservative", "cortical-liberal"]
CHILD = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
start = time.perf_counter()
import roixr
job, subject, sampler = sys.argv[1:4]
sampler = float(sampler) if sampler[0].isdigit() else sampler
if job == "timeseries":
    masks = roixr.roi_masks(subject, "fullhead", sampler="cortical").compute()
    series = roixr.open_nifti(sys.argv[4])
imported = time.perf_counter()
if job == "dropin":
    roixr.get_roi_masks(subject, "fullhead", gm_sampler=sampler)
elif job == "masks":
    roixr.roi_masks(subject, "fullhead", sampler=sampler).compute()
else:
    roixr.roi_timeseries(series, masks).compute()
print(json.dumps({"call": time.perf_counter() - imported}))
"""
N_VOLUMES = 200


def _bold(s1: Path, folder: Path) -> Path:
    """A 200-volume float32 series on S1's fullhead grid (random, barely compressible)."""
    import nibabel as nib
    import numpy as np

    ref = nib.load(s1 / "transforms" / "fullhead" / "reference.nii.gz")
    rng = np.random.default_rng(0)
    data = rng.standard_normal((*ref.shape[:3], N_VOLUMES), dtype=np.float32)
    path = folder / "bold.nii.gz"
    nib.save(nib.Nifti1Image(data, ref.affine), path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--samplers", nargs="+", default=SAMPLERS)
    parser.add_argument("--jobs", nargs="+", default=["dropin"],
                        choices=["dropin", "masks", "timeseries"])  # fmt: skip
    args = parser.parse_args()
    trees = {"old": args.old, "new": args.new}
    with tempfile.TemporaryDirectory() as tmp:
        s1 = pycortex_sample_subject(copy_to=Path(tmp))
        bold = _bold(s1, Path(tmp)) if "timeseries" in args.jobs else None
        print(f"{'job':<11}{'sampler':<24}{'old call':>10}{'new call':>10}{'new/old':>9}"
              f"{'old proc':>10}{'new proc':>10}{'new/old':>9}")  # fmt: skip
        cases = [(job, s) for job in args.jobs
                 for s in (["cortical"] if job == "timeseries" else args.samplers)]  # fmt: skip
        for job, sampler in cases:
            runs: dict[str, list[tuple[float, float]]] = {"old": [], "new": []}
            for _ in range(args.repeat):
                for which, tree in trees.items():
                    env = {**os.environ, "PYTHONPATH": tree}
                    start = time.perf_counter()
                    out = subprocess.run([sys.executable, "-c", CHILD, job, str(s1), sampler,
                                          str(bold)],
                                         capture_output=True, text=True, check=True,
                                         env=env, cwd=tmp)  # fmt: skip
                    call = json.loads(out.stdout.strip().splitlines()[-1])["call"]
                    runs[which].append((call, time.perf_counter() - start))
            med = {w: [statistics.median(r[i] for r in rs) for i in (0, 1)]
                   for w, rs in runs.items()}  # fmt: skip
            (oc, op), (nc, np_) = med["old"], med["new"]
            print(f"{job:<11}{sampler:<24}{oc:>9.2f}s{nc:>9.2f}s{nc / oc:>8.2f}x"
                  f"{op:>9.2f}s{np_:>9.2f}s{np_ / op:>8.2f}x", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
