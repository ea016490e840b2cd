"""A small, real fMRIPrep-like derivatives tree whose every number is known.

:func:`fmriprep_like` writes, for each subject, the synthetic subject's surfaces (see
:mod:`roixr.datasets.geometry`) as fMRIPrep GIfTIs in T1w space, a ``desc-preproc_T1w``
image on the synthetic anatomical grid, a FreeSurfer folder with ``aparc`` annotations of
the synthetic ROIs, and BOLD series in native (boldref), T1w and template space with their
boldrefs and registrations, named as fMRIPrep ≥ 23.2 (``naming="new"``) or ≤ 22
(``naming="old"``) names them. What each file holds is in
:mod:`roixr.datasets.fmriprep_truth` (:func:`annotation`, :func:`roi_signals`,
:func:`native_registration`, :func:`to_template`), computed without reading them.

Registrations are written as ITK transforms (:func:`write_itk_affine`,
:func:`write_itk_composite_warp`), named as fMRIPrep names them: a file
``from-A_to-B`` resamples A into B, so as a map of points it takes B's points to A's.
Native runs get ``from-boldref_to-T1w`` (new) or ``from-scanner_to-T1w`` and
``from-T1w_to-scanner`` (old), mapping T1w points to boldref points (and back); template
runs get the subject's ``from-<template>_to-T1w`` (T1w → template points) and
``from-T1w_to-<template>`` (the inverse) composite warps, each an affine and a
displacement field. roixr's :class:`roixr.Registration` reads the ``.txt`` files as
anatomical → functional point maps; ITK 5.4 (SimpleITK) and nitransforms read the ``.h5``
files as the point maps :func:`to_template` and :func:`from_template` (within 0.002 mm,
ITK's linear interpolation of the quadratic field, and 1e-5 mm).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import nibabel as nib
import numpy as np

from roixr.datasets.files import write_gifti
from roixr.datasets.fmriprep_truth import (
    ANAT_GRID,
    NATIVE_GRID,
    T1W_GRID,
    TEMPLATE,
    TEMPLATE_AFFINE,
    TR,
    WARP_CURVATURE,
    Grid,
    annotation,
    from_template,
    native_registration,
    roi_signals,
    run_phase,
    signal_table,
    snap_grid,
    t1w_volume,
    template_grid,
    to_template,
    truth,
)
from roixr.datasets.geometry import GEOMETRY
from roixr.errors import OptionError, OutputExistsError
from roixr.io.freesurfer import vox2ras_tkr

__all__ = [
    "TEMPLATE",
    "annotation",
    "fmriprep_like",
    "from_template",
    "native_registration",
    "roi_signals",
    "to_template",
    "write_itk_affine",
    "write_itk_composite_warp",
]

LPS = np.diag([-1.0, -1.0, 1.0, 1.0])
_FS_HEMIS: dict[str, Literal["lh", "rh"]] = {"L": "lh", "R": "rh"}
#: The grid of the T1w → template displacement field: wide, so that nitransforms' cubic
#: spline (which treats outside as 0) is exact to 1e-5 mm around the surfaces.
_FORWARD_FIELD = Grid((81, 49, 33), 2.0, (-80.0, -48.0, -32.0))


# --- ITK ----------------------------------------------------------------------------------


def _itk_affine_params(affine: np.ndarray) -> np.ndarray:
    m = LPS @ np.asarray(affine, dtype=np.float64) @ LPS
    return np.concatenate([m[:3, :3].ravel(), m[:3, 3]])


def write_itk_affine(path: str | os.PathLike[str], affine: np.ndarray) -> Path:
    """Write an ITK text transform that maps RAS point ``p`` to ``affine @ p``.

    As a resampling transform (antsApplyTransforms) it resamples the space of ``affine @
    p`` into that of ``p``; fMRIPrep names such a T1w → boldref point map
    ``from-boldref_to-T1w``.
    """
    params = " ".join(f"{v:.17g}" for v in _itk_affine_params(affine))
    text = (
        "#Insight Transform File V1.0\n#Transform 0\nTransform: AffineTransform_double_3_3\n"
        f"Parameters: {params}\nFixedParameters: 0 0 0\n"
    )
    Path(path).write_text(text)
    return Path(path)


def write_itk_composite_warp(
    path: str | os.PathLike[str], affine: np.ndarray, field_img: nib.Nifti1Image
) -> Path:
    """Write an ITK composite transform (``.h5``): a displacement field, then an affine.

    The file maps a RAS point ``p`` (mm) to ``affine @ (p + d(p))``, where ``d(p)`` is the
    displacement (RAS mm) of ``field_img`` at ``p``: ITK applies a composite's transforms
    from last to first, and the file lists the affine (group 1) before the field (group 2),
    as antsRegistration's composite transforms do. As a resampling transform it resamples
    the space of the mapped points into that of ``p``, so fMRIPrep names a T1w → template
    point map ``from-<template>_to-T1w``. ITK interpolates the field linearly and gives no
    displacement outside it; nitransforms (``ITKCompositeH5``) reads the same file.

    Parameters
    ----------
    path : path-like
        The ``.h5`` file to write.
    affine : (4, 4) array
        The RAS → RAS point map applied after the field.
    field_img : nibabel image
        Displacements in RAS mm, shape (X, Y, Z, 3) or ITK's (X, Y, Z, 1, 3), on the grid of
        the image's affine (any orientation).
    """
    import h5py

    data = np.asarray(field_img.dataobj, dtype=np.float64)
    data = data.reshape(*data.shape[:3], 3)
    grid = LPS @ np.asarray(field_img.affine, dtype=np.float64)
    spacing = np.linalg.norm(grid[:3, :3], axis=0)
    direction = grid[:3, :3] / spacing
    fixed = np.concatenate([data.shape[:3], grid[:3, 3], spacing, direction.ravel()])
    vectors = data * np.array([-1.0, -1.0, 1.0])  # RAS → LPS displacements
    params = np.moveaxis(vectors, -1, 0).ravel(order="F").astype(np.float32)
    text = h5py.string_dtype("ascii")  # ITK reads variable-length ASCII strings only

    def strings(*values: str) -> np.ndarray:
        return np.array(values, dtype=text)

    with h5py.File(path, "w") as f:
        for key, value in (("ITKVersion", "5.4.0"), ("HDFVersion", "1.14"), ("OSName", "Linux")):
            f[key] = strings(value)
        group = f.create_group("TransformGroup")
        group.create_group("0")["TransformType"] = strings("CompositeTransform_double_3_3")
        linear = group.create_group("1")
        linear["TransformType"] = strings("AffineTransform_double_3_3")
        linear["TransformParameters"] = _itk_affine_params(affine)
        linear["TransformFixedParameters"] = np.zeros(3)
        warp = group.create_group("2")
        warp["TransformType"] = strings("DisplacementFieldTransform_float_3_3")
        warp["TransformParameters"] = params
        warp["TransformFixedParameters"] = fixed
    return Path(path)


def _field(grid: Grid, displacement: np.ndarray) -> nib.Nifti1Image:
    return nib.Nifti1Image(displacement.reshape(*grid.shape, 3, order="F"), grid.affine)


def _write_template_warps(anat: Path, prefix: str) -> None:
    """``from-<template>_to-T1w`` (T1w → template points) and the inverse map."""
    fwd = _FORWARD_FIELD.centres()
    d = np.zeros_like(fwd)
    d[:, 2] = WARP_CURVATURE * fwd[:, 0] ** 2
    write_itk_composite_warp(
        anat / f"{prefix}_from-{TEMPLATE}_to-T1w_mode-image_xfm.h5",
        TEMPLATE_AFFINE,
        _field(_FORWARD_FIELD, d),
    )
    # template q -> inv(A) @ (q + e(q)) with e(q) = -L (0, 0, c r_x²), r = inv(A) q
    inverse = snap_grid(to_template(_FORWARD_FIELD.corners()), 2.0, 4.0)
    q = inverse.centres()
    r = (q - TEMPLATE_AFFINE[:3, 3]) @ np.linalg.inv(TEMPLATE_AFFINE[:3, :3]).T
    e = -np.outer(WARP_CURVATURE * r[:, 0] ** 2, TEMPLATE_AFFINE[:3, 2])
    write_itk_composite_warp(
        anat / f"{prefix}_from-T1w_to-{TEMPLATE}_mode-image_xfm.h5",
        np.linalg.inv(TEMPLATE_AFFINE),
        _field(inverse, e),
    )


# --- volumes and the tree ---------------------------------------------------------------


def _nifti(data: np.ndarray, affine: np.ndarray, tr: float | None = None) -> nib.Nifti1Image:
    img = nib.Nifti1Image(data, affine)
    img.set_sform(affine, code=1)
    img.set_qform(affine, code=1)
    if tr is not None:
        img.header.set_zooms((*img.header.get_zooms()[:3], tr))
        img.header.set_xyzt_units("mm", "sec")
    return img


@dataclass(frozen=True)
class _Spec:
    subjects: tuple[str, ...]
    sessions: tuple[str, ...] | None
    tasks: tuple[str, ...]
    runs: int
    spaces: tuple[str, ...]
    naming: str
    n_volumes: int
    freesurfer: bool


def _labels(value: object, option: str, prefix: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    out: tuple[str, ...] = ()
    if isinstance(items, Iterable):
        out = tuple(str(v).removeprefix(prefix) for v in items)
    if not out or not all(v and v.isalnum() for v in out):
        raise OptionError(
            f"{option} must be a non-empty list of alphanumeric labels, got {value!r:.80}."
        )
    return out


def _spec(subjects, sessions, tasks, runs, spaces, naming, n_volumes, freesurfer) -> _Spec:
    spaces = _labels(spaces, "spaces", "")
    unknown = sorted(set(spaces) - {"boldref", "T1w", TEMPLATE})
    if unknown:
        raise OptionError(
            f"spaces {unknown} cannot be written; the fixture writes 'boldref' (native), "
            f"'T1w' and {TEMPLATE!r}."
        )
    if naming not in ("new", "old"):
        raise OptionError(f"naming must be 'new' or 'old', got {naming!r:.80}.")
    for name, value in (("runs", runs), ("n_volumes", n_volumes)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise OptionError(f"{name} must be an integer ≥ 1, got {value!r:.80}.")
    return _Spec(
        _labels(subjects, "subjects", "sub-"),
        None if sessions is None else _labels(sessions, "sessions", "ses-"),
        _labels(tasks, "tasks", "task-"),
        runs, spaces, naming, n_volumes, bool(freesurfer),
    )  # fmt: skip


def _prepare(root: Path, overwrite: bool) -> None:
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        if not overwrite or not root.is_dir():
            raise OutputExistsError(
                f"{str(root)!r} exists and is not an empty folder.",
                fix="Choose another path, or pass overwrite=True to replace a folder.",
                option="overwrite",
            )
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)


def fmriprep_like(
    path: str | os.PathLike[str],
    *,
    subjects: Sequence[str] = ("01", "02"),
    sessions: Sequence[str] | None = ("1", "2"),
    tasks: Sequence[str] = ("rest", "nback"),
    runs: int = 1,
    spaces: Sequence[str] = ("boldref", "T1w"),
    naming: Literal["new", "old"] = "new",
    n_volumes: int = 12,
    freesurfer: bool = True,
    overwrite: bool = False,
) -> Path:
    """Write a small fMRIPrep-like derivatives folder at ``path`` and return it.

    Every subject has the synthetic subject's anatomy; each (session, task, run) has a
    series in each of ``spaces`` with its boldref, and native runs their registration. The
    signals, labels and registrations are known exactly (see :mod:`roixr.datasets.fmriprep`).

    Parameters
    ----------
    path : path-like
        The folder to write (fMRIPrep's output folder); created if needed.
    subjects, sessions, tasks : sequence of str
        Labels without prefixes. ``sessions=None`` writes no session level. With several
        sessions the anatomy is written at the subject level, with one into that session's
        ``anat/`` (as fMRIPrep does).
    runs : int
        Runs per task; with more than one, names carry ``run-1``, ``run-2``...
    spaces : sequence of str
        ``"boldref"`` (native: ``*_desc-preproc_bold.nii.gz`` on the boldref grid),
        ``"T1w"``, and ``"MNI152NLin2009cAsym"`` (``res-2``, with the subject's warps).
    naming : {"new", "old"}
        fMRIPrep ≥ 23.2 names (``desc-coreg_boldref``, ``from-boldref_to-T1w``, ``white``)
        or ≤ 22 ones (``boldref``, ``from-scanner_to-T1w``, ``smoothwm``).
    n_volumes : int
        Volumes per series (repetition time 2 s).
    freesurfer : bool
        Write ``sourcedata/freesurfer/sub-XX`` (``label/{lh,rh}.aparc.annot``,
        ``surf/{lh,rh}.{white,pial}`` in tkr-RAS, ``mri/orig.mgz``).
    overwrite : bool
        Replace a non-empty folder at ``path``.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    OutputExistsError
        If ``path`` is a file, or a non-empty folder and ``overwrite`` is False.
    OptionError
        If an argument has a bad value.
    """
    spec = _spec(subjects, sessions, tasks, runs, spaces, naming, n_volumes, freesurfer)
    root = Path(path)
    _prepare(root, overwrite)
    version = "23.2.3" if naming == "new" else "22.1.1"
    description = {
        "Name": "fMRIPrep - fMRI PREProcessing workflow (roixr fixture)",
        "BIDSVersion": "1.8.0",
        "DatasetType": "derivative",
        "GeneratedBy": [{"Name": "fMRIPrep", "Version": version}],
    }
    (root / "dataset_description.json").write_text(json.dumps(description, indent=2))
    for subject in spec.subjects:
        _write_subject(root, subject, spec)
    return root


def _write_subject(root: Path, subject: str, spec: _Spec) -> None:
    folder = root / f"sub-{subject}"
    if spec.sessions is not None and len(spec.sessions) == 1:  # fMRIPrep: into the session
        only = spec.sessions[0]
        _write_anat(folder / f"ses-{only}" / "anat", f"sub-{subject}_ses-{only}", spec)
    else:
        _write_anat(folder / "anat", f"sub-{subject}", spec)
    if spec.freesurfer:
        _write_freesurfer(root / "sourcedata" / "freesurfer" / f"sub-{subject}")
    for session in spec.sessions or (None,):
        func = folder / (f"ses-{session}" if session else "") / "func"
        func.mkdir(parents=True)
        for task in spec.tasks:
            for k in range(1, spec.runs + 1):
                run = str(k) if spec.runs > 1 else None
                _write_run(func, (subject, session, task, run), spec)


def _write_anat(anat: Path, prefix: str, spec: _Spec) -> None:
    anat.mkdir(parents=True)
    t1w = _nifti(t1w_volume(GEOMETRY), ANAT_GRID.affine)
    nib.save(t1w, anat / f"{prefix}_desc-preproc_T1w.nii.gz")
    white = "white" if spec.naming == "new" else "smoothwm"  # fMRIPrep ≤ 22 wrote smoothwm
    for hemi, fs in _FS_HEMIS.items():
        tris = GEOMETRY.triangles(fs)
        surfaces = {
            white: GEOMETRY.white(fs),
            "pial": GEOMETRY.pial(fs),
            "midthickness": GEOMETRY.fiducial(fs),
        }
        for kind, pts in surfaces.items():
            write_gifti(anat / f"{prefix}_hemi-{hemi}_{kind}.surf.gii", pts, tris)
    write_itk_affine(anat / f"{prefix}_from-fsnative_to-T1w_mode-image_xfm.txt", np.eye(4))
    if TEMPLATE in spec.spaces:
        _write_template_warps(anat, prefix)


def _write_freesurfer(folder: Path) -> None:
    """recon-all's files roixr reads: annotations, surfaces in tkr-RAS, ``orig.mgz``."""
    for sub in ("label", "surf", "mri"):
        (folder / sub).mkdir(parents=True)
    nib.save(nib.MGHImage(t1w_volume(GEOMETRY), ANAT_GRID.affine), folder / "mri" / "orig.mgz")
    tkr = vox2ras_tkr(ANAT_GRID.shape, (1.0, 1.0, 1.0)) @ np.linalg.inv(ANAT_GRID.affine)
    for hemi, fs in _FS_HEMIS.items():
        labels, names = annotation(hemi)
        # FreeSurfer's "unknown" colour: an annotation value of 0 would read as unlabelled
        colours = [(25, 5, 25, 0)] + [
            (37 * k % 256, 91 * k % 256, 157 * k % 256, 0) for k in range(1, len(names))
        ]
        colours_array = np.array(colours, dtype=np.int32)
        nib.freesurfer.write_annot(
            folder / "label" / f"{fs}.aparc.annot", labels, colours_array, names
        )
        for kind, pts in (("white", GEOMETRY.white(fs)), ("pial", GEOMETRY.pial(fs))):
            points = pts @ tkr[:3, :3].T + tkr[:3, 3]
            nib.freesurfer.write_geometry(
                folder / "surf" / f"{fs}.{kind}", points, GEOMETRY.triangles(fs)
            )


def _run_images(space: str, run: tuple, naming: str) -> tuple[Grid, np.ndarray, str, str]:
    """A run's grid in ``space``, each voxel's signal-table row, and the name stems of its
    series and boldref."""
    subject, session, task, label = run
    pairs = (("sub", subject), ("ses", session), ("task", task), ("run", label))
    base = "_".join(f"{k}-{v}" for k, v in pairs if v)
    known = truth(GEOMETRY)
    if space == "boldref":
        func_to_t1w = np.linalg.inv(native_registration(*run))
        centres = NATIVE_GRID.centres() @ func_to_t1w[:3, :3].T + func_to_t1w[:3, 3]
        ref = f"{base}_desc-coreg_boldref" if naming == "new" else f"{base}_boldref"
        return NATIVE_GRID, known.rows(centres), f"{base}_desc-preproc", ref
    if space == "T1w":
        stem = f"{base}_space-T1w"
        return T1W_GRID, known.rows(T1W_GRID.centres()), f"{stem}_desc-preproc", f"{stem}_boldref"
    grid, stem = template_grid(GEOMETRY), f"{base}_space-{space}_res-2"
    return (
        grid,
        known.rows(grid.centres(), template=True),
        f"{stem}_desc-preproc",
        f"{stem}_boldref",
    )


def _write_run(func: Path, run: tuple[str, str | None, str, str | None], spec: _Spec) -> None:
    table = signal_table(run_phase(*run), truth(GEOMETRY).n_labels, spec.n_volumes)
    sidecar = json.dumps({"RepetitionTime": TR, "SkullStripped": False})
    for space in spec.spaces:
        grid, rows, stem, ref = _run_images(space, run, spec.naming)
        data = table[rows].reshape(*grid.shape, spec.n_volumes, order="F")
        nib.save(_nifti(data, grid.affine, TR), func / f"{stem}_bold.nii.gz")
        (func / f"{stem}_bold.json").write_text(sidecar)
        nib.save(_nifti(data.mean(axis=-1), grid.affine), func / f"{ref}.nii.gz")
        if space == "boldref":
            base = stem.removesuffix("_desc-preproc")
            _write_native_xfms(func, base, native_registration(*run), spec.naming)
            if spec.naming == "new":  # before distortion correction: roixr must not take it
                nib.save(
                    _nifti(data[..., 0], grid.affine), func / f"{base}_desc-hmc_boldref.nii.gz"
                )


def _write_native_xfms(func: Path, base: str, a2f: np.ndarray, naming: str) -> None:
    """The T1w → boldref point map under fMRIPrep's names, and decoys roixr must skip."""
    if naming == "new":
        write_itk_affine(func / f"{base}_from-boldref_to-T1w_mode-image_desc-coreg_xfm.txt", a2f)
        decoy = f"{base}_from-orig_to-boldref_mode-image_desc-hmc_xfm.txt"
    else:
        write_itk_affine(func / f"{base}_from-scanner_to-T1w_mode-image_xfm.txt", a2f)
        inverse = func / f"{base}_from-T1w_to-scanner_mode-image_xfm.txt"
        write_itk_affine(inverse, np.linalg.inv(a2f))
        decoy = f"{base}_from-scanner_to-boldref_mode-image_xfm.txt"
    write_itk_affine(func / decoy, np.eye(4))
