"""Transforms from the surfaces to a reference grid: pycortex's ``matrices.xfm`` and the
reference image's header, or a ``(reference_image, registration)`` pair.

An affine registration composes into the 4×4 ``coord`` matrix every kernel uses. A
nonlinear one (a displacement field) cannot: the transform then carries a point mapping
(``warp``) of the subject's surface coordinates into the reference's scanner RAS, the
sampling geometry is built from the mapped white and pial vertices, and ``coord`` is the
reference's inverse affine (see :func:`registered_transform`).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from roixr.errors import SubjectFileNotFoundError, TransformError
from roixr.io.images import load_volume
from roixr.io.registration import Grid, Registration, as_registration, point_mapping
from roixr.io.warps import PointMap

__all__ = [
    "Transform",
    "identity_transform",
    "load_grid",
    "read_transform",
    "registered_transform",
]


@dataclass(frozen=True)
class Transform:
    """A surface → functional voxel transform.

    Attributes
    ----------
    name : str
        The transform's folder name (``"identity"`` for the anatomical grid).
    coord : ndarray
        4×4 matrix from surface coordinates (mm) to voxel indices (i, j, k) of the reference
        (with a ``warp``: from the mapped coordinates, the reference's inverse affine).
    magnet : ndarray
        4×4 matrix from surface coordinates to the reference image's scanner space (with a
        ``warp``: the identity, the mapped coordinates being scanner RAS already).
    shape : tuple of int
        The reference grid's spatial shape (i, j, k).
    affine : ndarray
        The reference image's 4×4 voxel → scanner affine.
    reference : str
        The reference image file.
    warp : PointMap or None
        None for an affine registration. For a nonlinear one, the mapping of the subject's
        surface coordinates to the reference's scanner RAS (surface → anatomical scanner,
        then the registration); the sampling geometry is then built from the mapped
        vertices (:func:`roixr.sampling.geometry.surfaces_of`). It pickles small (the
        fields stay in their files) and names itself to dask by a cheap token.
    """

    name: str
    coord: np.ndarray
    magnet: np.ndarray
    shape: tuple[int, int, int]
    affine: np.ndarray
    reference: str
    warp: PointMap | None = None

    @property
    def token(self) -> str:
        """A cheap deterministic name for dask (the matrices, the grid and the warp's
        token; no field is read)."""
        h = hashlib.blake2b(digest_size=16)
        for m in (self.coord, self.magnet, self.affine):
            h.update(np.ascontiguousarray(m, dtype=np.float64).tobytes())
        h.update(repr((self.name, self.shape, self.reference)).encode())
        h.update(b"none" if self.warp is None else self.warp.token.encode())
        return h.hexdigest()

    def __dask_tokenize__(self) -> str:
        return self.token


_FIXES = {
    "reference image": "Copy the functional reference image there (pycortex's "
    "cortex.db.save_xfm does this).",
    "anatomical image": "It is the subject's anatomical (T1) image, the grid of the "
    "'identity' transform: restore it from the subject's import (pycortex's "
    "cortex.freesurfer.import_subj writes it), or pass another transform.",
}


def load_grid(image: object, what: str = "reference image") -> Grid:
    """The grid (shape, affine, zooms) of a volume given as a path or a nibabel image.

    Raises
    ------
    SubjectFileNotFoundError
        If the file is missing.
    TransformError
        If it is not a readable 3D or 4D volume.
    """
    if isinstance(image, (str, os.PathLike)):
        path = Path(image).expanduser()
        if not path.is_file():
            raise SubjectFileNotFoundError(
                f"{what} {path} is missing. "
                + _FIXES.get(what, "Pass an existing NIfTI or MGH image.")
            )
        source = str(path)
        try:
            img: Any = load_volume(path)  # reads the header only
        except Exception as err:
            raise TransformError(
                f"cannot read {what} {path} as a volume image ({type(err).__name__}: "
                f"{err}). Replace it with a valid .nii.gz or .mgz."
            ) from None
    elif hasattr(image, "affine") and hasattr(image, "shape"):
        img, source = image, f"<{type(image).__name__}>"
    else:
        raise TransformError(
            f"the {what} must be an image file or a nibabel image, got {image!r:.80}"
        )
    shape = tuple(int(s) for s in img.shape[:3])
    if len(img.shape) not in (3, 4) or min(shape) < 1:
        raise TransformError(f"{what} {source} has shape {img.shape}; expected a 3D or 4D image")
    affine = np.asarray(img.affine, dtype=np.float64)
    if (
        affine.shape != (4, 4)
        or not np.all(np.isfinite(affine))
        or abs(np.linalg.det(affine[:3, :3])) < 1e-12
    ):
        raise TransformError(
            f"{what} {source} has a degenerate voxel → scanner affine ({affine.tolist()}): "
            "its header gives no grid in space (zero voxel sizes, NaN or collinear axes).",
            fix="Fix the image's header (its sform or qform), or pass another image.",
        )
    zooms = tuple(float(z) for z in np.sqrt((affine[:3, :3] ** 2).sum(0)))
    return Grid((shape[0], shape[1], shape[2]), affine, (zooms[0], zooms[1], zooms[2]),
                source, img)  # fmt: skip


def _reference_header(path: Path, what: str) -> tuple[tuple[int, int, int], np.ndarray]:
    grid = load_grid(path, what)
    return grid.shape, grid.affine


def _matrix(value: object, key: str, path: Path) -> np.ndarray:
    try:
        m = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        m = np.empty(0)
    if m.shape != (4, 4) or not np.all(np.isfinite(m)):
        raise TransformError(
            f"{key!r} in {path} is not a finite 4×4 matrix (got {value!r:.80}). "
            "Re-save the transform with pycortex's cortex.db.save_xfm."
        )
    if abs(np.linalg.det(m[:3, :3])) < 1e-12 or np.linalg.cond(m) > 1e12:
        raise TransformError(
            f"{key!r} in {path} is not invertible (determinant "
            f"{np.linalg.det(m[:3, :3]):.3g}); a transform must map surfaces onto a volume "
            "one to one. Re-estimate or re-save the transform."
        )
    return m


def read_transform(folder: Path) -> Transform:
    """Read ``<folder>/matrices.xfm`` and the header of ``<folder>/reference.nii.gz``.

    Parameters
    ----------
    folder : Path
        ``<subject>/transforms/<name>``.

    Returns
    -------
    Transform

    Raises
    ------
    SubjectFileNotFoundError, TransformError
        On a missing file, bad JSON, or a matrix that is not a finite invertible 4×4.
    """
    xfm_file = folder / "matrices.xfm"
    if not xfm_file.is_file():
        raise SubjectFileNotFoundError(
            f"transform file {xfm_file} is missing. Save the transform with pycortex's "
            "cortex.db.save_xfm, or pass the name of an existing transform."
        )
    try:
        data = json.loads(xfm_file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise TransformError(
            f"{xfm_file} is not valid JSON ({err}). It should hold "
            '{"coord": 4×4, "magnet": 4×4}; re-save the transform.'
        ) from None
    if not isinstance(data, dict) or "coord" not in data:
        raise TransformError(
            f"{xfm_file} has no 'coord' matrix (keys: "
            f"{sorted(data) if isinstance(data, dict) else type(data).__name__}). "
            "Re-save the transform with pycortex's cortex.db.save_xfm."
        )
    coord = _matrix(data["coord"], "coord", xfm_file)
    shape, affine = _reference_header(folder / "reference.nii.gz", "reference image")
    magnet = _matrix(data["magnet"], "magnet", xfm_file) if "magnet" in data else affine @ coord
    return Transform(folder.name, coord, magnet, shape, affine, str(folder / "reference.nii.gz"))


def identity_transform(raw: Path, surface_to_scanner: np.ndarray | None = None) -> Transform:
    """pycortex's ``identity`` transform: the anatomical image's own grid.

    ``surface_to_scanner`` maps the surfaces' coordinates to the image's scanner RAS (for
    FreeSurfer surfaces in tkr-RAS); the identity when None.
    """
    shape, affine = _reference_header(raw, "anatomical image")
    if surface_to_scanner is None:
        return Transform("identity", np.linalg.inv(affine), np.eye(4), shape, affine, str(raw))
    s2s = np.asarray(surface_to_scanner, dtype=np.float64)
    return Transform("identity", np.linalg.inv(affine) @ s2s, s2s, shape, affine, str(raw))


def registered_transform(
    reference: object,
    registration: object,
    *,
    surface_to_scanner: np.ndarray,
    anatomical: Path | None,
    name: str | None = None,
) -> Transform:
    """The transform of a ``(reference_image, registration)`` pair.

    Parameters
    ----------
    reference : path-like or nibabel image
        The functional reference image: its grid and affine are the masks'.
    registration : Registration, path-like, array or "identity"
        See :class:`roixr.io.registration.Registration`.
    surface_to_scanner : ndarray
        The subject's surface coordinates → anatomical scanner RAS.
    anatomical : Path, optional
        The subject's anatomical image (FSL and tkregister files are relative to it; an LTA's
        geometry is checked against it).
    name : str, optional
        The transform's name in attrs; the registration's description by default.

    Returns
    -------
    Transform
        For an affine registration, ``coord = inv(reference affine) @ anat_to_func @
        surface_to_scanner``, composed once in float64. For a nonlinear one, ``warp`` maps
        surface coordinates to the reference's scanner RAS (``surface_to_scanner`` first,
        then the registration), ``magnet`` is the identity and ``coord`` the reference's
        inverse affine (computed as for ``"identity"``, so a subject whose surfaces were
        moved by the same mapping gives the same voxels through ``"identity"``).
    """
    reg: Registration = as_registration(registration)
    grid = load_grid(reference, "reference image")
    anat = None if anatomical is None else load_grid(anatomical, "anatomical image")
    mapping = point_mapping(reg, grid, anat)
    label = name if name is not None else f"{reg.description} → {Path(grid.source).name}"
    if isinstance(mapping, PointMap):
        warp = mapping.after(np.asarray(surface_to_scanner, dtype=np.float64))
        coord = np.linalg.solve(grid.affine, np.eye(4))
        return Transform(label, coord, np.eye(4), grid.shape, grid.affine, grid.source, warp=warp)
    magnet = mapping @ np.asarray(surface_to_scanner, dtype=np.float64)
    coord = np.linalg.solve(grid.affine, magnet)
    return Transform(label, coord, magnet, grid.shape, grid.affine, grid.source)
