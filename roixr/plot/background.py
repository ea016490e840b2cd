"""Background images of the mosaics: on the masks' grid, or resampled into it."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from roixr.errors import OptionError
from roixr.forms import SPATIAL

if TYPE_CHECKING:
    from roixr.io.subject import SubjectLike

__all__ = ["Background", "background_of", "grid_affine"]


def grid_affine(masks: xr.DataArray) -> np.ndarray:
    affine = masks.attrs.get("affine")
    return np.eye(4) if affine is None else np.asarray(affine, dtype=float)


def _normalise(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Grey levels in [0, 1]: the 2nd to 99th percentile of ``reference``'s non-zero values."""
    finite = reference[np.isfinite(reference) & (reference != 0)]
    if finite.size == 0:
        return np.zeros(values.shape)
    lo, hi = (float(v) for v in np.percentile(finite, [2, 99]))
    if hi <= lo:  # a constant image (a binary anatomy): its non-zero voxels in light grey
        lo, hi = min(lo, 0.0), max(hi, 0.0) / 0.8 if hi > 0 else lo + 1.0
    return np.clip((np.nan_to_num(values) - lo) / (hi - lo), 0, 1)


class Background:
    """Grey levels of the displayed slices: an image on the grid, or one resampled into it."""

    def __init__(self, data: Any, vox2data: np.ndarray | None, label: str) -> None:
        self.data = data  # an (i, j, k) array-like, read slice by slice when resampling
        self.vox2data = vox2data  # masks voxel -> data voxel; None when on the grid
        self.label = label
        step = 2 if np.prod(data.shape[:3]) > 2e7 else 1  # percentiles from a subsample
        self._reference = np.asarray(data[::step, ::step, ::step], dtype=float)

    def slice(self, axis: int, index: int, shape: tuple[int, int, int]) -> np.ndarray:
        if self.vox2data is None:
            plane = np.take(np.asarray(self.data), index, axis=axis)
            return _normalise(np.asarray(plane, dtype=float), self._reference)
        from scipy.ndimage import map_coordinates

        grids = [np.arange(n, dtype=float) for n in shape]
        grids[axis] = np.array([float(index)])
        ijk = np.stack(np.meshgrid(*grids, indexing="ij"), axis=0).reshape(3, -1)
        src = self.vox2data[:3, :3] @ ijk + self.vox2data[:3, 3:]
        values = map_coordinates(np.asarray(self.data, dtype=float), src, order=1, cval=0.0)
        plane = values.reshape([n for d, n in enumerate(shape) if d != axis])
        return _normalise(plane, self._reference)


def _subject_of(masks: xr.DataArray, subject: SubjectLike | None):
    from roixr.io.subject import as_subject

    try:
        return as_subject(subject if subject is not None else masks.attrs.get("subject", ""))
    except Exception as err:
        raise OptionError(
            f"this background needs the subject, and {masks.attrs.get('subject')!r} could not "
            f"be found ({err}). Pass subject= (a folder or roixr.Subject), or a background "
            "image path or array."
        ) from None


def background_of(
    masks: xr.DataArray, background: Any, subject: SubjectLike | None, resample: bool
) -> Background | None:
    """The background of :func:`plot_masks` (see its ``background`` parameter)."""
    from roixr.io.images import load_volume

    shape = tuple(int(masks.sizes[d]) for d in SPATIAL)
    if background is None and subject is not None:
        background = "reference"
    if background is None:
        return None
    if isinstance(background, str) and background in ("reference", "anatomical"):
        subj = _subject_of(masks, subject)
        if background == "anatomical":
            img = load_volume(subj.path / "anatomicals" / "raw.nii.gz")
            coord = masks.attrs.get("xfm_coord")
            if coord is None:  # surface mm -> voxel unknown: go through scanner space
                vox2data = np.linalg.inv(img.affine) @ grid_affine(masks)
            else:  # masks voxel -> surface mm (the anatomy's scanner space) -> anatomy voxel
                vox2data = np.linalg.inv(img.affine) @ np.linalg.inv(np.asarray(coord, float))
            return Background(img.dataobj, vox2data, f"anatomy of {subj.name}")
        try:
            path = subj.transform(str(masks.attrs.get("xfm"))).reference
        except Exception as err:
            raise OptionError(
                f"no reference image for transform {masks.attrs.get('xfm')!r} of subject "
                f"{subj.name!r} ({err}). Pass background= an image path or array."
            ) from None
        background = path
    if isinstance(background, str | os.PathLike):
        img = load_volume(background)
        data = img.dataobj if len(img.shape) == 3 else np.asarray(img.dataobj)[..., 0]
        on_grid = tuple(img.shape[:3]) == shape and np.allclose(
            img.affine, grid_affine(masks), atol=1e-3
        )
        if on_grid:
            return Background(data, None, os.path.basename(str(background)))
        if not resample:
            raise OptionError(
                f"the background {background} is not on the masks' grid (shape "
                f"{tuple(img.shape[:3])} vs {shape}, or another affine). Pass resample=True "
                "to resample it through the affines, or an image on the grid."
            )
        vox2data = np.linalg.inv(img.affine) @ grid_affine(masks)
        return Background(data, vox2data, os.path.basename(str(background)) + " (resampled)")
    values = background.transpose(*SPATIAL).values if isinstance(background, xr.DataArray) \
        else np.asarray(background)  # fmt: skip
    if values.shape != shape:
        raise OptionError(
            f"a background array must have the masks' grid shape {shape}; got {values.shape}. "
            "Pass a NIfTI path with resample=True to resample an image on another grid."
        )
    return Background(values, None, "background")
