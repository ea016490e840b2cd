"""Reading FreeSurfer files with nibabel: surfaces (``surf/lh.white``) and the tkr-RAS ↔
scanner-RAS relation of ``mri/orig.mgz``.

FreeSurfer writes surfaces in *tkr-RAS* ("surface RAS") of the conformed ``orig.mgz``; the
scanner RAS of the same point is ``vox2ras @ inv(vox2ras_tkr) @ tkr``. roixr keeps the
stored coordinates as they are and puts this matrix into every transform, so the surfaces'
float32 values (and the distances between them) are exactly those FreeSurfer wrote.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from roixr.errors import SubjectFileNotFoundError, SurfaceError
from roixr.io.images import load_volume
from roixr.io.surfaces import Surface, read_surface

__all__ = [
    "read_any_surface",
    "read_freesurfer_surface",
    "read_patch",
    "tkr_to_scanner",
    "vox2ras_tkr",
]


def read_freesurfer_surface(path: Path) -> Surface:
    """Read a FreeSurfer triangle surface (``lh.white``, ``rh.pial``...).

    The coordinates keep the file's float32 precision.

    Raises
    ------
    SubjectFileNotFoundError
        If the file is missing.
    SurfaceError
        If it is not a FreeSurfer triangle surface.
    """
    if not path.is_file():
        raise SubjectFileNotFoundError(
            f"surface file {path} is missing. A FreeSurfer subject needs "
            "surf/{lh,rh}.{white,pial}; run recon-all, or pass the subject's own folder."
        )
    try:
        points, polys = nib.freesurfer.read_geometry(str(path))
    except Exception as err:  # nibabel raises many types on corrupt files
        raise SurfaceError(
            f"cannot read {path} as a FreeSurfer surface ({type(err).__name__}: {err}). "
            "Check that it is a triangle surface written by FreeSurfer or nibabel."
        ) from None
    points = np.asarray(points, dtype=np.float32)
    polys = np.asarray(polys, dtype=np.int64)
    if polys.size and (polys.min() < 0 or polys.max() >= len(points)):
        raise SurfaceError(
            f"{path} has triangles indexing vertex {int(polys.max())} but only {len(points)} "
            "vertices. The file is corrupt; re-create it."
        )
    return Surface(points=points, polys=polys, source=str(path))


def read_patch(path: Path, white: Surface) -> Surface:
    """A FreeSurfer flat patch (``lh.full.flat.patch.3d``) as a surface on all vertices.

    The patch's vertices keep their flat coordinates (others are placed at 0); its
    triangles are those of ``white`` whose three vertices are all in the patch, as pycortex
    builds a flatmap from a patch.

    Raises
    ------
    SurfaceError
        If the file is not a FreeSurfer patch or names vertices ``white`` does not have.
    """
    try:
        with open(path, "rb") as f:
            header = np.fromfile(f, ">i4", 2)
            if header.size != 2 or header[0] != -1:
                raise ValueError("no patch header (-1, n)")
            rec = np.fromfile(f, np.dtype([("i", ">i4"), ("xyz", ">f4", 3)]), int(header[1]))
        if rec.size != header[1]:
            raise ValueError(f"{rec.size} of {int(header[1])} vertices")
    except Exception as err:
        raise SurfaceError(
            f"cannot read {path} as a FreeSurfer patch ({type(err).__name__}: {err})."
        ) from None
    vno = np.abs(rec["i"].astype(np.int64)) - 1
    if vno.size and (vno.min() < 0 or vno.max() >= white.n_vertices):
        raise SurfaceError(
            f"{path} names vertex {int(vno.max())} but the white surface has "
            f"{white.n_vertices}; the patch belongs to other surfaces."
        )
    points = np.zeros((white.n_vertices, 3), dtype=np.float32)
    points[vno] = rec["xyz"]
    inside = np.zeros(white.n_vertices, dtype=bool)
    inside[vno] = True
    polys = white.polys[inside[white.polys].all(axis=1)]
    return Surface(points=points, polys=polys, source=str(path))


def read_any_surface(path: Path) -> Surface:
    """A GIfTI surface (``.gii``) or a FreeSurfer one (anything else)."""
    if path.name.lower().endswith(".gii"):
        return read_surface(path)
    return read_freesurfer_surface(path)


def vox2ras_tkr(shape: tuple[int, ...], zooms: tuple[float, ...]) -> np.ndarray:
    """FreeSurfer's tkr vox2ras of a grid (``MRIxfmCRS2XYZtkreg``), in float64."""
    d = np.asarray(zooms[:3], dtype=np.float64)
    n = np.asarray(shape[:3], dtype=np.float64) * d / 2
    return np.array(
        [[-d[0], 0, 0, n[0]], [0, 0, d[2], -n[2]], [0, -d[1], 0, n[1]], [0, 0, 0, 1]],
        dtype=np.float64,
    )


def tkr_to_scanner(orig: Path) -> tuple[np.ndarray, tuple[int, int, int], np.ndarray]:
    """The tkr-RAS → scanner-RAS matrix of a FreeSurfer volume, with its shape and affine.

    Parameters
    ----------
    orig : Path
        ``mri/orig.mgz`` (or any volume on the same grid).

    Returns
    -------
    matrix : ndarray
        4×4 float64, ``vox2ras @ inv(vox2ras_tkr)``.
    shape : tuple of int
    affine : ndarray
        The volume's vox2ras (scanner) affine, float64.

    Raises
    ------
    SubjectFileNotFoundError
        If the file is missing.
    SurfaceError
        If it is not a readable volume.
    """
    if not orig.is_file():
        raise SubjectFileNotFoundError(
            f"{orig} is missing. A FreeSurfer subject's surfaces are in tkr-RAS of "
            "mri/orig.mgz, and roixr needs its header to place them in scanner space. Pass "
            "the full subject folder recon-all made (with mri/orig.mgz), or use "
            "roixr.Subject.from_surfaces with surfaces already in scanner RAS."
        )
    try:
        img = load_volume(orig)
        shape = tuple(int(s) for s in img.shape[:3])
        zooms = tuple(float(z) for z in img.header.get_zooms()[:3])
        affine = np.asarray(img.affine, dtype=np.float64)
    except Exception as err:
        raise SurfaceError(
            f"cannot read {orig} as a volume ({type(err).__name__}: {err}); it defines the "
            "surfaces' tkr-RAS. Replace it with recon-all's mri/orig.mgz."
        ) from None
    matrix = affine @ np.linalg.inv(vox2ras_tkr(shape, zooms))
    return matrix, (shape[0], shape[1], shape[2]), affine
