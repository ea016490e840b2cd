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
from roixr.io.surfaces import Surface, check_geometry, hemisphere_of, read_surface

__all__ = [
    "is_gifti",
    "read_any_surface",
    "read_freesurfer_surface",
    "read_patch",
    "tkr_to_scanner",
    "vox2ras_tkr",
]


_TRIANGLE_MAGIC = b"\xff\xff\xfe"
#: FreeSurfer's tags (utils/tags.h) that may follow a surface's triangles: volume geometry,
#: command lines, group average area...
_TAGS = {1, 2, 3, 4, 5, 10, 11, 12, 20, 21, 30, 31, 32, 33, 40, 41, 42, 43, 44}
_RECREATE = "re-create it (mris_convert, or nibabel.freesurfer.write_geometry)."


def read_freesurfer_surface(path: Path) -> Surface:
    """Read a FreeSurfer triangle surface (``lh.white``, ``rh.pial``...).

    The coordinates keep the file's float32 precision. The file's vertex and triangle
    counts are checked against its length (what follows the triangles must be one of
    FreeSurfer's tags), the coordinates must be finite and the triangles index existing
    vertices; a ``lh.``/``rh.`` name gives the surface's hemisphere.

    Raises
    ------
    SubjectFileNotFoundError
        If the file is missing.
    SurfaceError
        If it is not a FreeSurfer surface, or is truncated or corrupt.
    """
    path = Path(path)
    if not path.is_file():
        raise SubjectFileNotFoundError(
            f"surface file {path} is missing. A FreeSurfer subject needs "
            "surf/{lh,rh}.{white,pial}; run recon-all, or pass the subject's own folder."
        )
    raw = b""
    try:
        raw = path.read_bytes()
        if raw[:3] == _TRIANGLE_MAGIC:
            points, polys = _triangle_file(raw)
        elif raw[:3] in (b"\xff\xff\xff", b"\xff\xff\xfd"):  # quads (old FreeSurfer)
            points, polys = nib.freesurfer.read_geometry(str(path))
        else:
            raise ValueError(f"it begins with {raw[:3]!r}, not a FreeSurfer surface's magic "
                             "number")  # fmt: skip
    except Exception as err:  # nibabel raises many types on corrupt files
        hint = ""
        if raw[:2] == b"\x1f\x8b" or raw.lstrip()[:5] in (b"<?xml", b"<GIFT"):
            hint = " It is a GIfTI file (XML, or gzipped): name it .gii or .gii.gz."
        raise SurfaceError(
            f"cannot read {path} as a FreeSurfer surface ({type(err).__name__}: {err})." + hint,
            fix="Check that it is a triangle surface written by FreeSurfer or nibabel, or "
            + _RECREATE,
        ) from None
    surf = check_geometry(path, np.asarray(points, dtype=np.float32), polys, _RECREATE)
    hemi, evidence = hemisphere_of(path)
    return Surface(surf.points, surf.polys, str(path), hemi, evidence)


