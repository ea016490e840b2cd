"""Lazy fMRI series from NIfTI files: ``open_nifti``.

``open_nifti`` wraps a NIfTI file in a lazy ``(x, y, z, time)`` DataArray read by nibabel,
chunked along time.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dask.array as da
import numpy as np
import xarray as xr
from dask.base import tokenize

from roixr.convert import SPATIAL
from roixr.errors import BoldError, MetadataWarning, OptionError
from roixr.io.images import load_volume
from roixr.timeseries.reduction import Float32Proxy

__all__ = ["open_nifti"]

TIME_UNITS = {"sec": 1.0, "msec": 1e-3, "usec": 1e-6, "unknown": 1.0}


def _nifti_chunks(chunks: Any, shape: tuple[int, ...], dims: tuple[str, ...]):
    if isinstance(chunks, Mapping):
        unknown = set(chunks) - set(dims)
        if unknown:
            raise OptionError(f"chunks keys must be among {dims}, got {sorted(unknown)}")
        chunks = tuple(chunks.get(d, "auto" if d == dims[-1] else -1) for d in dims)
    elif isinstance(chunks, int | str) and not isinstance(chunks, bool):
        chunks = (-1,) * (len(dims) - 1) + (chunks,)
    try:
        return da.core.normalize_chunks(chunks, shape, dtype=np.float32)
    except (ValueError, TypeError, NotImplementedError) as err:
        raise OptionError(
            f"invalid chunks {chunks!r} for an image of shape {shape}: {err}. Use 'auto', an "
            f"int (volumes per chunk), a dict keyed by {dims}, or a tuple."
        ) from None


def _time_coord(img: Any, n: int, tr: float | None) -> tuple[np.ndarray, float | None]:
    header = img.header
    if tr is None:
        zooms = header.get_zooms()
        unit = header.get_xyzt_units()[1] if hasattr(header, "get_xyzt_units") else "sec"
        scale = TIME_UNITS.get(unit, 1.0)
        tr = float(zooms[3]) * scale if len(zooms) > 3 and zooms[3] > 0 else None
        offset = float(header["toffset"]) * scale if "toffset" in header.keys() else 0.0
    else:
        offset = 0.0
    if tr is None:
        warnings.warn(
            "the image's header gives no repetition time (pixdim[4] is 0); the time "
            "coordinate is the volume index. Pass tr= (seconds) to open_nifti.",
            MetadataWarning,
            stacklevel=3,
        )
        return np.arange(n, dtype=float), None
    return offset + np.arange(n) * float(tr), float(tr)


def open_nifti(
    path: str | os.PathLike,
    *,
    chunks: Any = "auto",
    tr: float | None = None,
    name: str = "bold",
) -> xr.DataArray:
    """A NIfTI image as a lazy DataArray, read by nibabel chunk by chunk.

    Parameters
    ----------
    path : path-like
        A 3D or 4D image nibabel reads (``.nii``, ``.nii.gz``, ...).
    chunks : "auto", int, dict or tuple, default "auto"
        Chunks of the last axis (time; z for a 3D image) when ``"auto"`` (about dask's
        ``array.chunk-size``, 128 MiB by default) or an int (volumes per chunk); the other
        axes are whole. A dict keyed by dim name, or a tuple, chunks any axis (dims left out
        of a dict are whole). Keep gzipped files chunked along time only: every chunk of a
        ``.nii.gz`` decompresses the file from its start.
    tr : float, optional
        The repetition time in seconds; by default the header's (``pixdim[4]``, converted
        from ms or µs per ``xyzt_units``; unknown units are taken as seconds).
    name : str, default "bold"
        The DataArray's name.

    Returns
    -------
    xarray.DataArray
        float32 (nibabel's scaling applied), dims ``(x, y, z, time)`` or ``(x, y, z)``;
        coords ``x``, ``y``, ``z`` (voxel indices) and ``time`` (seconds from the header's
        ``toffset``: ``toffset + i * tr``; the volume index if no TR is known, with a
        warning). Attrs ``affine`` (4×4 nested list), ``tr`` (seconds, or None) and
        ``source`` (the path).

    Raises
    ------
    BoldError
        If the image is not 3D or 4D.

    Examples
    --------
    >>> import tempfile, nibabel as nib, numpy as np
    >>> path = tempfile.mkdtemp() + "/bold.nii.gz"
    >>> img = nib.Nifti1Image(np.zeros((4, 5, 6, 10), np.int16), np.eye(4))
    >>> img.header.set_zooms((2, 2, 2, 1.5))
    >>> nib.save(img, path)
    >>> bold = open_nifti(path, chunks=4)
    >>> bold.dims, bold.dtype.name, bold.chunks[-1], float(bold.time[1])
    (('x', 'y', 'z', 'time'), 'float32', (4, 4, 2), 1.5)
    """
    path = Path(path)
    img = load_volume(path)
    shape = tuple(int(n) for n in img.shape)
    if len(shape) not in (3, 4):
        raise BoldError(
            f"open_nifti reads 3D or 4D images; {str(path)!r} has shape {shape}. Squeeze or "
            "split it with nibabel first."
        )
    dims = ("x", "y", "z", "time")[: len(shape)]
    normalized = _nifti_chunks(chunks, shape, dims)
    stat = path.stat()
    token = tokenize(str(path.resolve()), stat.st_mtime_ns, stat.st_size, normalized)
    data = da.from_array(
        Float32Proxy(img.dataobj),
        chunks=normalized,
        name=f"open-nifti-{token}",
        lock=False,  # nibabel opens the file per read
        meta=np.empty((0,) * len(shape), np.float32),
    )
    coords: dict[str, Any] = {d: np.arange(n) for d, n in zip(SPATIAL, shape, strict=False)}
    affine = np.asarray(img.affine, dtype=np.float64).tolist()
    attrs: dict[str, Any] = {"affine": affine, "source": str(path)}
    if len(shape) == 4:
        time, attrs["tr"] = _time_coord(img, shape[3], tr)
        coords["time"] = ("time", time, {"units": "s" if attrs["tr"] else "volume"})
    return xr.DataArray(data, dims=dims, coords=coords, attrs=attrs, name=name)


# --- inputs and grid checks ----------------------------------------------------------------
