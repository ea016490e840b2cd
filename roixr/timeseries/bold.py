"""Lazy fMRI series from NIfTI files: ``open_nifti``.

``open_nifti`` wraps a NIfTI file or a nibabel image in a lazy ``(x, y, z, time)`` DataArray
chunked along time, read by :mod:`roixr.timeseries.reader` (nibabel's proxy for other
formats).
"""

from __future__ import annotations

import math
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
from roixr.io.images import GZIP_MAGIC, load_volume
from roixr.timeseries.reader import RawLayout, check_float32, gzip_graph, raw_layout, read_slab
from roixr.timeseries.reduction import Float32Proxy

__all__ = ["open_nifti"]

TIME_UNITS = {"sec": 1.0, "msec": 1e-3, "usec": 1e-6, "unknown": 1.0}
AUTO_CHUNK_BYTES = 8 * 2**20  # chunks="auto": a few chunks in flight per core stay small
_MAX_DEFLATE_RATIO = 1032  # deflate expands a byte to at most ~1032 (zlib's technical note)


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
    source = img.get_filename() or "the image"
    raw = 0.0
    if tr is None:
        zooms = header.get_zooms()
        scale = _time_scale(header, source)
        raw = float(zooms[3]) if len(zooms) > 3 else 0.0
        tr = raw * scale if np.isfinite(raw * scale) and raw > 0 else None
        offset = float(header["toffset"]) * scale if "toffset" in header.keys() else 0.0
        if not np.isfinite(offset):
            warnings.warn(
                f"{source}'s header gives a non-finite time offset (toffset {offset}); the "
                "time coordinate starts at 0.",
                MetadataWarning,
                stacklevel=3,
            )
            offset = 0.0
    else:
        offset = 0.0
        if (
            isinstance(tr, bool)
            or not isinstance(tr, int | float | np.number)
            or not (np.isfinite(tr) and tr > 0)
        ):
            raise OptionError(f"tr must be a positive number of seconds; got {tr!r}.")
    if tr is None:
        warnings.warn(
            f"the image's header gives no repetition time (pixdim[4] is {raw:g}); the time "
            "coordinate is the volume index. Pass tr= (seconds) to open_nifti.",
            MetadataWarning,
            stacklevel=3,
        )
        return np.arange(n, dtype=float), None
    return offset + np.arange(n) * float(tr), float(tr)


def _time_scale(header: Any, source: str) -> float:
    """Seconds per unit of pixdim[4], from xyzt_units (unknown units: seconds)."""
    if not hasattr(header, "get_xyzt_units"):
        return 1.0
    try:
        return TIME_UNITS.get(header.get_xyzt_units()[1], 1.0)
    except (KeyError, ValueError):  # nibabel: a code no unit has
        warnings.warn(
            f"{source}'s header gives an unknown time unit (xyzt_units "
            f"{int(header['xyzt_units'])}); the repetition time is taken in seconds. Pass tr= "
            "(seconds) to open_nifti.",
            MetadataWarning,
            stacklevel=4,
        )
        return 1.0


def _image(img: str | os.PathLike | SpatialImage) -> tuple[SpatialImage, str | None]:
    """A nibabel image and the file it came from (None for an image in memory)."""
    if isinstance(img, str | os.PathLike):
        return load_volume(img, what="the image", error=BoldError), os.fspath(img)
    if isinstance(img, SpatialImage):
        return img, img.get_filename()
    raise BoldError(
        f"expected a NIfTI path or a nibabel image; got a {type(img).__name__}. Load it with "
        "nibabel.load(path) or pass the path."
    )


def _check_image(img: SpatialImage, source: str | None) -> tuple[int, ...]:
    """The image's shape, once its header is known to describe a usable series: 3D or 4D,
    no empty axis, real numbers, a finite affine, data that fit in the file, scaling that
    fits float32."""
    name = repr(source) if source else "the image (in memory)"
    shape = tuple(int(n) for n in img.shape)
    if len(shape) not in (3, 4):
        raise BoldError(
            f"open_nifti reads 3D or 4D images; {name} has shape {shape}. "
            "Squeeze or split it with nibabel first."
        )
    if min(shape) <= 0:
        empty = "no volumes (dim[4] is 0)" if len(shape) == 4 and min(shape[:3]) > 0 else (
            "an axis of size 0 or less")  # fmt: skip
        raise BoldError(
            f"{name} has shape {shape}: {empty}. The header's dimensions are wrong, or "
            "the series was not written; write it again."
        )
    dtype = np.dtype(img.get_data_dtype())
    if dtype.kind not in "biuf":
        what = "complex numbers" if dtype.kind == "c" else f"values of type {dtype}"
        raise BoldError(
            f"{name} holds {what}; a bold series holds real numbers. Convert it with "
            "nibabel first (e.g. the magnitude of complex data, or one channel of RGB)."
        )
    affine = np.asarray(img.affine, dtype=np.float64)
    if not np.isfinite(affine).all():
        raise BoldError(
            f"{name} has a non-finite affine (NaN or inf in its sform or qform):\n"
            f"{np.round(affine, 4)}\nThe header is damaged; write the image again, or set "
            "its affine with nibabel (img.set_sform(affine, code=1))."
        )
    proxy = img.dataobj
    if nib.is_proxy(proxy):
        _check_data_size(proxy, shape, dtype)
        _check_scaling(proxy, dtype, name)
    return shape


