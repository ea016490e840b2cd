"""roixr's exact ribbon kernel vs Workbench's ribbon-constrained mapping, side by side.

    PYTHONPATH=. python asv_bench/compare_ribbon.py [--repeat 3] [--s1 /tmp/S1] [--quick]

* phantom (roixr.datasets.phantom, icosphere level 6 = 40962 vertices per hemisphere) on three
  grids: RMS / max error of the per-voxel ribbon fraction against the analytic truth, for
  ``ribbon_pairs`` and for ``wb_command -metric-to-volume-mapping <ones> <midthickness>
  <space> <out> -ribbon-constrained <white> <pial> -voxel-subdiv 3|5`` (one call per
  hemisphere, outputs summed), with wall times (median of ``--repeat``);
* pycortex S1 (copy of its db folder): times on the ``fullhead`` grid (100x100x31) and on the
  1 mm ``identity`` grid of anatomicals/raw.nii.gz (256^3), both hemispheres, ~10% of the
  triangles split; and the RMS difference roixr vs Workbench there;
* the numba cold cost (first call in a fresh process with an empty cache).
"""

from __future__ import annotations

import argparse
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

from roixr.datasets import phantom as ph
from roixr.sampling.kernels.ribbon_kernel import ribbon_pairs


def gifti(fname, pts, tris=None):
    if tris is None:
        arr = [nib.gifti.GiftiDataArray(pts.astype(np.float32), datatype="NIFTI_TYPE_FLOAT32")]
    else:
        arr = [
            nib.gifti.GiftiDataArray(
                pts.astype(np.float32), intent="NIFTI_INTENT_POINTSET",
                datatype="NIFTI_TYPE_FLOAT32",
            ),
            nib.gifti.GiftiDataArray(
                tris.astype(np.int32), intent="NIFTI_INTENT_TRIANGLE",
                datatype="NIFTI_TYPE_INT32",
            ),
        ]  # fmt: skip
    nib.save(nib.gifti.GiftiImage(darrays=arr), str(fname))


def timed(fn, repeat):
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def workbench(folder: Path, hemis: dict, affine, shape, subdiv: int, repeat: int):
    """Workbench's ribbon fraction (all-ones metric), surfaces in the volume's mm space."""
    folder.mkdir(parents=True, exist_ok=True)
    space = folder / "space.nii.gz"
    img = nib.Nifti1Image(np.zeros(shape, np.float32), affine)
    img.set_sform(affine, code=1)
    img.set_qform(affine, code=1)
    nib.save(img, str(space))
    for h, (w, p, t) in hemis.items():
        gifti(folder / f"w_{h}.surf.gii", w, t)
        gifti(folder / f"p_{h}.surf.gii", p, t)
        gifti(folder / f"m_{h}.surf.gii", 0.5 * (w + p), t)
        gifti(folder / f"ones_{h}.func.gii", np.ones(len(w)))

    def run():
        total = np.zeros(shape)
        for h in hemis:
            out = folder / f"out_{h}.nii.gz"
            cmd = ["wb_command", "-metric-to-volume-mapping", f"{folder}/ones_{h}.func.gii",
                   f"{folder}/m_{h}.surf.gii", str(space), str(out), "-ribbon-constrained",
                   f"{folder}/w_{h}.surf.gii", f"{folder}/p_{h}.surf.gii", "-voxel-subdiv",
                   str(subdiv)]  # fmt: skip
            subprocess.run(cmd, check=True, capture_output=True)
            total += np.asarray(nib.load(str(out)).dataobj, dtype=np.float64).reshape(shape)
        return total

    return timed(run, repeat)


def roixr_fraction(white, pial, tri, split, affine, shape, repeat):
    """Clipped per-voxel ribbon fraction; the time includes the mm -> voxel mapping and sum."""
    inv = np.linalg.inv(affine)

    def run():
        w = white @ inv[:3, :3].T + inv[:3, 3]
        p = pial @ inv[:3, :3].T + inv[:3, 3]
        _, v, x = ribbon_pairs(w, p, tri, split, (0, 0, 0), shape)
        return np.clip(np.bincount(v, x, int(np.prod(shape))).reshape(shape), 0, 1)

    return timed(run, repeat)


def errors(got, truth):
    band = (got != 0) | (truth != 0)
    err = got - truth
    return float(np.sqrt(np.mean(err[band] ** 2))), float(np.abs(err).max())


def phantom_section(repeat, tmp, subdivs, wb_repeat, grids=None):
    meshes = ph.phantom_meshes(6)
    rois = ph.phantom_rois(6)
    white = np.concatenate([meshes[h][0] for h in ph.HEMIS])
    pial = np.concatenate([meshes[h][1] for h in ph.HEMIS])
    n = len(meshes["lh"][0])
    tri = np.concatenate([meshes["lh"][2], meshes["rh"][2] + n])
    member = np.zeros((len(rois), 2 * n), bool)
    for r, name in enumerate(rois):
        member[r, rois[name]["lh"]] = True
        member[r, n + rois[name]["rh"]] = True
    mt = member[:, tri]
    split = (mt.any(axis=2) & ~mt.all(axis=2)).any(axis=0)
    print(f"phantom: {2 * n} vertices, {len(tri)} triangles, {split.mean():.1%} split")
    for name, (affine, shape) in ph.phantom_grids().items():
        if grids and name not in grids:
            continue
        t0 = time.perf_counter()
        truth = ph.phantom_truth(affine, shape, rois=False)["ribbon"]
        t_truth = time.perf_counter() - t0
        t, got = roixr_fraction(white, pial, tri, split, affine, shape, repeat)
        rms, mx = errors(got, truth)
        vol = got.sum() / truth.sum() - 1
        print(f"  {name:12s} {shape}  truth {t_truth:5.1f}s")
        print(f"    roixr        {t:7.2f}s  rms {rms:.2e}  max {mx:.2e}  volume {vol:+.2e}")
        for sub in subdivs:
            t, got = workbench(tmp / f"ph_{name}", meshes, affine, shape, sub, wb_repeat)
            rms, mx = errors(got, truth)
            vol = got.sum() / truth.sum() - 1
            print(
                f"    wb subdiv {sub}  {t:7.2f}s  rms {rms:.2e}  max {mx:.2e}  volume {vol:+.2e}"
            )
        sys.stdout.flush()


