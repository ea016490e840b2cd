"""Registrations of a functional image to the anatomy, read with nitransforms and h5py.

A registration is a point mapping from anatomical scanner RAS (mm) to the functional
reference image's scanner RAS: one 4×4 float64 matrix, ``anat_to_func``, when it is affine,
else a :class:`~roixr.io.warps.PointMap` (an ITK displacement field, or a composite of
affines and fields: fMRIPrep's template warps). Each file is taken as the tool that wrote
it defines it, for the usual case of the functional image registered *to* the anatomy:

=====================  ====================================================================
``.lta``               FreeSurfer (bbregister, mri_robust_register): maps ``src`` → ``dst``;
                       the usual file has the functional image as ``src``. Its volume
                       geometry says which way round it is, and is checked.
``register.dat``       tkregister: maps anatomical tkr-RAS → functional tkr-RAS.
FSL ``.mat``           FLIRT ``-in func -ref anat -omat``: functional → anatomical in FSL
                       coordinates (needs both images).
ITK ``.txt``/``.h5``   ANTs / fMRIPrep ``from-boldref_to-T1w``: maps anatomical points to
                       functional points (LPS); ``from-T1w_to-boldref`` is inverted. An
                       ``.h5`` composite (affines and displacement fields, as fMRIPrep's
                       ``from-<template>_to-T1w_mode-image_xfm.h5``) is applied whole, in
                       ITK's order; ``from-T1w_to-<template>`` is inverted numerically.
ITK field ``.nii.gz``  an ANTs displacement field (5D), read as the ITK files above.
4×4 array              anatomical RAS → functional RAS (pycortex's ``magnet`` convention).
``"identity"``         the functional data are already in the anatomical space.
=====================  ====================================================================

nitransforms parses the linear formats; where it keeps numbers in float32 (the LTA matrix,
the ITK text parameters and centre) roixr re-reads those numbers in float64 from the same
lines, so a registration equivalent to a pycortex transform gives the same voxels (float32
moves voxel coordinates by about 1e-5 voxels, which changes a few mapper fractions on S1).
ITK ``.h5`` files and displacement fields are read by :mod:`roixr.io.warps` (its docstring
states the conventions; ``tests/test_warps.py`` checks them against nitransforms).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from roixr.errors import RegistrationError, SubjectFileNotFoundError
from roixr.io.warps import PointMap, check_affine, itk_affine, read_itk_field, read_itk_h5

__all__ = [
    "PointMap",
    "Registration",
    "RegistrationLike",
    "anat_to_func",
    "as_registration",
    "point_mapping",
]
_ANAT_NAMES = {"t1w", "t2w", "anat", "fsnative", "orig", "t1", "mprage"}
_GEOMETRY_TOL = 1e-3  # mm: LTA volume info is written with about 7 significant digits
#: FreeSurfer's LTA transform types (``transform.h``), for messages; roixr applies 0 and 1.
_LTA_TYPES = {
    0: "LINEAR_VOX_TO_VOX",
    1: "LINEAR_RAS_TO_RAS",
    2: "LINEAR_PHYSVOX_TO_PHYSVOX",
    10: "TRANSFORM_ARRAY_TYPE",
    11: "MORPH_3D_TYPE",
    12: "MNI_TRANSFORM_TYPE",
    13: "MATLAB_ASCII_TYPE",
    14: "REGISTER_DAT",
    15: "FSLREG_TYPE",
    21: "LINEAR_CORONAL_RAS_TO_CORONAL_RAS (tkr-RAS)",
}
_REEXPORT = (
    "Re-export the registration from the tool that estimated it (the file is corrupt, or "
    "was written from a failed registration)."
)


@dataclass(frozen=True, eq=False)
class Registration:
    """A registration of a functional reference image to the subject's anatomy.

    Parameters
    ----------
    value : path-like, array or "identity"
        A FreeSurfer ``.lta`` or ``register.dat``, an FSL FLIRT ``.mat``, an ITK/ANTs
        transform (an affine ``.txt``, ``.tfm`` or binary ``.mat``; an ``.h5`` holding
        affines and displacement fields, such as fMRIPrep's template warps; a displacement
        field ``.nii.gz``), a 4×4 anatomical RAS → functional RAS array, or ``"identity"``.
    invert : bool, optional
        Take the file the other way round (for example ``flirt -in anat -ref func``). None
        decides from the file: an LTA's volume geometry, an fMRIPrep ``from-T1w_to-...``
        name; otherwise the usual direction (functional registered to the anatomy). A
        displacement field taken the other way round is inverted numerically (see
        :mod:`roixr.io.warps`).
    """

    value: Any
    invert: bool | None = None

    @property
    def description(self) -> str:
        """A short JSON-friendly name for attrs and messages."""
        if isinstance(self.value, str) and self.value == "identity":
            text = "identity"
        elif isinstance(self.value, (str, os.PathLike)):
            text = str(Path(self.value).expanduser())
        else:
            text = "RAS→RAS matrix"
        return f"{text} (inverted)" if self.invert else text

    def __reduce__(self):
        return (Registration, (self.value, self.invert))


RegistrationLike = Registration | str | os.PathLike | np.ndarray


def as_registration(value: object) -> Registration:
    """A :class:`Registration` from what a user passes."""
    if isinstance(value, Registration):
        return value
    if isinstance(value, (str, os.PathLike)):
        return Registration(value)
    arr = np.asarray(value, dtype=float) if _array_like(value) else None
    if arr is not None and arr.ndim == 2:
        check_affine(arr, "the registration array", fix=_ARRAY_FIX)
        return Registration(arr)
    raise RegistrationError(
        f"a registration must be a file path (.lta, register.dat, FSL .mat, ITK .txt/.h5 "
        f"or displacement field .nii.gz), a "
        f"4×4 RAS→RAS array or 'identity'; got {value!r:.80}"
    )


_ARRAY_FIX = (
    "Pass the 4×4 affine that maps anatomical scanner RAS (mm) to the functional image's "
    "scanner RAS (pycortex's 'magnet' matrix), or the registration file itself."
)


def _array_like(value: object) -> bool:
    try:
        np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return False
    return True


@dataclass(frozen=True)
class Grid:
    """A volume's grid: what registrations need of an image."""

    shape: tuple[int, int, int]
    affine: np.ndarray
    zooms: tuple[float, float, float]
    source: str
    image: Any  # a nibabel image, for nitransforms' FSL conversion


