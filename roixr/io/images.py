"""Loading volume images with nibabel, checked to be volumes."""

from __future__ import annotations

import os

import nibabel as nib
from nibabel.spatialimages import SpatialImage

__all__ = ["load_volume"]


def load_volume(path: str | os.PathLike) -> SpatialImage:
    """``nibabel.load`` for volume images (NIfTI, MGH, ...): the header is read, the data
    stays on disk.

    Raises
    ------
    TypeError
        If the file is an image nibabel reads but not a volume (a GIfTI or CIFTI file).
    nibabel.filebasedimages.ImageFileError, OSError
        As ``nibabel.load``.
    """
    img = nib.load(os.fspath(path))
    if not isinstance(img, SpatialImage):
        raise TypeError(f"{os.fspath(path)} is a {type(img).__name__}, not a volume image")
    return img