def _triangle_file(raw: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Points and triangles of a FreeSurfer triangle file, its counts checked against its
    length."""
    stamp_end = raw.find(b"\n", 3)
    if stamp_end < 0 or raw[stamp_end + 1 : stamp_end + 2] != b"\n":
        raise ValueError("no 'created by' line after the magic number")
    pos = stamp_end + 2
    if len(raw) < pos + 8:
        raise ValueError("the file ends before its vertex and triangle counts")
    vnum, fnum = (int(v) for v in np.frombuffer(raw, ">i4", 2, pos))
    pos += 8
    end = pos + 12 * vnum + 12 * fnum
    if vnum <= 0 or fnum <= 0 or end > len(raw):
        raise ValueError(
            f"its header says {vnum} vertices and {fnum} triangles, which need "
            f"{12 * vnum + 12 * fnum} bytes; {len(raw) - pos} follow the header (truncated?)"
        )
    rest = raw[end:]
    if rest and (len(rest) < 4 or int(np.frombuffer(rest, ">i4", 1)[0]) not in _TAGS):
        raise ValueError(
            f"{len(rest)} bytes follow its {fnum} triangles and are none of FreeSurfer's "
            "tags: the counts in its header do not match its content"
        )
    points = np.frombuffer(raw, ">f4", 3 * vnum, pos).reshape(vnum, 3)
    polys = np.frombuffer(raw, ">i4", 3 * fnum, pos + 12 * vnum).reshape(fnum, 3)
    return points.astype(np.float32), polys.astype(np.int64)


def read_patch(path: Path, white: Surface) -> Surface:
    """A FreeSurfer flat patch (``lh.full.flat.patch.3d``) as a surface on all vertices.

    The patch's vertices keep their flat coordinates (others are placed at 0); its
    triangles are those of ``white`` whose three vertices are all in the patch, as pycortex
    builds a flatmap from a patch.

    Raises
    ------
    SurfaceError
        If the file is not a FreeSurfer patch (its header's count must match its length),
        has non-finite coordinates or repeated vertices, or names vertices ``white`` does
        not have.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
        header = np.frombuffer(raw[:8], ">i4") if len(raw) >= 8 else np.empty(0)
        if header.size != 2 or header[0] != -1:
            raise ValueError("no patch header (-1, n)")
        n = int(header[1])
        if n < 0 or len(raw) != 8 + 16 * n:
            raise ValueError(
                f"its header says {n} vertices (16 bytes each), and {len(raw) - 8} bytes follow"
            )
        rec = np.frombuffer(raw, np.dtype([("i", ">i4"), ("xyz", ">f4", 3)]), n, 8)
    except Exception as err:
        raise SurfaceError(
            f"cannot read {path} as a FreeSurfer patch ({type(err).__name__}: {err}).",
            fix="Re-create it (mris_flatten), or copy it again.",
        ) from None
    vno = np.abs(rec["i"].astype(np.int64)) - 1
    if vno.size and (vno.min() < 0 or vno.max() >= white.n_vertices):
        bad = vno[(vno < 0) | (vno >= white.n_vertices)][0]
        raise SurfaceError(
            f"{path} names vertex {int(bad)} but the white surface {white.source} has "
            f"{white.n_vertices} (0 to {white.n_vertices - 1}); the patch belongs to other "
            "surfaces or is corrupt."
        )
    unique, counts = np.unique(vno, return_counts=True)
    if (counts > 1).any():
        raise SurfaceError(
            f"{path} lists vertex {int(unique[counts > 1][0])} {int(counts.max())} times "
            f"({int((counts > 1).sum())} vertices repeated); the patch is corrupt.",
            fix="Re-create it (mris_flatten).",
        )
    xyz = rec["xyz"].astype(np.float32)
    finite = np.isfinite(xyz).all(axis=1)
    if not finite.all():
        raise SurfaceError(
            f"{path} has {int((~finite).sum())} vertices with non-finite coordinates (NaN or "
            f"inf), the first is vertex {int(vno[~finite][0])}; the patch is corrupt.",
            fix="Re-create it (mris_flatten).",
        )
    points = np.zeros((white.n_vertices, 3), dtype=np.float32)
    points[vno] = xyz
    inside = np.zeros(white.n_vertices, dtype=bool)
    inside[vno] = True
    polys = white.polys[inside[white.polys].all(axis=1)]
    hemi, evidence = hemisphere_of(path)
    return Surface(points, polys, str(path), hemi, evidence)


def is_gifti(path: Path) -> bool:
    """Whether a file is named as a GIfTI file (``.gii``, or gzipped ``.gii.gz``)."""
    return Path(path).name.lower().endswith((".gii", ".gii.gz"))


def read_any_surface(path: Path) -> Surface:
    """A GIfTI surface (``.gii``, ``.gii.gz``) or a FreeSurfer one (anything else)."""
    if is_gifti(path):
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