def anat_to_func(reg: Registration, reference: Grid, anatomical: Grid | None) -> np.ndarray:
    """The 4×4 anatomical scanner RAS → functional (reference) scanner RAS matrix of an
    affine registration (:func:`point_mapping` takes nonlinear ones too).

    Raises
    ------
    RegistrationError
        As :func:`point_mapping`, and if the registration is nonlinear (it is never reduced
        to its affine part).
    SubjectFileNotFoundError
        If the file is missing.
    """
    mapping = point_mapping(reg, reference, anatomical)
    if isinstance(mapping, PointMap):
        raise RegistrationError(
            f"{mapping.source} holds a nonlinear registration (a displacement field), which "
            "maps points and is not one 4×4 matrix.",
            fix="Pass it as a (reference_image, registration) pair (roixr.roi_masks, "
            "Subject.transform or roixr.io.transforms.registered_transform map the surfaces "
            "through it), or use roixr.io.registration.point_mapping.",
        )
    return mapping


def point_mapping(
    reg: Registration, reference: Grid, anatomical: Grid | None
) -> np.ndarray | PointMap:
    """The registration as a mapping of anatomical scanner RAS points to the functional
    (reference) image's scanner RAS: a 4×4 matrix when it is affine, else a
    :class:`~roixr.io.warps.PointMap` (an ITK ``.h5`` holding a displacement field, or an
    ITK displacement field ``.nii.gz``).

    Raises
    ------
    RegistrationError
        If the file does not parse, holds a transform type roixr cannot apply, its geometry
        contradicts the images, or the format needs the anatomical image and the subject
        has none.
    SubjectFileNotFoundError
        If the file is missing.
    """
    value = reg.value
    if isinstance(value, str) and value == "identity":
        return np.eye(4)
    if not isinstance(value, (str, os.PathLike)):
        arr = check_affine(value, "the registration array", fix=_ARRAY_FIX)
        return _inv(arr, "the registration array") if reg.invert else arr
    path = Path(value).expanduser()
    m: np.ndarray
    if not path.is_file():
        raise SubjectFileNotFoundError(
            f"registration file {path} does not exist. Pass an existing .lta, register.dat, "
            "FSL .mat, ITK .txt/.h5 or ITK displacement field .nii.gz file, a 4×4 array, or "
            "'identity'."
        )
    name = path.name.lower()
    if name.endswith(".lta"):
        m = _lta(path, reg.invert, reference, anatomical)
    elif name.endswith(".dat"):
        m = _register_dat(path, reference, _need(anatomical, path, "register.dat"))
        m = _inv(m, str(path)) if reg.invert else m
    elif name.endswith((".h5", ".nii", ".nii.gz")):
        return _itk_steps(path, reg.invert)
    elif name.endswith((".txt", ".tfm")) or (name.endswith(".mat") and _binary(path)):
        m = _itk(path)
        m = _inv(m, str(path)) if _invert_itk(path, reg.invert) else m
    elif name.endswith(".mat"):
        m = _fsl(path, reg.invert, reference, _need(anatomical, path, "FSL .mat"))
    else:
        raise RegistrationError(
            f"cannot tell the format of registration {path} from its name. Use a FreeSurfer "
            ".lta or register.dat, an FSL .mat, an ITK .txt/.tfm/.h5 or displacement field "
            ".nii.gz, or pass a 4×4 array."
        )
    return _check(m, str(path))


