"""Reading NIfTI data slab by slab: plain files with one read per chunk, gzipped files in one
sequential pass.

An image's data is a Fortran-ordered block at a byte offset of one file, so the volumes
``[start, stop)`` of its last axis are one contiguous byte range. :class:`RawLayout`
describes that block (it pickles small: a path, an offset, a dtype, scaling);
:func:`read_slab` maps one range of a plain file (no copy: a reduction touches only the
pages of the voxels it gathers).

A gzipped file cannot be entered in the middle: nibabel decompresses it from the start for
each chunk, quadratic in the number of chunks. Here every time chunk is read by
:func:`read_gzip_slab` from a *stream*: an open decoder kept in a per-process registry and
advanced in order. The dask graph makes chunk ``k`` depend on chunk ``k - 1``
(:func:`gzip_graph`), so the chunks of a file are read one after the other, each from where
the previous one stopped, while other threads or workers reduce the chunks already read.
The dependency also keeps a distributed scheduler on the worker that holds the stream (a
task runs where its inputs are). Should a chunk run elsewhere anyway (another process, a
worker lost), its reader opens a new stream and skips to the chunk's start: slower, never
wrong. :data:`DECOMPRESSED` counts the bytes each process decompressed, per file.

The decoder is chosen by the threads the reading may use (:func:`gzip_threads`) and by how
much the file compresses (its data's size by its header over the file's size): with two or
more threads and a barely compressible file (random-like values: at most
:data:`PARALLEL_MAX_RATIO`), rapidgzip's parallel inflate (ISA-L inside; it splits one gzip
member between threads and checks its CRC-32); otherwise python-isal's ``igzip``, the fastest
single-threaded inflate measured here, which decodes straight into the caller's buffer and
holds about 17 MB whatever the data. rapidgzip keeps decoded work units of a fixed number of
*compressed* bytes, so its memory grows with the compression ratio (about 500 MB on a
realistic series that compresses 4.7×), while one isal thread inflates such data as fast as
rapidgzip's two (long matches decode quickly). Both release the GIL while they decode.

Each stream fills its slabs from a few buffers of its own (:class:`_SlabPool`), allocated at
its first chunk and reused for the next ones once no array refers to them any more: a pass
over a file allocates no per-chunk memory, so it pays no page faults for fresh pages even
where glibc returns every freed large block to the system (``MALLOC_TRIM_THRESHOLD_``, as a
``dask.distributed`` worker sets it).
"""

from __future__ import annotations

import atexit
import mmap
import os
import sys
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "DECOMPRESSED",
    "PARALLEL_MAX_RATIO",
    "RawLayout",
    "check_float32",
    "gzip_graph",
    "gzip_threads",
    "raw_layout",
    "read_gzip_slab",
    "read_slab",
]

GZIP_MAGIC = b"\x1f\x8b"
DECOMPRESSED: Counter[str] = Counter()  # bytes decompressed by this process, per file
_MAX_STREAMS = 8  # open streams kept per process (oldest closed first)
GZIP_THREADS_KEY = "roixr.gzip-threads"  # dask config: the gzip decoders' thread budget
_MAX_THREADS = 8  # a cap on the budget (more than 2 cores were not measured here)
_RAPIDGZIP_BYTES = 16 << 20  # compressed bytes in rapidgzip's work units, all threads together
#: Decompressed bytes per compressed byte above which one isal thread inflates a file even
#: when more threads are allowed (rapidgzip's memory grows with the ratio; see the module doc)
PARALLEL_MAX_RATIO = 1.5
#: Bytes per call of isal's ``readinto``, which decodes into a new bytes object of the size
#: asked and copies it: below glibc's mmap threshold (128 KiB, fixed once
#: ``MALLOC_TRIM_THRESHOLD_`` is set) that object comes from the heap and its pages are
#: reused, where a whole chunk's would be mapped and faulted in afresh on every call
_ISAL_PIECE = 64 << 10
_POOL_BUFFERS = 4  # slab buffers a stream keeps: the chunk being read, the previous one (an
# argument of the read, for order) and the chunks being reduced


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


