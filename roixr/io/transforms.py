"""Reading pycortex transforms: ``matrices.xfm`` and the reference image's header."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from roixr.errors import SubjectFileNotFoundError, TransformError
from roixr.io.images import load_volume

__all__ = ["Transform", "identity_transform", "read_transform"]


@dataclass(frozen=True)
class Transform:
    """A surface → functional voxel transform.

    Attributes
    ----------
    name : str
        The transform's folder name (``"identity"`` for the anatomical grid).
    coord : ndarray
        4×4 matrix from surface coordinates (mm) to voxel indices (i, j, k) of the reference.
    magnet : ndarray
        4×4 matrix from surface coordinates to the reference image's scanner space.
    shape : tuple of int
        The reference grid's spatial shape (i, j, k).
    affine : ndarray
        The reference image's 4×4 voxel → scanner affine.
    reference : str
        The reference image file.
    """

    name: str
    coord: np.ndarray
    magnet: np.ndarray
    shape: tuple[int, int, int]
    affine: np.ndarray
    reference: str


def _reference_header(path: Path, what: str) -> tuple[tuple[int, int, int], np.ndarray]:
    if not path.is_file():
        raise SubjectFileNotFoundError(
            f"{what} {path} is missing. Copy the functional reference image there "
            "(pycortex's cortex.db.save_xfm does this)."
        )
    try:
        img = load_volume(path)  # reads the header only
        shape = tuple(int(s) for s in img.shape[:3])
        affine = np.asarray(img.affine, dtype=np.float64)
    except Exception as err:
        raise TransformError(
            f"cannot read {what} {path} as a NIfTI image ({type(err).__name__}: {err}). "
            "Replace it with a valid .nii.gz."
        ) from None
    if len(shape) != 3 or min(shape) < 1:
        raise TransformError(f"{what} {path} has shape {img.shape}; expected a 3D or 4D image")
    return (shape[0], shape[1], shape[2]), affine


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


def identity_transform(raw: Path) -> Transform:
    """pycortex's ``identity`` transform: the anatomical image's own grid."""
    shape, affine = _reference_header(raw, "anatomical image")
    return Transform("identity", np.linalg.inv(affine), np.eye(4), shape, affine, str(raw))
