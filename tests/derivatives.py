"""fMRIPrep-like derivatives trees built from geometry roixr did not make, shared by the
tests (test_find_runs.py, test_extract_trees.py): pycortex's S1 (its GIfTI surfaces in the
scanner RAS of its raw anatomical, its fullhead reference and transform) and nilearn's
fsaverage5 (its meshes, a grid around them, annotations labelled here).

Only nibabel, numpy and the transform writers write the files; the names are fMRIPrep's,
in both naming generations:

* ``naming="new"`` (fMRIPrep ≥ 23.2): native runs have ``*_desc-coreg_boldref.nii.gz``
  and ``*_from-boldref_to-T1w_mode-image_desc-coreg_xfm.txt`` (the T1w → boldref point
  map), and the anatomy exports ``white`` surfaces;
* ``naming="old"`` (fMRIPrep ≤ 22): native runs have ``*_boldref.nii.gz`` and only the
  inverse ``*_from-T1w_to-scanner_mode-image_xfm.txt``; the anatomy exports ``smoothwm``.

T1w-space runs are ``*_space-T1w_desc-preproc_bold.nii.gz`` beside
``*_space-T1w_boldref.nii.gz`` in both.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
from fs_fixtures import write_itk

import roixr
from roixr.datasets import fmriprep as fx
from roixr.datasets import fmriprep_truth as truth
from roixr.datasets.files import write_gifti

__all__ = [
    "FSAVG_ROIS",
    "T1W_ZOOM",
    "TR",
    "Fsaverage5Tree",
    "S1Run",
    "bold_series",
    "fsaverage5_annotation",
    "fsaverage5_derivatives",
    "s1_derivatives",
    "write_bold",
]

TR = 2.0
#: The voxel size of S1's T1w-space runs: its raw anatomical grid (1 mm) downsampled.
T1W_ZOOM = 4


# --- series ------------------------------------------------------------------------------


def bold_series(base: np.ndarray, n_volumes: int, seed: int) -> np.ndarray:
    """A random but BOLD-like series on ``base``'s grid: each voxel's baseline (``base``
    plus a floor), a percent-scale signal mixed from three slow components with spatially
    smooth weights (so ROIs differ), a per-voxel linear drift and thermal noise."""
    rng = np.random.default_rng(seed)
    shape = base.shape
    baseline = 100.0 + np.asarray(base, dtype=np.float64)
    components = rng.standard_normal((3, n_volumes)).cumsum(axis=1)
    components -= components.mean(axis=1, keepdims=True)
    coarse = rng.standard_normal((3, *(-(-s // 8) for s in shape)))
    weights = coarse.repeat(8, 1).repeat(8, 2).repeat(8, 3)[:, : shape[0], : shape[1], : shape[2]]
    signal = np.einsum("kxyz,kt->xyzt", weights, components) * 0.01
    drift = rng.normal(0.0, 0.002, shape)[..., None] * np.arange(n_volumes)
    noise = rng.standard_normal((*shape, n_volumes)) * 0.02 * baseline.mean()
    return (baseline[..., None] * (1.0 + signal + drift) + noise).astype(np.float32)


def write_bold(path: Path, data: np.ndarray, like: Any, dtype: Any = np.float32) -> Path:
    """``data`` as a NIfTI series with ``like``'s affine and header (its sform and qform
    codes), the repetition time :data:`TR` in seconds; ``dtype`` int16 lets nibabel
    choose a scale factor (``scl_slope``), as fMRIPrep's outputs may carry."""
    img = nib.Nifti1Image(data, like.affine, like.header.copy())
    img.set_data_dtype(dtype)
    img.header.set_zooms((*like.header.get_zooms()[:3], TR))
    img.header.set_xyzt_units("mm", "sec")
    nib.save(img, str(path))
    return path


# --- pycortex's S1 ------------------------------------------------------------------------