def _scaled(raw: np.ndarray, layout: RawLayout, out: np.ndarray | None = None) -> np.ndarray:
    """float32 values from raw on-disk values, nibabel's scaling applied; written into
    ``out`` (float32, ``raw``'s shape) when given, except for scaling computed in float64."""
    unit = layout.slope == 1.0 and layout.inter == 0.0
    small_int = raw.dtype.itemsize <= 2 and raw.dtype.kind in "iu"  # exact in float32
    if out is not None and (unit or small_int):
        with np.errstate(over="ignore"):
            np.copyto(out, raw, casting="unsafe")  # the cast astype makes, in place
    if unit:
        if out is None:
            with np.errstate(over="ignore"):
                out = raw.astype(np.float32, copy=False)
    elif small_int:
        if out is None:  # (open_nifti refuses scaling beyond float32)
            out = raw.astype(np.float32)
        out *= np.float32(layout.slope)
        out += np.float32(layout.inter)
        return out
    else:
        with np.errstate(over="ignore", invalid="ignore"):
            out = (raw * layout.slope + layout.inter).astype(np.float32)
    if raw.dtype.kind == "f" and (not unit or raw.dtype.itemsize > 4):
        check_float32(out, raw, layout.path, layout.slope, layout.inter)
    return out


def check_float32(out: np.ndarray, raw: np.ndarray, path: str, slope: float, inter: float) -> None:
    """Refuse values that became inf in float32 although the file holds finite ones (its
    scaling, or float64 values, beyond float32): never a silent inf."""
    if np.isfinite(out).all():
        return
    with np.errstate(invalid="ignore"):
        bad = np.isinf(out) & np.isfinite(raw)
    if bad.any():
        from roixr.errors import BoldError

        raise BoldError(
            f"{path} holds values that are beyond float32 once scaled (scl_slope {slope:g}, "
            f"scl_inter {inter:g}; {int(bad.sum())} values in this chunk): the header's "
            "scaling or the data are damaged. Write the image again, or set its scaling with "
            "nibabel (img.header.set_slope_inter)."
        )


