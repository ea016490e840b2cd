"""Reading NIfTI data slab by slab: plain files with one read per chunk, gzipped files in one
sequential pass.

An image's data is a Fortran-ordered block at a byte offset of one file, so the volumes
``[start, stop)`` of its last axis are one contiguous byte range. :class:`RawLayout`
describes that block (it pickles small: a path, an offset, a dtype, scaling);
:func:`read_slab` maps one range of a plain file (no copy: a reduction touches only the
pages of the voxels it gathers).

A gzipped file cannot be entered in the middle: nibabel decompresses it from the start for
each chunk, quadratic in the number of chunks. Here every time chunk is read by
:func:`read_gzip_slab` from a *stream*: an open decoder (python-isal's ``igzip``, which
releases the GIL) kept in a per-process registry and advanced in order. The dask graph makes
chunk ``k`` depend on chunk ``k - 1`` (:func:`gzip_graph`), so the chunks of a file are read
one after the other, each from where the previous one stopped, while other threads or
workers reduce the chunks already read. The dependency also keeps a distributed scheduler
on the worker that holds the stream (a task runs where its inputs are). Should a chunk run
elsewhere anyway (another process, a worker lost), its reader opens a new stream and skips
to the chunk's start: slower, never wrong. :data:`DECOMPRESSED` counts the bytes each
process decompressed, per file.
"""

from __future__ import annotations

import mmap
import os
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "DECOMPRESSED",
    "RawLayout",
    "gzip_graph",
    "raw_layout",
    "read_gzip_slab",
    "read_slab",
]

GZIP_MAGIC = b"\x1f\x8b"
DECOMPRESSED: Counter[str] = Counter()  # bytes decompressed by this process, per file
_MAX_STREAMS = 8  # open streams kept per process (oldest closed first)


@dataclass(frozen=True)
class RawLayout:
    """Where and how an image's data lies in its file.

    Attributes
    ----------
    path : str
        The file.
    offset : int
        Byte offset of the data (in the decompressed stream for a gzipped file).
    dtype : numpy.dtype
        On-disk dtype, with its byte order.
    shape : tuple of int
        The image's shape; the data is in Fortran order.
    slope, inter : float
        nibabel's scaling (``value = raw * slope + inter``).
    gzip : bool
        The file is gzipped.
    token : str
        The file's identity (path, size and modification time): streams are shared only
        between reads of the same file version.
    """

    path: str
    offset: int
    dtype: np.dtype
    shape: tuple[int, ...]
    slope: float
    inter: float
    gzip: bool
    token: str

    @property
    def plane_bytes(self) -> int:
        """Bytes of one index of the last axis (a volume of a 4D image)."""
        return int(np.prod(self.shape[:-1], dtype=np.int64)) * self.dtype.itemsize

    @property
    def direct(self) -> bool:
        """The bytes are native float32 values that need no scaling."""
        return self.dtype == np.dtype(np.float32) and self.slope == 1.0 and self.inter == 0.0


def raw_layout(img: Any) -> RawLayout | None:
    """The layout of a file-backed nibabel image's data, or None if it is not one block of
    one file that roixr reads itself (in memory, several files, bz2/zstd, C order...)."""
    from nibabel.arrayproxy import ArrayProxy

    proxy = img.dataobj
    if not isinstance(proxy, ArrayProxy) or getattr(proxy, "order", "F") != "F":
        return None
    path = proxy.file_like
    if not isinstance(path, str | os.PathLike) or not os.path.isfile(path):
        return None
    with open(path, "rb") as f:
        magic = f.read(2)
    gz = magic == GZIP_MAGIC
    if not gz and str(path).endswith((".bz2", ".zst")):
        return None
    slope, inter = float(np.asarray(proxy.slope)), float(np.asarray(proxy.inter))
    if not (np.isfinite(slope) and np.isfinite(inter)):
        slope, inter = 1.0, 0.0
    stat = os.stat(path)
    return RawLayout(
        path=os.fspath(path),
        offset=int(proxy.offset),
        dtype=np.dtype(proxy.dtype),
        shape=tuple(int(n) for n in proxy.shape),
        slope=slope,
        inter=inter,
        gzip=gz,
        token=f"{os.path.realpath(path)}:{stat.st_size}:{stat.st_mtime_ns}",
    )


def _scaled(raw: np.ndarray, layout: RawLayout) -> np.ndarray:
    """float32 values from raw on-disk values, nibabel's scaling applied."""
    if layout.slope == 1.0 and layout.inter == 0.0:
        return raw.astype(np.float32, copy=False)
    if raw.dtype.itemsize <= 2 and raw.dtype.kind in "iu":  # exact in float32
        out = raw.astype(np.float32)
        out *= np.float32(layout.slope)
        out += np.float32(layout.inter)
        return out
    return (raw * layout.slope + layout.inter).astype(np.float32)