def _check(m: np.ndarray, what: str) -> np.ndarray:
    """The final anatomical → functional matrix, checked as every matrix before it."""
    return check_affine(m, f"the registration read from {what}")


def _inv(m: np.ndarray, what: str) -> np.ndarray:
    """The inverse of ``m``, checked first (never ``LinAlgError``)."""
    return np.linalg.inv(check_affine(m, what))


def _need(anatomical: Grid | None, path: Path, kind: str) -> Grid:
    if anatomical is None:
        raise RegistrationError(
            f"a {kind} registration ({path}) is defined relative to the anatomical image, and "
            "this subject has none. Pass anatomical= (the image the functional data were "
            "registered to) to roixr.Subject.from_surfaces."
        )
    return anatomical


def _bad(path: Path, kind: str, err: BaseException | str) -> RegistrationError:
    detail = err if isinstance(err, str) else f"{type(err).__name__}: {err}"
    return RegistrationError(
        f"cannot read {path} as {kind} ({detail}). Check that the file is complete and of "
        "that format, or convert it (lta_convert, c3d_affine_tool, ConvertTransformFile)."
    )


# --- FreeSurfer ---------------------------------------------------------------------------


def _lines(text: str) -> list[str]:
    out = []
    for line in text.splitlines():
        line = line.split("#")[0].strip()
        if line:
            out.append(line)
    return out


