"""Lazy fMRI series from NIfTI files: ``open_nifti``.

``open_nifti`` wraps a NIfTI file or a nibabel image in a lazy ``(x, y, z, time)`` DataArray
chunked along time, read by :mod:`roixr.timeseries.reader` (nibabel's proxy for other
formats).
"""

from __future__ import annotations

import operator
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dask
import dask.array as da
import nibabel as nib
import numpy as np
import xarray as xr
from dask.base import tokenize
from dask.highlevelgraph import HighLevelGraph
from nibabel.spatialimages import SpatialImage

from roixr.errors import BoldError, MetadataWarning, OptionError
from roixr.forms import SPATIAL
from roixr.io.images import load_volume
from roixr.timeseries.reader import RawLayout, gzip_graph, raw_layout, read_slab
from roixr.timeseries.reduction import Float32Proxy

__all__ = ["open_nifti"]

TIME_UNITS = {"sec": 1.0, "msec": 1e-3, "usec": 1e-6, "unknown": 1.0}
AUTO_CHUNK_BYTES = 8 * 2**20  # chunks="auto": a few chunks in flight per core stay small


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


def _image(img: str | os.PathLike | SpatialImage) -> tuple[SpatialImage, str | None]:
    """A nibabel image and the file it came from (None for an image in memory)."""
    if isinstance(img, str | os.PathLike):
        return load_volume(img), os.fspath(img)
    if isinstance(img, SpatialImage):
        return img, img.get_filename()
    raise BoldError(
        f"expected a NIfTI path or a nibabel image; got a {type(img).__name__}. Load it with "
        "nibabel.load(path) or pass the path."
    )


def _auto_chunks(chunks: Any, shape: tuple[int, ...]) -> Any:
    """``"auto"``: volumes of about :data:`AUTO_CHUNK_BYTES` each along the last axis."""
    if not (isinstance(chunks, str) and chunks == "auto"):
        return chunks
    plane = int(np.prod(shape[:-1], dtype=np.int64)) * 4
    limit = min(AUTO_CHUNK_BYTES, dask.utils.parse_bytes(dask.config.get("array.chunk-size")))
    return max(1, min(shape[-1], limit // max(plane, 1)))


def _file_data(layout: RawLayout, chunks: tuple[tuple[int, ...], ...], token: str) -> da.Array:
    """A dask array over a file's data read by :mod:`roixr.timeseries.reader`: one task per
    slab of the last axis (a time chunk); getitem tasks cut slabs along the other axes."""
    name = f"open-nifti-{token}"
    ends = np.cumsum(chunks[-1]).tolist()
    bounds = [(int(e - n), int(e)) for e, n in zip(ends, chunks[-1], strict=True)]
    whole = all(len(c) == 1 for c in chunks[:-1])
    slab = name if whole else f"nifti-slab-{token}"
    lead = (0,) * (len(chunks) - 1) if whole else ()
    keys = [(slab, *lead, k) for k in range(len(bounds))]
    if layout.gzip:
        graph = gzip_graph(layout, keys, bounds)
    else:
        graph = {key: (read_slab, layout, *ab) for key, ab in zip(keys, bounds, strict=True)}
    if not whole:
        for index in np.ndindex(*(len(c) for c in chunks)):
            where = tuple(
                slice(int(sum(c[:i])), int(sum(c[: i + 1])))
                for c, i in zip(chunks[:-1], index[:-1], strict=True)
            )
            graph[(name, *index)] = (operator.getitem, (slab, index[-1]), where)
    meta = np.empty((0,) * len(chunks), np.float32)
    return da.Array(HighLevelGraph.from_collections(name, graph), name, chunks, meta=meta)


def open_nifti(
    path: str | os.PathLike | SpatialImage,
    *,
    chunks: Any = "auto",
    tr: float | None = None,
    name: str = "bold",
) -> xr.DataArray:
    """A NIfTI image as a lazy DataArray, read chunk by chunk.

    Parameters
    ----------
    path : path-like or nibabel image
        A 3D or 4D image nibabel reads (``.nii``, ``.nii.gz``, ...), or a nibabel image
        (in memory, or loaded from a file and read from it lazily).
    chunks : "auto", int, dict or tuple, default "auto"
        Chunks of the last axis (time; z for a 3D image) when ``"auto"`` (about 8 MiB, or
        dask's ``array.chunk-size`` if smaller) or an int (volumes per chunk); the other
        axes are whole. A dict keyed by dim name, or a tuple, chunks any axis (dims left out
        of a dict are whole). A gzipped file is decompressed once, in one sequential pass,
        whatever the chunks: the chunks of its last axis are read in order.
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
        ``source`` (the path; absent for an image in memory).

    Raises
    ------
    BoldError
        If the image is not 3D or 4D, or ``path`` is neither a path nor a nibabel image.

    Notes
    -----
    NIfTI files (plain or gzipped) are read by roixr itself: a plain file memory-mapped chunk
    by chunk, a gzipped one decompressed once, each chunk from where the previous one stopped,
    by rapidgzip on several threads (python-isal on one; the dask config value
    ``roixr.gzip-threads`` sets the threads, see :mod:`roixr.timeseries.reader`).
    Other formats are read through nibabel's array proxy.

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
    img, source = _image(path)
    shape = tuple(int(n) for n in img.shape)
    if len(shape) not in (3, 4):
        raise BoldError(
            f"open_nifti reads 3D or 4D images; {source or 'the image'!r} has shape {shape}. "
            "Squeeze or split it with nibabel first."
        )
    dims = ("x", "y", "z", "time")[: len(shape)]
    normalized = _nifti_chunks(_auto_chunks(chunks, shape), shape, dims)
    layout = raw_layout(img)
    meta = np.empty((0,) * len(shape), np.float32)
    if layout is not None:
        data = _file_data(layout, normalized, tokenize(layout, normalized))
    elif source is not None and nib.is_proxy(img.dataobj):
        stat = Path(source).stat()
        token = tokenize(str(Path(source).resolve()), stat.st_mtime_ns, stat.st_size, normalized)
        data = da.from_array(
            Float32Proxy(img.dataobj),
            chunks=normalized,
            name=f"open-nifti-{token}",
            lock=False,  # nibabel opens the file per read
            meta=meta,
        )
    else:  # in memory: a random name, hashing the whole series costs
        array = np.asarray(img.dataobj, dtype=np.float32)
        data = da.from_array(array, chunks=normalized, name=False, meta=meta)
    coords: dict[str, Any] = {d: np.arange(n) for d, n in zip(SPATIAL, shape, strict=False)}
    affine = np.asarray(img.affine, dtype=np.float64).tolist()
    attrs: dict[str, Any] = {"affine": affine}
    if source is not None:
        attrs["source"] = source
    if len(shape) == 4:
        time, attrs["tr"] = _time_coord(img, shape[3], tr)
        coords["time"] = ("time", time, {"units": "s" if attrs["tr"] else "volume"})
    return xr.DataArray(data, dims=dims, coords=coords, attrs=attrs, name=name)


# --- inputs and grid checks ----------------------------------------------------------------