def load_s1(s1: Path):
    hemis = {}
    for h in ("lh", "rh"):
        w = nib.load(str(s1 / "surfaces" / f"wm_{h}.gii"))
        p = nib.load(str(s1 / "surfaces" / f"pia_{h}.gii"))
        hemis[h] = (w.darrays[0].data.astype(np.float64), p.darrays[0].data.astype(np.float64),
                    w.darrays[1].data.astype(np.int64))  # fmt: skip
    return hemis


def s1_section(s1: Path, repeat, tmp, subdivs):
    hemis = load_s1(s1)
    n = len(hemis["lh"][0])
    tri = np.concatenate([hemis["lh"][2], hemis["rh"][2] + n])
    split = np.random.default_rng(0).random(len(tri)) < 0.1
    raw = nib.load(str(s1 / "anatomicals" / "raw.nii.gz"))
    fullhead = json.loads((s1 / "transforms" / "fullhead" / "matrices.xfm").read_text())
    ref = nib.load(str(s1 / "transforms" / "fullhead" / "reference.nii.gz"))
    grids = {
        # surface mm -> voxel is coord; the voxel -> scanner mm affine is the reference's, so
        # the surfaces in scanner mm (for Workbench) are affine @ coord
        "fullhead": (np.asarray(fullhead["coord"]), ref.affine, ref.shape[:3]),
        "identity": (np.linalg.inv(raw.affine), raw.affine, raw.shape[:3]),
    }
    nv = n + len(hemis["rh"][0])
    print(f"S1: {nv} vertices, {len(tri)} triangles, {split.mean():.1%} split")
    for name, (coord, affine, shape) in grids.items():
        to_mm = affine @ coord
        mm = {h: (hemis[h][0] @ to_mm[:3, :3].T + to_mm[:3, 3],
                  hemis[h][1] @ to_mm[:3, :3].T + to_mm[:3, 3], hemis[h][2])
              for h in hemis}  # fmt: skip
        w_mm = np.concatenate([mm[h][0] for h in hemis])
        p_mm = np.concatenate([mm[h][1] for h in hemis])
        t, ours = roixr_fraction(w_mm, p_mm, tri, split, affine, shape, repeat)
        print(f"  {name:9s} {tuple(shape)}  roixr {t:7.2f}s  (median of {repeat})")
        for sub, reps in subdivs.get(name, ()):
            t, got = workbench(tmp / f"s1_{name}", mm, affine, shape, sub, reps)
            rms, mx = errors(got, ours)
            print(f"    wb subdiv {sub}  {t:7.2f}s (median of {reps})  "
                  f"vs roixr: rms {rms:.2e}  max {mx:.2e}")  # fmt: skip
        sys.stdout.flush()


COLD = """
import time
t = time.perf_counter()
import numpy as np
from roixr.sampling.kernels.ribbon_kernel import ribbon_pairs
w = np.random.default_rng(0).uniform(0, 4, (10, 3)); p = w + 1
tri = np.array([[0, 1, 2], [2, 3, 4]])
ribbon_pairs(w, p, tri, np.array([True, False]), (0, 0, 0), (5, 5, 5))
print(time.perf_counter() - t)
"""


def cold_cost(tmp: Path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp / "numba_cache"))
    shutil.rmtree(tmp / "numba_cache", ignore_errors=True)
    out = []
    for _ in range(2):  # empty cache (compile), then cache hit
        res = subprocess.run([sys.executable, "-c", COLD], env=env, capture_output=True,
                             text=True, check=True)  # fmt: skip
        out.append(float(res.stdout.strip()))
    print(f"numba: first call in a fresh process {out[0]:.1f}s with an empty cache, "
          f"{out[1]:.2f}s with the cache")  # fmt: skip


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--s1", type=Path, default=Path("/tmp/S1"))
    ap.add_argument("--wb-repeat", type=int, default=None, help="Workbench runs (--repeat)")
    ap.add_argument("--quick", action="store_true", help="subdiv 3 only, one Workbench run")
    ap.add_argument("--grids", nargs="+", help="phantom grids (default: all three)")
    ap.add_argument("--skip-s1", action="store_true", help="the phantom only")
    args = ap.parse_args()
    subdivs = (3,) if args.quick else (3, 5)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        cold_cost(tmp)
        wb = 1 if args.quick else (args.wb_repeat or args.repeat)
        phantom_section(args.repeat, tmp, subdivs, wb, args.grids)
        if args.skip_s1:
            return
        if args.s1.exists():
            # Workbench on S1 is slow: --repeat runs at subdiv 3 on fullhead, one otherwise
            s1_subdivs = {"fullhead": [(3, wb)] + [(s, 1) for s in subdivs[1:]],
                          "identity": [(3, 1)]}  # fmt: skip
            s1_section(args.s1, args.repeat, tmp, s1_subdivs)
        else:
            print(f"S1 not found at {args.s1} (copy .venv/share/pycortex/db/S1 there)")


if __name__ == "__main__":
    main()