def _lta(path: Path, invert: bool | None, ref: Grid, anat: Grid | None) -> np.ndarray:
    from nitransforms.io.lta import FSLinearTransformArray, VolumeGeometry

    try:
        text = path.read_text()
        lines = _lines(text)  # roixr's float64 read first: nitransforms warns on short files
        at = lines.index("1 4 4")
        rows = [lines[at + 1 + r].split() for r in range(4)]
        if any(len(row) != 4 for row in rows):
            raise ValueError(f"the matrix rows hold {[len(r) for r in rows]} numbers, not 4")
        with np.errstate(over="ignore", invalid="ignore"):  # float32 parse of huge numbers
            lta = FSLinearTransformArray.from_string(text)
        if int(lta["nxforms"]) != 1:
            raise ValueError(f"{int(lta['nxforms'])} transforms; roixr takes one")
        xf = lta.xforms[0].structarr
        m = np.array([[float(v) for v in row] for row in rows])
        found = re.search(r"^\s*type\s*=\s*(\S+)", text, re.M)
        kind = int(found.group(1)) if found else int(lta["type"])
        src, dst = VolumeGeometry(xf["src"]), VolumeGeometry(xf["dst"])
        valid = bool(src.structarr["valid"]) and bool(dst.structarr["valid"])
        m32 = np.asarray(xf["m_L"], dtype=np.float64)
    except Exception as err:  # nitransforms asserts on malformed files
        raise _bad(path, "a FreeSurfer LTA", err) from None
    m = check_affine(m, f"the matrix of {path}", fix=_LTA_FIX)
    if not np.allclose(m, m32, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(m).max()))):
        raise _bad(path, "a FreeSurfer LTA", "its matrix lines do not parse consistently")
    if kind == 0:  # LINEAR_VOX_TO_VOX: src voxel → dst voxel
        if not valid:
            raise RegistrationError(
                f"{path} is a VOX2VOX LTA without volume info (valid = 0), so its voxels "
                "cannot be placed in space.",
                fix="Write it with its volume geometry (lta_convert --inlta <file> --src "
                "<functional> --trg <anatomical> --outlta <out.lta> --ltaras).",
            )
        with np.errstate(over="ignore", invalid="ignore"):  # checked next
            src_affine, dst_affine = src.as_affine(), dst.as_affine()
        src_affine = check_affine(src_affine, f"the src volume info of {path}", _LTA_FIX)
        dst_affine = check_affine(dst_affine, f"the dst volume info of {path}", _LTA_FIX)
        m = dst_affine @ m @ np.linalg.inv(src_affine)
    elif kind != 1:
        name = _LTA_TYPES.get(kind, "not a FreeSurfer transform type")
        raise RegistrationError(
            f"{path} holds an LTA of type {kind} ({name}); roixr applies the linear types "
            "0 (LINEAR_VOX_TO_VOX) and 1 (LINEAR_RAS_TO_RAS) only.",
            fix="Convert it: lta_convert --inlta <file> --outlta <out.lta> --ltaras.",
        )
    # m maps src RAS → dst RAS; the usual LTA has the functional image as src
    forward = _lta_direction(path, src if valid else None, dst if valid else None, ref, anat)
    if invert is None:
        invert = forward is False
    elif forward is not None and invert != (not forward):
        raise RegistrationError(
            f"{path}: invert={invert} contradicts the LTA's own geometry (src "
            f"{_geom_text(src)}, dst {_geom_text(dst)}). Leave invert unset."
        )
    return m if invert else _inv(m, f"the matrix of {path}")


_LTA_FIX = (
    "Re-export the registration (bbregister --lta, mri_robust_register --lta): the file is "
    "corrupt or was written from a failed registration."
)


def _geom_text(g: Any) -> str:
    sa = g.structarr
    return f"{tuple(int(v) for v in sa['volume'])} from {str(sa['filename']) or '?'}"


def _same_grid(g: Any, grid: Grid) -> bool:
    shape = tuple(int(v) for v in g.structarr["volume"])
    with np.errstate(over="ignore", invalid="ignore"):  # a corrupt geometry: no match
        affine = g.as_affine()
    return shape == grid.shape and bool(
        np.allclose(affine, grid.affine, atol=_GEOMETRY_TOL, rtol=0)
    )


def _lta_direction(path: Path, src: Any, dst: Any, ref: Grid, anat: Grid | None) -> bool | None:
    """True: src is the functional image (usual); False: the LTA was inverted; None: the
    geometry cannot tell. Raises when it contradicts the images."""
    if src is None:
        return None
    usual = _same_grid(src, ref) and (anat is None or _same_grid(dst, anat))
    swapped = _same_grid(dst, ref) and (anat is None or _same_grid(src, anat))
    if usual and swapped:  # the functional grid is the anatomical one: either way
        return None
    if usual or swapped:
        return usual
    expect = f"the reference {ref.source} {ref.shape}"
    if anat is not None:
        expect += f" and the anatomical {anat.source} {anat.shape}"
    raise RegistrationError(
        f"the geometry in {path} (src {_geom_text(src)}, dst {_geom_text(dst)}) matches "
        f"neither way round {expect}. The LTA was made for other images: pass the reference "
        "image it was estimated with, or the subject it belongs to."
    )


