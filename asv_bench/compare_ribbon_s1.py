"""roixr's ``ribbon`` sampler vs Workbench on pycortex's S1, whole processes, side by side.

    python asv_bench/compare_ribbon_s1.py [--repeat 3] [--skip-1mm]

* S1 ``fullhead`` (100×100×31), all 32 ROIs, both hemispheres. roixr: a fresh process
  running ``roixr.get_roi_masks(S1, "fullhead", gm_sampler="ribbon")`` (interpreter start,
  imports, reading, sampling), twice per round: *cold*, with an empty numba cache (what the
  first process after an install or an update does: numba compiles the kernel and saves it),
  and *warm*, with the cache the cold processes filled. The cache is a folder of its own
  (``NUMBA_CACHE_DIR``, a new empty one for each cold process); the install's own cache is
  left alone. Workbench: ``wb_command -metric-to-volume-mapping <32-column ROI metric>
  <midthickness> <reference> <out> -ribbon-constrained <white> <pial>`` (default
  ``-voxel-subdiv 3``), one process per hemisphere, surfaces written beforehand in the
  reference's scanner space (the preparation is not timed: generous to Workbench).
  The four processes of a round run one after the other, rounds repeated ``--repeat`` times.
* S1 ``identity`` (its 1 mm anatomical grid, 256³): a fresh process writing
  ``roi_masks(S1, "identity", None, "ribbon")`` to a zarr store; wall time and peak RSS.
Prints the machine's cores and load, medians and ratios.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np

import roixr
from roixr.datasets import pycortex_sample_subject

CHILD = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
start = time.perf_counter()
import roixr
which, subject = sys.argv[1:3]
if which == "fullhead":
    roixr.get_roi_masks(subject, "fullhead", gm_sampler="ribbon")
else:
    masks = roixr.roi_masks(subject, "identity", None, "ribbon")
    masks.roixr.to_zarr(sys.argv[3])
print(json.dumps({"inside": time.perf_counter() - start}))
"""


def child(args: list[str], cache: Path) -> tuple[float, float]:
    """Wall time and peak RSS (MB) of a fresh roixr process, numba caching in ``cache``."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache))
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", CHILD, *args], env=env,
                                stdout=subprocess.DEVNULL, stderr=err)  # fmt: skip
        _, status, usage = os.wait4(proc.pid, 0)  # this process's own peak RSS
        wall = time.perf_counter() - start
        proc.returncode = status
        if status != 0:
            err.seek(0)
            raise RuntimeError(err.read().decode())
    return wall, usage.ru_maxrss / 1024


def gifti(path: Path, arrays: list) -> None:
    nib.save(nib.gifti.GiftiImage(darrays=arrays), str(path))


def prepare_workbench(s1: Path, folder: Path) -> list[list[str]]:
    """Surfaces in the fullhead reference's scanner space and a 32-column ROI metric."""
    subj = roixr.Subject(s1)
    xfm = subj.transform("fullhead")
    to_ref = np.asarray(xfm.affine) @ np.asarray(xfm.coord)  # surface mm -> reference mm
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        verts = roixr.roi_verts(subj)
    cmds = []
    for hemi, part in subj.hemisphere_slices.items():
        names = {}
        for kind in ("white", "pial"):
            surf = subj.surface(kind, hemi)
            pts = surf.points.astype(float) @ to_ref[:3, :3].T + to_ref[:3, 3]
            names[kind] = pts
            tris = surf.polys
        for kind, pts in (*names.items(), ("mid", (names["white"] + names["pial"]) / 2)):
            gifti(folder / f"{hemi}.{kind}.surf.gii", [
                nib.gifti.GiftiDataArray(pts.astype(np.float32), intent="NIFTI_INTENT_POINTSET"),
                nib.gifti.GiftiDataArray(tris.astype(np.int32), intent="NIFTI_INTENT_TRIANGLE"),
            ])  # fmt: skip
        columns = []
        n = part.stop - part.start
        for v in verts.values():
            col = np.zeros(n, np.float32)
            mine = v[(v >= part.start) & (v < part.stop)] - part.start
            col[mine] = 1
            columns.append(nib.gifti.GiftiDataArray(col))
        gifti(folder / f"{hemi}.rois.func.gii", columns)
        f = {
            k: str(folder / f"{hemi}.{k}")
            for k in (
                "rois.func.gii",
                "mid.surf.gii",
                "out.nii.gz",
                "white.surf.gii",
                "pial.surf.gii",
            )
        }
        cmds.append(["wb_command", "-metric-to-volume-mapping", f["rois.func.gii"],
                     f["mid.surf.gii"], xfm.reference, f["out.nii.gz"], "-ribbon-constrained",
                     f["white.surf.gii"], f["pial.surf.gii"]])  # fmt: skip
    return cmds


def workbench(cmds: list[list[str]]) -> list[float]:
    """Wall time of each hemisphere's Workbench process."""
    times = []
    for cmd in cmds:
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-1mm", action="store_true")
    args = parser.parse_args()
    med = statistics.median
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        s1 = pycortex_sample_subject(copy_to=root / "db")
        cmds = prepare_workbench(s1, root)
        print(f"{os.cpu_count()} cores; before: {load()}")
        warm_cache = root / "numba-warm"
        child(["fullhead", str(s1)], warm_cache)  # fills the warm cache (not timed)
        cold_t, warm_t, wb_t = [], [], []
        for i in range(args.repeat):  # interleaved rounds
            cold_t.append(child(["fullhead", str(s1)], root / f"numba-cold-{i}")[0])
            warm_t.append(child(["fullhead", str(s1)], warm_cache)[0])
            wb_t.append(workbench(cmds))
            print(f"  round {i + 1}: roixr cold {cold_t[-1]:.2f} s, warm {warm_t[-1]:.2f} s; "
                  f"Workbench lh {wb_t[-1][0]:.2f} s + rh {wb_t[-1][1]:.2f} s; {load()}",
                  flush=True)  # fmt: skip
        c, r = med(cold_t), med(warm_t)
        lh, rh = med(t[0] for t in wb_t), med(t[1] for t in wb_t)
        w = med(sum(t) for t in wb_t)
        print(f"S1 fullhead, 32 ROIs, both hemispheres, whole processes, median of {args.repeat}")
        print(f"  roixr ribbon, numba cache warm   {r:7.2f} s")
        print(f"  roixr ribbon, numba cache empty  {c:7.2f} s   ({c / r:.2f}x the warm one)")
        print(f"  Workbench subdiv 3, lh + rh      {w:7.2f} s   ({lh:.2f} s + {rh:.2f} s)")
        print(f"  ratio Workbench / roixr          {w / r:7.1f}x warm, {w / c:.1f}x cold")
        print(f"after: {load()}")
        if not args.skip_1mm:
            wall, peak = child(["identity", str(s1), str(root / "identity.zarr")], warm_cache)
            print(f"S1 identity (1 mm, 256^3), all ROIs + to zarr: {wall:.1f} s, peak RSS "
                  f"{peak:.0f} MB")  # fmt: skip


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