def _buffers(layout: RawLayout, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
    """The float32 output slab and the raw array its bytes are read into (the same one
    when the file holds native float32)."""
    shape = (*layout.shape[:-1], stop - start)
    out = np.empty(shape, np.float32, order="F")
    raw = out if layout.direct else np.empty(shape, layout.dtype, order="F")
    return out, raw


def _finish(out: np.ndarray, raw: np.ndarray, layout: RawLayout) -> np.ndarray:
    return out if raw is out else _scaled(raw, layout)


def read_slab(layout: RawLayout, start: int, stop: int) -> np.ndarray:
    """Planes ``[start, stop)`` of the last axis of a plain (not gzipped) file, float32.

    The range is memory-mapped (copy-on-write, so the array is writable and the file never
    changes): a reduction that gathers some voxels touches only their pages, with no copy,
    and the mapping goes with the array. Other dtypes are converted from the mapping.
    """
    begin = layout.offset + start * layout.plane_bytes
    size = (stop - start) * layout.plane_bytes
    shape = (*layout.shape[:-1], stop - start)
    if size == 0:
        return np.empty(shape, np.float32, order="F")
    base = begin - begin % mmap.ALLOCATIONGRANULARITY
    with open(layout.path, "rb") as f:
        mapped = mmap.mmap(f.fileno(), begin + size - base, offset=base, access=mmap.ACCESS_COPY)
    raw = np.frombuffer(mapped, layout.dtype, count=size // layout.dtype.itemsize,
                        offset=begin - base).reshape(shape, order="F")  # fmt: skip
    return raw if layout.direct else _scaled(raw, layout)


def _read_fully(f: Any, view: memoryview, path: str) -> None:
    done = 0
    while done < len(view):
        n = f.readinto(view[done:])
        if not n:
            raise OSError(f"{path} ended {len(view) - done} bytes before its data did")
        done += n


# --- gzipped files: one stream per file, read in order ------------------------------------


class _Stream:
    """An open decoder of a gzipped file and its position in the decompressed bytes."""

    def __init__(self, layout: RawLayout) -> None:
        from isal import igzip  # python-isal: ISA-L's inflate, GIL released while it runs

        self.file = igzip.open(layout.path, "rb")
        self.position = 0
        self.path = layout.path

    def readinto(self, view: memoryview) -> None:
        _read_fully(self.file, view, self.path)
        self.position += len(view)
        DECOMPRESSED[self.path] += len(view)

    def skip(self, n: int) -> None:
        buffer = memoryview(bytearray(min(n, 1 << 24)))
        while n > 0:
            self.readinto(buffer[: min(n, len(buffer))])
            n -= min(n, len(buffer))

    def close(self) -> None:
        self.file.close()


_STREAMS: OrderedDict[tuple[str, int], _Stream] = OrderedDict()  # (token, position)
_LOCK = threading.Lock()


def _take_stream(layout: RawLayout, position: int) -> _Stream:
    """The open stream at ``position``, else the furthest one before it, else a new one."""
    with _LOCK:
        stream = _STREAMS.pop((layout.token, position), None)
        if stream is None:
            behind = [k for k in _STREAMS if k[0] == layout.token and k[1] < position]
            if behind:
                stream = _STREAMS.pop(max(behind, key=lambda k: k[1]))
    if stream is None:
        stream = _Stream(layout)
    stream.skip(position - stream.position)
    return stream


def _keep_stream(layout: RawLayout, stream: _Stream, end: bool) -> None:
    if end:
        stream.close()
        return
    with _LOCK:
        _STREAMS[(layout.token, stream.position)] = stream
        while len(_STREAMS) > _MAX_STREAMS:
            _STREAMS.popitem(last=False)[1].close()


def read_gzip_slab(layout: RawLayout, start: int, stop: int, *after: Any) -> np.ndarray:
    """Planes ``[start, stop)`` of the last axis of a gzipped file, float32.

    Reads on from the stream the previous chunk left at this chunk's first byte (``after``
    is that chunk, passed by the graph only to order the reads). The decompressed bytes go
    straight into the result when the file holds float32.
    """
    out, raw = _buffers(layout, start, stop)
    view = raw.reshape(-1, order="F").view(np.uint8).data
    stream = _take_stream(layout, layout.offset + start * layout.plane_bytes)
    try:
        stream.readinto(view)
    except BaseException:
        stream.close()
        raise
    _keep_stream(layout, stream, end=stop == layout.shape[-1])
    return _finish(out, raw, layout)


def gzip_graph(layout: RawLayout, keys: list[tuple], bounds: list[tuple[int, int]]) -> dict:
    """Tasks ``keys[k]`` reading the slabs ``bounds[k]`` of a gzipped file in order: each
    takes the previous one as an (unused) argument."""
    graph: dict = {}
    for k, (start, stop) in enumerate(bounds):
        after = () if k == 0 else (keys[k - 1],)
        graph[keys[k]] = (read_gzip_slab, layout, start, stop, *after)
    return graph