def _register_dat(path: Path, ref: Grid, anat: Grid) -> np.ndarray:
    from roixr.io.freesurfer import vox2ras_tkr

    try:
        lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
        rows = [lines[4 + i].split() for i in range(4)]
        if any(len(row) != 4 for row in rows):
            raise ValueError(f"the matrix rows hold {[len(r) for r in rows]} numbers, not 4")
        r = np.array([[float(v) for v in row] for row in rows])
        inplane, between = float(lines[1]), float(lines[2])  # the functional image's voxels
        float(lines[3])  # intensity
    except Exception as err:
        raise _bad(path, "a tkregister register.dat", err) from None
    fix = "Re-export it (bbregister --reg, tkregister2 --reg): the file is corrupt."
    r = check_affine(r, f"the matrix of {path}", fix=fix)
    if not (np.isfinite([inplane, between]).all() and inplane > 0 and between > 0):
        raise RegistrationError(
            f"{path} gives the functional voxel size {inplane:g} × {between:g} mm, not "
            "positive numbers.",
            fix=fix,
        )
    expect = (ref.zooms[0], ref.zooms[2])
    if not np.allclose((inplane, between), expect, rtol=1e-3, atol=1e-4):
        raise RegistrationError(
            f"{path} was made for a functional image with {inplane:g} mm voxels in plane and "
            f"{between:g} mm between planes, but the reference {ref.source} has "
            f"{expect[0]:g} mm and {expect[1]:g} mm: a register.dat is tied to the grid of its "
            "image (its tkr-RAS), so it cannot be used with this one.",
            fix="Pass the reference image the registration was estimated with (the "
            "--mov volume of bbregister or tkregister2), or register this one.",
        )
    # tkregister: anatomical tkr-RAS → functional tkr-RAS
    tkr_ref = ref.affine @ np.linalg.inv(vox2ras_tkr(ref.shape, ref.zooms))
    tkr_anat = anat.affine @ np.linalg.inv(vox2ras_tkr(anat.shape, anat.zooms))
    return tkr_ref @ r @ np.linalg.inv(tkr_anat)


# --- FSL ----------------------------------------------------------------------------------


def _fsl(path: Path, invert: bool | None, ref: Grid, anat: Grid) -> np.ndarray:
    from nitransforms.io.fsl import FSLLinearTransform

    try:
        rows = [ln.split() for ln in path.read_text().splitlines() if ln.strip()]
        if len(rows) != 4 or any(len(row) != 4 for row in rows):
            counts = [len(row) for row in rows]
            raise ValueError(f"{len(rows)} rows of {counts} numbers; FLIRT writes 4 rows of 4")
        params = np.array([[float(v) for v in row] for row in rows])
        with np.errstate(over="ignore", invalid="ignore"):  # float32 parse of huge numbers
            struct = FSLLinearTransform.from_filename(path)
        check_affine(params, f"the matrix of {path}", fix=_FSL_FIX)  # to_ras inverts it
        if invert:  # flirt -in anat -ref func: the anatomical image moves
            ras = struct.to_ras(reference=ref.image, moving=anat.image)
            return _inv(ras, f"the matrix of {path} in RAS")
        # flirt -in func -ref anat: nitransforms gives anatomical points → functional points
        return np.asarray(struct.to_ras(reference=anat.image, moving=ref.image), dtype=float)
    except RegistrationError:
        raise
    except Exception as err:
        raise _bad(path, "an FSL FLIRT matrix", err) from None


_FSL_FIX = (
    "Re-export it (flirt -omat, convert_xfm): the file is corrupt or was written from a "
    "failed registration."
)


# --- ITK / ANTs ---------------------------------------------------------------------------