class _SlabPool:
    """Buffers for the slabs of one stream, reused once no array refers to them.

    A slab is a view of one of these buffers. A buffer is handed out again only when its
    reference count says that nothing but the pool holds it: no slab, view or memoryview of
    it is alive anywhere (a slab a caller kept, or one dask still holds for a later task, is
    never overwritten). At most ``keep`` buffers are kept; when all of them are in use a
    fresh array is allocated and left to its users.
    """

    def __init__(self, keep: int = _POOL_BUFFERS) -> None:
        self.buffers: list[np.ndarray] = []
        self.keep = keep
        self.allocated = 0  # buffers allocated so far (pooled or not)

    def _free(self, i: int) -> bool:
        return sys.getrefcount(self.buffers[i]) <= 2  # the list's reference and the argument

    def take(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """A Fortran-ordered array of ``shape`` and ``dtype`` on a free buffer."""
        nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        free = [i for i in range(len(self.buffers)) if self._free(i)]
        fits = [i for i in free if self.buffers[i].size >= nbytes]
        if fits:  # the smallest that fits (a raw int16 slab leaves float32 ones free)
            buffer = self.buffers[min(fits, key=lambda i: self.buffers[i].size)]
        else:
            buffer = np.empty(max(nbytes, 1), np.uint8)
            self.allocated += 1
            if len(self.buffers) < self.keep:
                self.buffers.append(buffer)
            elif free:  # a free buffer too small for this slab: replaced
                self.buffers[free[0]] = buffer
        return buffer[:nbytes].view(dtype).reshape(shape, order="F")


def _buffers(
    layout: RawLayout, start: int, stop: int, pool: _SlabPool | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The float32 output slab and the raw array its bytes are read into (the same one
    when the file holds native float32), from ``pool`` when given."""
    shape = (*layout.shape[:-1], stop - start)
    if pool is None:
        out = np.empty(shape, np.float32, order="F")
        raw = out if layout.direct else np.empty(shape, layout.dtype, order="F")
        return out, raw
    out = pool.take(shape, np.dtype(np.float32))
    raw = out if layout.direct else pool.take(shape, layout.dtype)
    return out, raw


def _finish(out: np.ndarray, raw: np.ndarray, layout: RawLayout) -> np.ndarray:
    return out if raw is out else _scaled(raw, layout, out)


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
    try:
        with open(layout.path, "rb") as f:
            if os.fstat(f.fileno()).st_size < begin + size:
                raise OSError(f"its data end before byte {begin + size:,}")
            mapped = mmap.mmap(f.fileno(), begin + size - base, offset=base,
                               access=mmap.ACCESS_COPY)  # fmt: skip
    except (OSError, ValueError) as err:  # shortened, removed or unreadable since opened
        from roixr.errors import BoldError

        raise BoldError(
            f"could not read volumes {start} to {stop - 1} of {layout.path}: {err}. The file "
            "is shorter than its header says (truncated, or changed since it was opened), or "
            "unreadable; write or copy it again."
        ) from None
    raw = np.frombuffer(mapped, layout.dtype, count=size // layout.dtype.itemsize,
                        offset=begin - base).reshape(shape, order="F")  # fmt: skip
    return raw if layout.direct else _scaled(raw, layout)


class _ShortRead(OSError):
    """The file ended ``done`` bytes into a read."""

    def __init__(self, done: int) -> None:
        super().__init__(f"the file ended {done} bytes into a read")
        self.done = done


def _read_fully(f: Any, view: memoryview, piece: int | None = None) -> None:
    """Fill ``view`` from ``f``, in reads of at most ``piece`` bytes when given."""
    done, size = 0, len(view)
    while done < size:
        n = f.readinto(view[done : size if piece is None else min(size, done + piece)])
        if not n:
            raise _ShortRead(done)
        done += n


# --- gzipped files: one stream per file, read in order ------------------------------------


def gzip_threads() -> int:
    """Threads the gzip decoders of this process may use together.

    The dask config value ``roixr.gzip-threads`` if set (``dask.config.set(
    {"roixr.gzip-threads": 1})``); else, inside a ``dask.distributed`` worker, that worker's
    thread count (so the workers of a cluster do not oversubscribe their machine); else the
    CPUs this process may run on. At most 8. A new decoder gets this budget divided by the
    number of decoders open, itself included, so files read side by side share it.
    """
    import dask

    configured = dask.config.get(GZIP_THREADS_KEY, None)
    if configured is not None:
        try:
            return max(1, int(configured))
        except (TypeError, ValueError):
            from roixr.errors import OptionError

            raise OptionError(
                f"dask config {GZIP_THREADS_KEY!r} must be a whole number of threads; got "
                f"{configured!r}. Set it with dask.config.set({{{GZIP_THREADS_KEY!r}: 2}})."
            ) from None
    threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    if "distributed" in sys.modules:  # never import it only to ask
        try:
            threads = sys.modules["distributed"].get_worker().state.nthreads
        except (ValueError, AttributeError):
            pass  # not in a worker
    return max(1, min(threads or os.cpu_count() or 1, _MAX_THREADS))


def compression_ratio(layout: RawLayout) -> float:
    """Decompressed bytes (as the header describes them) per byte of the gzipped file."""
    try:
        size = os.path.getsize(layout.path)
    except OSError:
        return 1.0  # the decoder's open says what is wrong
    need = layout.offset + layout.plane_bytes * layout.shape[-1]
    return need / max(size, 1)


def _open_decoder(path: str, threads: int) -> Any:
    """rapidgzip with ``threads`` threads, or python-isal's single-threaded decoder.

    rapidgzip's work units are 8 MiB of compressed bytes at 2 threads (about 10% faster here
    than its default 4 MiB; 16 MiB was no faster within the noise and held 35 MB more) and
    shrink as threads are added, down to 4 MiB, so that the decoded units it holds grow
    less than the thread count (measured: about 75 MB at 2 threads, 100 MB at 8).
    """
    if threads > 1:
        import rapidgzip

        unit = max(4 << 20, _RAPIDGZIP_BYTES // threads)
        return rapidgzip.RapidgzipFile(path, parallelization=threads, chunk_size=unit)
    from isal import igzip

    return igzip.open(path, "rb")


class _Stream:
    """An open decoder of a gzipped file and its position in the decompressed bytes."""

    open_count = 0  # decoders open in this process (guarded by _LOCK)

    def __init__(self, layout: RawLayout) -> None:
        self.path = layout.path
        self.position = 0
        self.need = layout.offset + layout.plane_bytes * layout.shape[-1]  # what the header says
        self.pool = _SlabPool()
        with _LOCK:
            self.threads = max(1, gzip_threads() // (_Stream.open_count + 1))
            _Stream.open_count += 1
        if self.threads > 1 and compression_ratio(layout) > PARALLEL_MAX_RATIO:
            self.threads = 1  # compressible data: one isal thread, bounded memory
        self.piece = None if self.threads > 1 else _ISAL_PIECE  # rapidgzip: no copy
        try:
            self.file = _open_decoder(layout.path, self.threads)
        except Exception as err:
            self._forget()
            raise _damaged(layout.path, err) from err

    def readinto(self, view: memoryview) -> None:
        try:
            _read_fully(self.file, view, self.piece)
        except _ShortRead as err:
            end = self.position + err.done
            short = OSError(
                f"its decompressed bytes end at byte {end:,}, before the {self.need:,} its "
                "header's dimensions, datatype and vox_offset describe"
            )
            raise _damaged(self.path, short) from None
        except Exception as err:
            raise _damaged(self.path, err) from err
        self.position += len(view)
        DECOMPRESSED[self.path] += len(view)

    def skip(self, n: int) -> None:
        buffer = memoryview(bytearray(min(n, 1 << 24)))
        while n > 0:
            self.readinto(buffer[: min(n, len(buffer))])
            n -= min(n, len(buffer))

    def close(self) -> None:
        self._forget()
        self.file.close()

    def _forget(self) -> None:
        with _LOCK:
            _Stream.open_count -= 1


def _damaged(path: str, err: BaseException) -> Exception:
    from roixr.errors import BoldError

    return BoldError(
        f"could not decompress {path}: {err}. The gzipped file is truncated or damaged "
        "(`gzip -t` on it says so), or its header's dimensions are larger than its data; "
        "write or copy it again."
    )


_STREAMS: OrderedDict[tuple[str, int], _Stream] = OrderedDict()  # (token, position)
_LOCK = threading.RLock()
_MAX_PARALLEL_STREAMS = 2  # a parked rapidgzip stream holds ~55 MB of decoded units
_ORPHANS: list[_Stream] = []  # a forked child's copies of its parent's streams


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
    try:
        stream.skip(position - stream.position)
    except BaseException:  # a file that ends before the data start: never leave it open
        stream.close()  # (an open rapidgzip decoder aborts the interpreter at exit)
        raise
    return stream


@atexit.register
def close_streams() -> None:
    """Close every parked stream (at exit: a decoder's threads must end before Python)."""
    with _LOCK:
        while _STREAMS:
            _STREAMS.popitem()[1].close()


def _forget_streams_in_child() -> None:
    """After a fork the parent's decoder threads do not exist in the child: its copies of
    the streams must never be used, closed or collected (joining those threads would
    hang), so they are kept aside and the child starts with none."""
    _ORPHANS.extend(_STREAMS.values())
    _STREAMS.clear()
    _Stream.open_count = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_streams_in_child)


def _keep_stream(layout: RawLayout, stream: _Stream, end: bool) -> None:
    if end:
        stream.close()
        return
    with _LOCK:
        _STREAMS[(layout.token, stream.position)] = stream
        while len(_STREAMS) > _MAX_STREAMS:  # the oldest first
            _STREAMS.popitem(last=False)[1].close()
        parallel = [k for k, s in _STREAMS.items() if s.threads > 1]
        for key in parallel[: max(0, len(parallel) - _MAX_PARALLEL_STREAMS)]:
            _STREAMS.pop(key).close()


def read_gzip_slab(layout: RawLayout, start: int, stop: int, *after: Any) -> np.ndarray:
    """Planes ``[start, stop)`` of the last axis of a gzipped file, float32.

    Reads on from the stream the previous chunk left at this chunk's first byte (``after``
    is that chunk, passed by the graph only to order the reads). The decompressed bytes go
    straight into the result when the file holds float32. The result is a view of one of
    the stream's buffers (:class:`_SlabPool`), reused for a later chunk only once nothing
    refers to it.
    """
    stream = _take_stream(layout, layout.offset + start * layout.plane_bytes)
    try:
        out, raw = _buffers(layout, start, stop, stream.pool)
        stream.readinto(raw.reshape(-1, order="F").view(np.uint8).data)
        result = _finish(out, raw, layout)  # before parking: a refused chunk (values beyond
    except BaseException:  # float32) ends the read, and a parked stream would never be taken
        stream.close()
        raise
    _keep_stream(layout, stream, end=stop == layout.shape[-1])
    return result


def gzip_graph(layout: RawLayout, keys: list[tuple], bounds: list[tuple[int, int]]) -> dict:
    """Tasks ``keys[k]`` reading the slabs ``bounds[k]`` of a gzipped file in order: each
    takes the previous one as an (unused) argument."""
    graph: dict = {}
    for k, (start, stop) in enumerate(bounds):
        after = () if k == 0 else (keys[k - 1],)
        graph[keys[k]] = (read_gzip_slab, layout, start, stop, *after)
    return graph
