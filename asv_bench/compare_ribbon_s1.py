"""roixr's ``ribbon`` sampler vs Workbench on pycortex's S1, whole processes, side by side.

    python asv_bench/compare_ribbon_s1.py [--repeat 3]

* S1 ``fullhead`` (100×100×31), all 32 ROIs, both hemispheres. roixr: a fresh process
  running ``roixr.get_roi_masks(S1, "fullhead", gm_sampler="ribbon")`` (imports, reading,
  sampling; numba's compiled kernel from its on-disk cache, and once with an empty cache).
  Workbench: ``wb_command -metric-to-volume-mapping <32-column ROI metric> <midthickness>
  <reference> <out> -ribbon-constrained <white> <pial>`` per hemisphere (default
  ``-voxel-subdiv 3``), surfaces written beforehand in the reference's scanner space (the
  preparation is not timed: generous to Workbench).
* S1 ``identity`` (its 1 mm anatomical grid, 256³): a fresh process writing
  ``roi_masks(S1, "identity", None, "ribbon")`` to a zarr store; wall time and peak RSS.
Prints medians and ratios.
"""

from __future__ import annotations

import argparse
import os
import resource
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


def child(args: list[str], env: dict | None = None) -> tuple[float, float]:
    """Wall time and peak RSS (MB) of a fresh roixr process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", CHILD, *args], check=True, capture_output=True,
                   env=env)  # fmt: skip
    wall = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(peak, before) / 1024


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


def workbench(cmds: list[list[str]]) -> float:
    start = time.perf_counter()
    for cmd in cmds:
        subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--skip-1mm", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        s1 = pycortex_sample_subject(copy_to=root / "db")
        cmds = prepare_workbench(s1, root)
        # numba's cache, emptied: the first process compiles the kernel
        cache = Path(roixr.__file__).parent / "sampling" / "kernels" / "__pycache__"
        for f in cache.glob("_ribbon_numba*.nb*"):
            f.unlink()
        cold, _ = child(["fullhead", str(s1)])
        roixr_t, wb_t = [], []
        for _ in range(args.repeat):  # interleaved
            roixr_t.append(child(["fullhead", str(s1)])[0])
            wb_t.append(workbench(cmds))
        r, w = statistics.median(roixr_t), statistics.median(wb_t)
        print(f"S1 fullhead, 32 ROIs, both hemispheres, whole process, median of {args.repeat}")
        print(f"  roixr ribbon         {r:7.2f} s   (empty numba cache: {cold:.2f} s)")
        print(f"  Workbench subdiv 3   {w:7.2f} s")
        print(f"  ratio                {w / r:7.1f}x   (against the empty-cache process: "
              f"{w / cold:.1f}x)")  # fmt: skip
        if not args.skip_1mm:
            wall, peak = child(["identity", str(s1), str(root / "identity.zarr")])
            print(f"S1 identity (1 mm, 256^3), all ROIs + to zarr: {wall:.1f} s, peak RSS "
                  f"{peak:.0f} MB")  # fmt: skip


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