def _check_data_size(proxy: Any, shape: tuple[int, ...], dtype: np.dtype) -> None:
    """Refuse a file too short for the data its header describes (a truncated file, or
    dimensions, datatype or vox_offset changed): read, it would fail chunk by chunk."""
    path = getattr(proxy, "file_like", None)
    if not isinstance(path, str | os.PathLike) or not os.path.isfile(path):
        return
    offset = int(getattr(proxy, "offset", 0))
    need = offset + math.prod(shape) * dtype.itemsize
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        magic = f.read(2)
    described = (f"{' × '.join(map(str, shape))} values of {dtype.name} from byte {offset} "
                 f"({need:,} bytes)")  # fmt: skip
    if magic == GZIP_MAGIC:
        if need > _MAX_DEFLATE_RATIO * size + 1024:
            raise BoldError(
                f"{path}'s header describes {described}, more than its {size:,} gzipped "
                "bytes can hold. The file is truncated, or its header's dimensions, "
                "datatype or vox_offset are wrong; write or copy it again."
            )
        return
    if str(path).endswith((".bz2", ".zst")):
        return
    if need > size:
        raise BoldError(
            f"{path} is too short: its header describes {described} but the file has "
            f"{size:,} bytes. The file is truncated, or its header's dimensions, datatype "
            "or vox_offset are wrong; write or copy it again."
        )


def _check_scaling(proxy: Any, dtype: np.dtype, name: str) -> None:
    """Refuse an integer image whose scaling (scl_slope, scl_inter) overflows float32."""
    if dtype.kind not in "iu":
        return
    try:
        slope, inter = float(np.asarray(proxy.slope)), float(np.asarray(proxy.inter))
    except (AttributeError, TypeError, ValueError):
        return
    info = np.iinfo(dtype)
    bound = max(abs(slope * float(info.min)), abs(slope * float(info.max))) + abs(inter)
    if not bound <= float(np.finfo(np.float32).max):
        raise BoldError(
            f"{name}'s scaling (scl_slope {slope:g}, scl_inter {inter:g}) takes its {dtype} "
            f"values beyond float32 (up to {bound:g}): the header is damaged. Write the image "
            "again, or set its scaling with nibabel (img.header.set_slope_inter)."
        )


class _FileProxy(Float32Proxy):
    """:class:`Float32Proxy` that names the file when nibabel fails to read it."""

    def __init__(self, proxy: Any, source: str) -> None:
        super().__init__(proxy)
        self.source = source

    def __getitem__(self, key: Any) -> np.ndarray:
        try:
            data = np.asarray(self.proxy[key])
        except MemoryError:
            raise
        except Exception as err:  # nibabel reading a damaged file: EOFError, OSError...
            raise BoldError(
                f"could not read the data of {self.source} ({type(err).__name__}: {err}). "
                "The file is truncated or damaged, or changed since it was opened; write or "
                "copy it again."
            ) from err
        with np.errstate(over="ignore"):
            out = data.astype(np.float32)
        if data.dtype.kind == "f" and data.dtype.itemsize > 4:  # scaled, or float64 data
            slope, inter = getattr(self.proxy, "slope", 1.0), getattr(self.proxy, "inter", 0.0)
            check_float32(out, data, self.source, float(slope), float(inter))
        return out


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
    SubjectFileNotFoundError
        If the file does not exist (the message names the nearest names in its folder), or
        the other half of an Analyze ``.hdr``/``.img`` pair is missing.
    BoldError
        If the file cannot be read as an image (a folder, an empty file, a ``.gz`` name on
        plain bytes, text, another format, a damaged header), or the image is not a usable
        series: not 3D or 4D, an axis of size 0 (no volumes), not real numbers, a non-finite
        affine, a file shorter than its header says, scaling beyond float32; or if ``path``
        is neither a path nor a nibabel image. A gzipped file whose data end early is found
        when computed (a ``BoldError`` then).
    OptionError
        For bad ``chunks``, or a ``tr`` that is not a positive number.

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
    shape = _check_image(img, source)
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
            _FileProxy(img.dataobj, source),
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