def _binary(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(512)
    return b"\x00" in head


def _invert_itk(path: Path, invert: bool | None) -> bool:
    if invert is not None:
        return invert
    found = re.search(r"from-([A-Za-z0-9]+)_to-([A-Za-z0-9]+)", path.name)
    if found is None:
        return False
    src, dst = (s.lower() for s in found.groups())
    return src in _ANAT_NAMES and dst not in _ANAT_NAMES  # from-T1w_to-boldref


def _itk(path: Path) -> np.ndarray:
    """ITK's points mapping (anatomical → functional for the usual file), as RAS: an affine
    ``.txt``/``.tfm`` or binary ``.mat``."""
    from nitransforms.io.itk import ITKLinearTransform

    name = path.name.lower()
    text = name.endswith((".txt", ".tfm"))
    if text:
        _itk_text_type(path)
    try:
        if text:  # roixr's float64 read first: nitransforms warns on short lines
            params64, center64 = _itk_text64(path.read_text())
        with np.errstate(over="ignore", invalid="ignore"):  # float32 parse of huge numbers
            struct = ITKLinearTransform.from_filename(path)  # checks: one linear transform
        params, center = struct.structarr["parameters"], struct.structarr["offset"]
        if text:
            params, center = params64, center64
        params = np.asarray(params, dtype=np.float64)
        center = np.asarray(center, dtype=np.float64).reshape(3)
    except Exception as err:
        raise _bad(path, "an ITK/ANTs affine transform", err) from None
    what = f"the affine of {path}"
    check_affine(params, what)
    if not np.all(np.isfinite(center)) or float(np.abs(center).max()) > 1e5:
        raise RegistrationError(
            f"{path} has the centre of rotation {center.tolist()}, not finite coordinates in mm.",
            fix="Re-export it (antsRegistration, ConvertTransformFile): the file is corrupt.",
        )
    return check_affine(itk_affine(params, center), what)


_ITK_TYPES = ("AffineTransform", "MatrixOffsetTransformBase")


def _itk_text_type(path: Path) -> None:
    """Refuse an ITK text file whose transform type roixr cannot apply, naming it."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise _bad(path, "an ITK/ANTs affine transform", err) from None
    kinds = re.findall(r"^\s*Transform:\s*(\S+)", text, re.M)
    if len(kinds) > 1:
        raise RegistrationError(
            f"{path} holds {len(kinds)} transforms ({', '.join(kinds)}); roixr reads one "
            "affine from a text file, and never applies part of a file.",
            fix="Compose them into one (antsApplyTransforms -d 3 -r <reference> -t <file> "
            "-o Linear[out.mat]), or save them as an .h5 composite.",
        )
    if kinds and kinds[0].startswith(_ITK_TYPES) and not kinds[0].endswith("_3_3"):
        raise RegistrationError(
            f"{path} holds an ITK {kinds[0]}, not a 3D transform (its type does not end in "
            "_3_3); roixr maps 3D points.",
            fix="Pass the 3D registration of the functional image to the anatomy.",
        )
    if kinds and not kinds[0].startswith(_ITK_TYPES):
        raise RegistrationError(
            f"{path} holds an ITK {kinds[0]}; roixr reads ITK affine transforms "
            "(AffineTransform, MatrixOffsetTransformBase) from text files.",
            fix="Convert it: ConvertTransformFile 3 <file> <out.txt> --convertToAffineType "
            "(a rigid, Euler or similarity transform), or antsApplyTransforms -d 3 -r "
            "<reference> -t <file> -o [field.nii.gz,1] (a nonlinear one).",
        )


def _itk_steps(path: Path, invert: bool | None) -> np.ndarray | PointMap:
    """An ITK ``.h5`` (one transform or a composite) or an ITK displacement field: one
    matrix when every step is affine (composed exactly), else a point mapping."""
    if path.name.lower().endswith(".h5"):
        queue = read_itk_h5(path)
    else:
        queue = (read_itk_field(path),)
    steps = tuple(reversed(queue))  # a composite applies its last transform first
    inverse = _invert_itk(path, invert)
    matrices = [s for s in steps if isinstance(s, np.ndarray)]
    if len(matrices) == len(steps):
        m = matrices[0]
        for step in matrices[1:]:
            m = step @ m
        return _check(_inv(m, f"the affine of {path}") if inverse else m, str(path))
    mapping = PointMap(steps, str(path))
    return mapping.inverse() if inverse else mapping


def _itk_text64(text: str) -> tuple[np.ndarray, np.ndarray]:
    kind = re.search(r"^\s*Transform:\s*(\S+)", text, re.M)
    if kind is None or not kind.group(1).startswith(("AffineTransform", "MatrixOffset")):
        found = kind.group(1) if kind else "none"
        raise ValueError(f"transform type {found}; roixr reads affine transforms")
    values = re.search(r"^\s*Parameters:(.*)$", text, re.M)
    fixed = re.search(r"^\s*FixedParameters:(.*)$", text, re.M)
    if values is None or fixed is None:
        raise ValueError("no Parameters/FixedParameters lines")
    p = np.array([float(v) for v in values.group(1).split()], dtype=np.float64)
    c = np.array([float(v) for v in fixed.group(1).split()], dtype=np.float64)
    if p.size != 12 or c.size != 3:
        raise ValueError(f"{p.size} parameters and {c.size} fixed parameters (need 12 and 3)")
    m = np.eye(4)
    m[:3, :3], m[:3, 3] = p[:9].reshape(3, 3), p[9:]
    return m, c
