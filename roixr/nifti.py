"""NIfTI export of masks and index volumes, and the reader that rebuilds them.

A file holds the data on the reference image's grid (its affine from ``attrs["affine"]``,
sform and qform code 1, scanner) and, in a NIfTI header extension (code 6, "comment"), a
JSON document under the key ``"roixr"``: the form, the ROI names, the attrs, the coverage
and the grid offset, so :func:`from_nifti` gives back the DataArray that was written.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import dask
import nibabel as nib
import numpy as np
import xarray as xr
from nibabel.spatialimages import SpatialImage

from roixr.convert import dict_volumes, from_dict
from roixr.errors import FormError, OutputExistsError, OutputPathError
from roixr.forms import (
    INDEX_NAME,
    MASK_DIMS,
    SPATIAL,
    check_index_volume,
    check_masks,
    roi_names,
)
from roixr.io.images import load_volume

__all__ = ["from_nifti", "to_nifti"]

EXTENSION_CODE = 6  # NIFTI_ECODE_COMMENT; nibabel has no JSON extension code
KEY = "roixr"


def _suffix(path: Path) -> str:
    for suffix in (".nii.gz", ".nii"):
        if path.name.endswith(suffix) and len(path.name) > len(suffix):
            return suffix
    raise FormError(f"A NIfTI path must end in .nii or .nii.gz; got {str(path)!r}.")


def _kind(obj: Any) -> str:
    if isinstance(obj, xr.DataArray) and obj.dims == SPATIAL:
        check_index_volume(obj, func="to_nifti")
        return "index"
    check_masks(obj, func="to_nifti")
    return "masks"


def _grid(obj: xr.DataArray) -> tuple[np.ndarray, list[int]]:
    """The affine of ``obj``'s voxels (the reference affine shifted to its first voxel)."""
    if "affine" not in obj.attrs:
        raise FormError(
            "to_nifti needs the reference image's affine in attrs['affine']; it is missing. "
            "Set it: obj.attrs['affine'] = nibabel.load(reference).affine.tolist()."
        )
    affine = np.asarray(obj.attrs["affine"], dtype=float)
    if affine.shape != (4, 4):
        raise FormError(f"attrs['affine'] must be 4×4; got shape {affine.shape}.")
    offset = []
    for dim in SPATIAL:
        c = np.asarray(obj[dim].values)
        start = int(c[0]) if c.size else 0
        if c.dtype.kind not in "iu" or not np.array_equal(c, np.arange(start, start + c.size)):
            raise FormError(
                f"to_nifti: the {dim} coord must be consecutive voxel indices; got {c[:6]}... "
                f"Select a block with slices (obj.isel({dim}=slice(a, b))), not a list."
            )
        offset.append(start)
    shift = np.eye(4)
    shift[:3, 3] = offset
    return affine @ shift, offset


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def to_nifti(
    obj: xr.DataArray,
    path: str | os.PathLike,
    *,
    split_lr: bool = False,
    overwrite: bool = False,
) -> Path:
    """Write masks or an index volume as NIfTI on the reference image's grid.

    Parameters
    ----------
    obj : xarray.DataArray
        Masks ``(roi, hemisphere, x, y, z)`` → a 4D image ``(x, y, z, n)``, one volume per
        ROI (hemispheres combined) or, with ``split_lr``, per ROI and hemisphere
        (``V1_L``, ``V1_R``, ...); uint8 for bool masks, float32 for fractions. An index
        volume ``(x, y, z)`` → a 3D image of its integer dtype, intent "label".
    path : str or os.PathLike
        Ends in ``.nii`` or ``.nii.gz`` (compressed). Written atomically: to a temporary
        file in the same folder, then renamed.
    split_lr : bool, default False
        For masks: one volume per ROI and hemisphere, so that :func:`from_nifti` can rebuild
        the hemispheres.
    overwrite : bool, default False
        Replace an existing file; otherwise :class:`OutputExistsError` is raised.

    Returns
    -------
    pathlib.Path
        The file written.

    Notes
    -----
    The affine is ``attrs["affine"]`` (shifted when ``obj`` is a block of the reference
    grid), stored as sform and qform with code 1 (scanner). The ROI names, attrs, coverage
    and grid offset go into a header extension (code 6) as JSON; other software ignores it.
    Dask data is computed (once).
    """
    path = Path(path)
    suffix = _suffix(path)
    kind = _kind(obj)
    if kind == "index" and split_lr:
        raise FormError("to_nifti: split_lr applies to masks, not to an index volume.")
    affine, offset = _grid(obj)
    _check_target(path, overwrite=overwrite)  # before computing anything
    meta: dict[str, Any] = {"kind": kind, "offset": offset, "attrs": dict(obj.attrs)}
    if kind == "index":
        data = np.asarray(obj.values)
        meta["names"] = list(obj.attrs.get("roi_names", []))
    else:
        keys, data = dict_volumes(obj, split_lr=split_lr)
        if not keys:
            raise FormError("to_nifti: the masks have no ROI; there is nothing to write.")
        cov = obj["coverage"].data if "coverage" in obj.coords else None
        data, cov = dask.compute(data, cov)  # together: they share the sampling tasks
        data = np.moveaxis(np.asarray(data), 0, -1)
        data = data.astype(np.uint8) if data.dtype == bool else data.astype(np.float32)
        cov = None if cov is None else [None if np.isnan(c) else float(c) for c in cov]
        meta.update(names=roi_names(obj), split_lr=split_lr, coverage=cov)
    img = nib.Nifti1Image(data, affine)
    img.set_data_dtype(data.dtype)
    img.set_sform(affine, code=1)
    img.set_qform(affine, code=1)
    img.header.set_xyzt_units("mm")
    if kind == "index":
        img.header.set_intent("label")
    content = json.dumps({KEY: meta}, default=_jsonable).encode()
    img.header.extensions.append(nib.nifti1.Nifti1Extension(EXTENSION_CODE, content))
    _save(img, path, suffix, overwrite=overwrite)
    return path