@dataclass(frozen=True)
class S1Run:
    """A run of the S1 tree.

    ``space`` None is a native run on S1's fullhead reference grid, registered with S1's
    own fullhead transform; ``"T1w"`` a run on S1's raw anatomical grid downsampled to
    :data:`T1W_ZOOM` mm. ``n_volumes`` 0 writes the reference image itself as the series
    (a 3-D image); otherwise :func:`bold_series` of that length on the reference, stored
    as ``dtype``.
    """

    task: str
    run: str | None = None
    space: str | None = None
    n_volumes: int = 0
    seed: int = 0
    dtype: Any = np.float32


def _t1w_grid(s1: Path) -> nib.Nifti1Image:
    """S1's raw anatomical block-averaged to :data:`T1W_ZOOM` mm: a boldref in T1w space
    (its voxel centres are those of the blocks)."""
    raw = nib.load(str(s1 / "anatomicals" / "raw.nii.gz"))
    k = T1W_ZOOM
    data = np.asarray(raw.dataobj, dtype=np.float32)
    n = [s // k for s in data.shape[:3]]
    data = data[: n[0] * k, : n[1] * k, : n[2] * k]
    blocks = data.reshape(n[0], k, n[1], k, n[2], k).mean(axis=(1, 3, 5))
    affine = raw.affine @ np.diag([k, k, k, 1.0])
    affine[:3, 3] = raw.affine[:3, :3] @ np.full(3, (k - 1) / 2) + raw.affine[:3, 3]
    return nib.Nifti1Image(blocks.astype(np.float32), affine)


def s1_derivatives(
    root: Path,
    s1: Path,
    naming: str = "new",
    runs: tuple[S1Run, ...] = (S1Run("retinotopy", "01"),),
    *,
    session: str | None = None,
    itk_centre: tuple[float, float, float] | None = None,
    extras: bool = False,
) -> Path:
    """pycortex's S1 (the folder ``s1``) as fMRIPrep derivatives of subject ``S1`` at
    ``root`` (returned): its surfaces as GIfTIs, its raw anatomical as the T1w, and
    ``runs``.

    Native runs have S1's fullhead reference as their boldref and S1's fullhead transform
    (S1 scanner RAS → fullhead RAS) as their registration, written by roixr's
    ``write_itk_affine`` or, with ``itk_centre``, by ``fs_fixtures.write_itk`` (LPS
    parameters about that centre of rotation, as ANTs writes them). ``extras`` adds what
    fMRIPrep also writes and roixr must not take: the head-motion boldref and its
    ``from-orig_to-boldref`` transform (a wrong map on purpose), brain masks, confounds and
    JSON sidecars.
    """
    subject = root / "sub-S1"
    level = subject / f"ses-{session}" if session else subject
    prefix = f"sub-S1_ses-{session}" if session else "sub-S1"
    anat, func = level / "anat", level / "func"
    anat.mkdir(parents=True)
    func.mkdir(parents=True)
    white = "white" if naming == "new" else "smoothwm"
    for hemi, fs in (("L", "lh"), ("R", "rh")):
        shutil.copy(
            s1 / "surfaces" / f"wm_{fs}.gii", anat / f"{prefix}_hemi-{hemi}_{white}.surf.gii"
        )
        shutil.copy(
            s1 / "surfaces" / f"pia_{fs}.gii", anat / f"{prefix}_hemi-{hemi}_pial.surf.gii"
        )
    shutil.copy(s1 / "anatomicals" / "raw.nii.gz", anat / f"{prefix}_desc-preproc_T1w.nii.gz")
    reference = s1 / "transforms" / "fullhead" / "reference.nii.gz"
    magnet = roixr.Subject(s1).transform("fullhead").magnet  # S1 scanner RAS → fullhead RAS
    t1w_ref = _t1w_grid(s1) if any(r.space == "T1w" for r in runs) else None
    for r in runs:
        base = str(func / "_".join(
            [prefix, f"task-{r.task}", *([f"run-{r.run}"] if r.run else [])]
        ))  # fmt: skip
        if r.space is None:
            ref_img = nib.load(str(reference))
            boldref = f"{base}_desc-coreg_boldref.nii.gz" if naming == "new" else (
                f"{base}_boldref.nii.gz"
            )  # fmt: skip
            shutil.copy(reference, boldref)
            bold = f"{base}_desc-preproc_bold.nii.gz"
            _native_registration(base, naming, magnet, itk_centre)
        else:
            ref_img = t1w_ref
            boldref = f"{base}_space-{r.space}_boldref.nii.gz"
            nib.save(ref_img, boldref)
            bold = f"{base}_space-{r.space}_desc-preproc_bold.nii.gz"
        if r.n_volumes == 0:
            shutil.copy(boldref, bold)
        else:
            data = bold_series(np.asarray(ref_img.dataobj), r.n_volumes, r.seed)
            write_bold(Path(bold), data, ref_img, r.dtype)
        if extras:
            _extras(base, r.space, ref_img, naming)
    return root


def _native_registration(base: str, naming: str, magnet: np.ndarray, centre) -> None:
    if naming == "new":
        path = Path(f"{base}_from-boldref_to-T1w_mode-image_desc-coreg_xfm.txt")
        if centre is None:
            fx.write_itk_affine(path, magnet)
        else:
            write_itk(magnet, path, center=centre)
    else:
        path = Path(f"{base}_from-T1w_to-scanner_mode-image_xfm.txt")
        if centre is None:
            fx.write_itk_affine(path, np.linalg.inv(magnet))
        else:
            write_itk(magnet, path, center=centre, inverse=True)


def _extras(base: str, space: str | None, ref_img: Any, naming: str) -> None:
    """Files fMRIPrep writes beside a run that are neither its reference nor its
    registration."""
    image = f"{base}_space-{space}" if space else base
    mask = (np.asarray(ref_img.dataobj) > np.percentile(ref_img.dataobj, 60)).astype(np.uint8)
    nib.save(nib.Nifti1Image(mask, ref_img.affine), f"{image}_desc-brain_mask.nii.gz")
    Path(f"{image}_desc-preproc_bold.json").write_text(
        json.dumps({"RepetitionTime": TR, "SkullStripped": False})
    )
    if space is None:
        Path(f"{base}_desc-confounds_timeseries.tsv").write_text("global_signal\tcsf\n1\t2\n")
        if naming == "new":  # head motion: before distortion correction, never the reference
            nib.save(ref_img, f"{base}_desc-hmc_boldref.nii.gz")
            wrong = np.eye(4)
            wrong[:3, 3] = (7.0, -5.0, 11.0)
            fx.write_itk_affine(f"{base}_from-orig_to-boldref_mode-image_desc-hmc_xfm.txt", wrong)
            Path(f"{base}_from-boldref_to-T1w_mode-image_desc-coreg_xfm.json").write_text("{}")


# --- nilearn's fsaverage5 -----------------------------------------------------------------

#: The parcels of :func:`fsaverage5_derivatives`' annotations (index 0 is ``unknown``).
FSAVG_ROIS = (
    "frontal_pole", "superior_frontal", "precentral", "postcentral", "superior_parietal",
    "occipital", "inferior_temporal", "superior_temporal", "insula", "cingulate",
    "corpuscallosum",
)  # fmt: skip


@dataclass(frozen=True)
class Fsaverage5Tree:
    """The tree (``root``), the run's grid and nilearn's mesh; ``annotations`` the
    ``(lh, rh)`` ``aparc`` files when written."""

    root: Path
    grid: truth.Grid
    mesh: Any
    annotations: tuple[Path, Path] | None = None


def fsaverage5_annotation(sphere: np.ndarray, hemi: str) -> tuple[np.ndarray, list[str]]:
    """An ``aparc``-like labelling of one fsaverage5 hemisphere: each vertex takes the
    nearest of the icosahedron's 12 vertices (fsaverage's first 12) on the sphere: parcel
    0 is ``unknown`` (background), parcel 1 unlabelled (-1), the others the first ten of
    :data:`FSAVG_ROIS`; ``corpuscallosum`` is in the colour table with no vertex, as in
    FreeSurfer's aparc. The right hemisphere lists its table in reverse order."""
    seeds = sphere[:12] / np.linalg.norm(sphere[:12], axis=1, keepdims=True)
    parcel = np.argmax(sphere @ seeds.T, axis=1)
    names = ["unknown", *FSAVG_ROIS]
    if hemi == "R":
        names = ["unknown", *reversed(FSAVG_ROIS)]
    index = {name: i for i, name in enumerate(names)}
    labels = np.full(len(sphere), -1, dtype=np.int32)
    labels[parcel == 0] = 0
    for k, name in enumerate(FSAVG_ROIS[:10]):
        labels[parcel == k + 2] = index[name]
    return labels, names


def _write_annotations(sphere: dict[str, np.ndarray], folder: Path) -> tuple[Path, Path]:
    folder.mkdir(parents=True)
    colours = {n: ((i * 37) % 256, (i * 91) % 256, 50 + 17 * i) for i, n in
               enumerate(["unknown", *FSAVG_ROIS])}  # fmt: skip
    out = []
    for hemi, fs in (("L", "lh"), ("R", "rh")):
        labels, names = fsaverage5_annotation(sphere[hemi], hemi)
        ctab = np.array([(*colours[n], 0, 0) for n in names])
        path = folder / f"{fs}.aparc.annot"
        nib.freesurfer.write_annot(str(path), labels, ctab, names, fill_ctab=True)
        out.append(path)
    return out[0], out[1]


def fsaverage5_derivatives(
    root: Path, *, n_volumes: int = 3, seed: int | None = None, annotations: bool = False
) -> Fsaverage5Tree:
    """nilearn's fsaverage5 as an old-style single-session subject ``fsavg`` (session
    ``A``, ``smoothwm`` surfaces) with one T1w-space run on a 4 mm grid around both
    hemispheres: zeros of ``n_volumes`` volumes when ``seed`` is None, else
    :func:`bold_series` stored as int16 (with a scale factor). ``annotations`` writes
    ``sourcedata/freesurfer/sub-fsavg/label/{lh,rh}.aparc.annot``
    (:func:`fsaverage5_annotation`)."""
    from nilearn import datasets

    mesh = datasets.load_fsaverage("fsaverage5")
    anat = root / "sub-fsavg" / "ses-A" / "anat"
    func = root / "sub-fsavg" / "ses-A" / "func"
    anat.mkdir(parents=True)
    func.mkdir(parents=True)
    for hemi, part in (("L", "left"), ("R", "right")):
        for kind, name in (("white_matter", "smoothwm"), ("pial", "pial")):
            surface = mesh[kind].parts[part]
            write_gifti(
                anat / f"sub-fsavg_ses-A_hemi-{hemi}_{name}.surf.gii",
                surface.coordinates,
                surface.faces,
            )
    grid = truth.snap_grid(mesh["pial"].parts["left"].coordinates, 4.0, 10.0)
    grid = truth.Grid((2 * grid.shape[0], grid.shape[1], grid.shape[2]), 4.0, grid.origin)
    base = "sub-fsavg_ses-A_task-rest_run-1_space-T1w"
    ref = nib.Nifti1Image(np.zeros(grid.shape, dtype=np.float32), grid.affine)
    if seed is None:
        series = np.zeros((*grid.shape, n_volumes), dtype=np.float32)
        nib.save(nib.Nifti1Image(series, grid.affine), func / f"{base}_desc-preproc_bold.nii.gz")
    else:
        data = bold_series(np.full(grid.shape, 500.0), n_volumes, seed)
        write_bold(func / f"{base}_desc-preproc_bold.nii.gz", data, ref, np.int16)
    nib.save(ref, func / f"{base}_boldref.nii.gz")
    nib.save(ref, anat / "sub-fsavg_ses-A_desc-preproc_T1w.nii.gz")
    annots = None
    if annotations:
        sphere = {
            h: mesh["sphere"].parts[p].coordinates for h, p in (("L", "left"), ("R", "right"))
        }
        annots = _write_annotations(
            sphere, root / "sourcedata" / "freesurfer" / "sub-fsavg" / "label"
        )
    return Fsaverage5Tree(root, grid, mesh, annots)