def _save(img: nib.Nifti1Image, path: Path, suffix: str, *, overwrite: bool) -> None:
    """Save atomically; without ``overwrite`` never replace a file, even one made meanwhile."""
    _check_target(path, overwrite=overwrite)
    tmp = path.with_name(f".{path.name[: -len(suffix)]}.{uuid.uuid4().hex}.tmp{suffix}")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # umask applies
    try:
        nib.save(img, tmp)
        if overwrite:
            os.replace(tmp, path)
            return
        try:
            os.link(tmp, path)  # fails if path exists
        except FileExistsError:
            raise _exists(path) from None
        except OSError:  # no hard links on this file system
            if path.exists():
                raise _exists(path) from None
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _check_target(path: Path, *, overwrite: bool) -> None:
    if not path.parent.is_dir():
        raise OutputPathError(
            f"the folder {str(path.parent)!r} for {path.name!r} does not exist; create it "
            "first (roixr does not create folders, so a typo cannot scatter outputs)."
        )
    if path.exists() and not overwrite:
        raise _exists(path)


def _exists(path: Path) -> OutputExistsError:
    return OutputExistsError(
        f"{str(path)!r} exists; roixr does not overwrite files unless told.",
        fix="Pass overwrite=True, or choose another path.",
        option="overwrite",
    )


def _read_meta(img: SpatialImage) -> dict[str, Any] | None:
    for ext in getattr(img.header, "extensions", ()):
        if ext.get_code() != EXTENSION_CODE:
            continue
        try:
            doc = json.loads(ext.get_content().rstrip(b"\x00 ").decode())
        except (UnicodeDecodeError, ValueError):
            continue
        if isinstance(doc, dict) and KEY in doc:
            return doc[KEY]
    return None


def from_nifti(path: str | os.PathLike, *, left: Any = None) -> xr.DataArray:
    """Read a NIfTI file written by :func:`to_nifti` back into a DataArray (in memory).

    Parameters
    ----------
    path : str or os.PathLike
        A ``.nii`` or ``.nii.gz`` file.
    left : array_like of bool, optional
        For masks written without ``split_lr``: True where a voxel is in the left
        hemisphere ``(x, y, z)``, to rebuild the hemispheres.

    Returns
    -------
    xarray.DataArray
        What was written: an index volume ``(x, y, z)`` named ``"roi_index"``; masks
        ``(roi, hemisphere, x, y, z)`` (bool from uint8, float32 fractions) written with
        ``split_lr`` or read with ``left``; otherwise masks ``(roi, x, y, z)``, hemispheres
        combined. Attrs, coverage and x, y, z coords are those written. A 3D integer file
        not written by roixr reads as an unlabelled index volume with ``attrs["affine"]``;
        give :func:`~roixr.convert.from_index_volume` its labels.
    """
    img = load_volume(path)
    meta = _read_meta(img)
    data = np.asanyarray(img.dataobj)
    if meta is None:
        if data.ndim == 3 and np.issubdtype(data.dtype, np.signedinteger):
            attrs = {"affine": img.affine.tolist()}
            return xr.DataArray(data, dims=SPATIAL, name=INDEX_NAME, attrs=attrs)
        raise FormError(
            f"{os.fspath(path)!r} was not written by roixr.to_nifti (no roixr header "
            "extension), so its ROI names are unknown. Read it with nibabel.load."
        )
    coords = {
        d: np.arange(n) + o
        for d, n, o in zip(SPATIAL, data.shape[:3], meta["offset"], strict=True)
    }
    attrs = meta["attrs"]
    if meta["kind"] == "index":
        return xr.DataArray(data, dims=SPATIAL, coords=coords, name=INDEX_NAME, attrs=attrs)
    data = data.astype(bool) if data.dtype == np.uint8 else data.astype(np.float32)
    names, cov = meta["names"], meta.get("coverage")
    keys = [f"{n}_{h}" for n in names for h in "LR"] if meta["split_lr"] else names
    if meta["split_lr"] or left is not None:
        arrays = {k: data[..., i] for i, k in enumerate(keys)}
        extra = {} if cov is None else {"coverage": cov}
        masks = from_dict(arrays, left=left, split_lr=meta["split_lr"], attrs={**attrs, **extra})
        return masks.assign_coords(coords)
    coords["roi"] = np.array(names)
    if cov is not None:
        coords["coverage"] = ("roi", np.array([np.nan if c is None else c for c in cov], float))
    dims = (MASK_DIMS[0], *SPATIAL)
    data = np.moveaxis(data, -1, 0)
    return xr.DataArray(data, dims=dims, coords=coords, name="roi_masks", attrs=attrs)
