"""The gzip reader of time series: both decoders (rapidgzip with several threads on barely
compressible data, python-isal otherwise), each byte once, slab buffers reused and never
overwritten while in use, gzip members, damaged files, the thread budget, forks and exits
with a stream left open."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import textwrap
from typing import Any, NamedTuple

import dask
import nibabel as nib
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import chunk_sizes

from roixr.errors import BoldError, OptionError
from roixr.timeseries import open_nifti, reader

SHAPE = (23, 17, 11)


def write_series(path, n_time=40, seed=3):
    data = np.random.default_rng(seed).standard_normal((*SHAPE, n_time)).astype(np.float32)
    img = nib.Nifti1Image(data, np.diag([2.0, 2.0, 2.5, 1.0]))
    img.header.set_zooms((2.0, 2.0, 2.5, 1.5))
    nib.save(img, path)
    return data


@pytest.fixture(params=[1, 2], ids=["isal", "rapidgzip"])
def threads(request):
    with dask.config.set({"roixr.gzip-threads": request.param}):
        yield request.param


class Decoder(NamedTuple):
    """A gzip decoder the reader opened: its library, its threads and the open file."""

    kind: str
    threads: int
    file: Any


def opened_decoders(monkeypatch) -> list[Decoder]:
    """Every decoder the reader opens during a test, seen at the libraries' own entry
    points: ``rapidgzip.RapidgzipFile`` (its ``parallelization`` is the threads) and
    python-isal's ``igzip.open`` (one thread)."""
    import rapidgzip
    from isal import igzip

    seen: list[Decoder] = []
    rapid, isal_open = rapidgzip.RapidgzipFile, igzip.open

    def spy_rapidgzip(*args, **kwargs):
        file = rapid(*args, **kwargs)
        seen.append(Decoder("rapidgzip", kwargs["parallelization"], file))
        return file

    def spy_isal(*args, **kwargs):
        file = isal_open(*args, **kwargs)
        seen.append(Decoder("isal", 1, file))
        return file

    monkeypatch.setattr(rapidgzip, "RapidgzipFile", spy_rapidgzip)
    monkeypatch.setattr(igzip, "open", spy_isal)
    return seen


@pytest.mark.parametrize("chunks", [4, {"time": 7, "x": 10}, -1])
def test_each_byte_once_with_either_decoder(tmp_path, threads, chunks, monkeypatch):
    path = tmp_path / "bold.nii.gz"
    data = write_series(path)
    decoders = opened_decoders(monkeypatch)
    before = reader.DECOMPRESSED[str(path)]
    got = open_nifti(path, chunks=chunks).values
    np.testing.assert_array_equal(got, data)
    assert reader.DECOMPRESSED[str(path)] - before == 352 + data.nbytes
    kind = "rapidgzip" if threads > 1 else "isal"
    assert [(d.kind, d.threads) for d in decoders] == [(kind, threads)]
    assert decoders[0].file.closed  # closed after the last chunk


def test_decoders_agree_on_other_writers(tmp_path, threads):
    """Files written by gzip at level 9 and as two gzip members (as pigz/bgzip may)."""
    raw = tmp_path / "bold.nii"
    data = write_series(raw, n_time=25)
    payload = raw.read_bytes()
    (tmp_path / "l9.nii.gz").write_bytes(gzip.compress(payload, compresslevel=9))
    half = len(payload) // 2
    (tmp_path / "two.nii.gz").write_bytes(
        gzip.compress(payload[:half]) + gzip.compress(payload[half:])
    )
    for name in ("l9.nii.gz", "two.nii.gz"):
        np.testing.assert_array_equal(open_nifti(tmp_path / name, chunks=6).values, data)


@pytest.mark.parametrize("damage", ["truncated", "flipped byte"])
def test_damaged_file_is_a_bold_error(tmp_path, threads, damage, monkeypatch):
    path = tmp_path / "bold.nii.gz"
    write_series(path, n_time=60)
    blob = bytearray(path.read_bytes())
    if damage == "truncated":
        blob = blob[: len(blob) * 2 // 3]
    else:
        blob[len(blob) // 2] ^= 0xFF
    path.write_bytes(bytes(blob))
    bold = open_nifti(path, chunks=10)  # the header is intact: opening works
    decoders = opened_decoders(monkeypatch)
    with pytest.raises(BoldError, match=rf"could not decompress {path}: .*truncated or damaged"):
        bold.compute()
    assert decoders  # the damage was met while decoding
    assert all(d.file.closed for d in decoders)  # nothing half-read is kept


def test_thread_budget(monkeypatch):
    with dask.config.set({"roixr.gzip-threads": 3}):
        assert reader.gzip_threads() == 3
    with dask.config.set({"roixr.gzip-threads": "many"}):
        with pytest.raises(OptionError, match="'roixr.gzip-threads' must be a whole number"):
            reader.gzip_threads()
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)))
    assert reader.gzip_threads() == 8  # beyond that the reduction bounds the series
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0})
    assert reader.gzip_threads() == 1


def test_files_read_side_by_side_share_the_budget(tmp_path, monkeypatch):
    """Two files read chunk by chunk in turn: the second file's decoder gets half the
    budget while the first one's is open, each chunk reads on from its own file's stream
    (each byte once), and a decoder opened after both have closed gets the whole budget."""
    paths = [tmp_path / f"b{i}.nii.gz" for i in range(2)]
    data = [write_series(p, seed=i) for i, p in enumerate(paths)]
    layouts = [reader.raw_layout(nib.load(p)) for p in paths]
    reader.close_streams()  # streams left open by earlier tests would take their share
    decoders = opened_decoders(monkeypatch)
    before = [reader.DECOMPRESSED[str(p)] for p in paths]
    slabs: list[list[np.ndarray]] = [[], []]
    with dask.config.set({"roixr.gzip-threads": 4}):
        for start, stop in [(0, 10), (10, 25), (25, 40)]:
            for layout, got in zip(layouts, slabs, strict=True):
                got.append(reader.read_gzip_slab(layout, start, stop))
        assert [(d.kind, d.threads) for d in decoders] == [("rapidgzip", 4), ("rapidgzip", 2)]
        assert all(d.file.closed for d in decoders)  # each closed after its last chunk
        for layout, got, expected, n in zip(layouts, slabs, data, before, strict=True):
            np.testing.assert_array_equal(np.concatenate(got, axis=-1), expected)
            assert reader.DECOMPRESSED[layout.path] - n == layout.offset + expected.nbytes
        np.testing.assert_array_equal(reader.read_gzip_slab(layouts[0], 0, 40), data[0])
    assert [(d.kind, d.threads) for d in decoders[2:]] == [("rapidgzip", 4)]


def test_budget_of_a_distributed_worker(client):
    """Inside a worker, the worker's threads (one each here), not the machine's cores."""
    workers = list(client.scheduler_info()["workers"])
    got = [client.submit(reader.gzip_threads, workers=[w], pure=False).result() for w in workers]
    assert got == [1, 1]


CHILD = textwrap.dedent(
    """
    import os, sys
    import dask
    import rapidgzip
    from roixr.timeseries import open_nifti
    opened, rapid = [], rapidgzip.RapidgzipFile
    def spy(*args, **kwargs):  # the decoders opened, seen at rapidgzip's entry point
        opened.append(rapid(*args, **kwargs))
        return opened[-1]
    rapidgzip.RapidgzipFile = spy
    dask.config.set({"roixr.gzip-threads": 2})
    bold = open_nifti(sys.argv[1], chunks=5)
    first = bold[..., :5].values  # reads one chunk: the stream stays open, parked
    assert [f.closed for f in opened] == [False], opened
    if sys.argv[2] == "fork":
        pid = os.fork()
        if pid == 0:  # the child reads the file with its own decoder (dask's thread pool
            dask.config.set(scheduler="sync")  # is the parent's: it has no threads here)
            ok = (open_nifti(sys.argv[1], chunks=5).values[..., :5] == first).all()
            os._exit(0 if ok else 3)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
    print("done")
    """
)


@pytest.mark.parametrize("mode", ["exit", "fork"])
def test_open_stream_at_exit_and_fork(tmp_path, mode):
    """A parked rapidgzip stream is closed at exit (its threads would otherwise abort the
    interpreter), and a forked child never touches its copy of the parent's stream."""
    path = tmp_path / "bold.nii.gz"
    write_series(path)
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), mode],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "done"
    assert "terminate" not in out.stderr and "finalization" not in out.stderr, out.stderr


# --- buffers reused, decoders chosen by compressibility -----------------------------------

# dask's threads, where the spies see the decoders (the module's client, once made, would
# compute on its workers)
LOCAL = {"scheduler": "threads"}


def write_compressible(path, n_time=40, seed=5, dtype=np.float32, slope=None):
    """A series that compresses as scanner data do: zeros around a block of rounded values."""
    rng = np.random.default_rng(seed)
    data = np.zeros((*SHAPE, n_time), dtype)
    data[5:15, 4:12, 2:8] = np.rint(rng.normal(1000, 20, (10, 8, 6, n_time)))
    img = nib.Nifti1Image(data, np.diag([2.0, 2.0, 2.5, 1.0]))
    if slope is not None:
        img.header.set_slope_inter(*slope)
    nib.save(img, path)
    return np.asarray(nib.load(path).get_fdata(), np.float32)


@pytest.fixture(scope="module")
def two_series(tmp_path_factory):
    """A barely compressible (random) and a compressible series, both gzipped."""
    folder = tmp_path_factory.mktemp("series")
    random_, compressible = folder / "random.nii.gz", folder / "compressible.nii.gz"
    return {"random": (random_, write_series(random_)),
            "compressible": (compressible, write_compressible(compressible))}  # fmt: skip


def test_decoder_by_compressibility(two_series, monkeypatch):
    """With two threads allowed, rapidgzip reads a barely compressible file and one isal
    thread a compressible one (rapidgzip's memory grows with the compression ratio)."""
    decoders = opened_decoders(monkeypatch)
    ratios = {}
    with dask.config.set(LOCAL, **{"roixr.gzip-threads": 2}):
        for kind, (path, data) in two_series.items():
            ratios[kind] = reader.compression_ratio(reader.raw_layout(nib.load(path)))
            np.testing.assert_array_equal(open_nifti(path, chunks=7).values, data)
    assert ratios["random"] < reader.PARALLEL_MAX_RATIO < ratios["compressible"], ratios
    assert [(d.kind, d.threads) for d in decoders] == [("rapidgzip", 2), ("isal", 1)]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(time_chunks=chunk_sizes(40), threads=st.sampled_from([1, 2]),
       kind=st.sampled_from(["random", "compressible"]))  # fmt: skip
def test_any_chunking_reads_the_same_bytes(two_series, time_chunks, threads, kind):
    """Any time chunks, either decoder, either kind of data: the values nibabel reads, each
    byte decompressed once (slabs from reused buffers)."""
    path, data = two_series[kind]
    before = reader.DECOMPRESSED[str(path)]
    with dask.config.set(LOCAL, **{"roixr.gzip-threads": threads}):
        got = open_nifti(path, chunks={"time": time_chunks}).values
    np.testing.assert_array_equal(got, data)
    assert reader.DECOMPRESSED[str(path)] - before == 352 + data.nbytes


class Pools:
    """The slab pools the reader makes during a test."""

    def __init__(self, monkeypatch) -> None:
        self.made: list[reader._SlabPool] = []
        made, base = self.made, reader._SlabPool

        class Spy(base):  # type: ignore[misc,valid-type]
            def __init__(self, *args, **kwargs) -> None:
                super().__init__(*args, **kwargs)
                made.append(self)

        monkeypatch.setattr(reader, "_SlabPool", Spy)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("scaled", [False, True])
def test_a_pass_allocates_its_buffers_once(tmp_path, threads, scaled, monkeypatch):
    """Chunks read and dropped one after the other reuse their stream's buffers: a pass over
    ten chunks allocates two slabs (the one the caller still holds while the next is read),
    plus the raw buffer of scaled int16 data; the values stay nibabel's."""
    path = tmp_path / "bold.nii.gz"
    dtype = np.int16 if scaled else np.float32
    data = write_compressible(path, dtype=dtype, slope=(0.5, 3.0) if scaled else None)
    layout = reader.raw_layout(nib.load(path))
    pools = Pools(monkeypatch)
    slab = None
    with dask.config.set(LOCAL, **{"roixr.gzip-threads": threads}):
        for start in range(0, 40, 4):
            slab = reader.read_gzip_slab(layout, start, start + 4)
            np.testing.assert_array_equal(slab, data[..., start : start + 4])
    assert len(pools.made) == 1
    assert pools.made[0].allocated == 2 + scaled


def test_kept_slabs_are_never_overwritten(two_series, monkeypatch):
    """Slabs a caller keeps (and views of them) hold their buffers: later chunks get other
    ones, and every kept slab still holds its own values at the end."""
    path, data = two_series["random"]
    layout = reader.raw_layout(nib.load(path))
    pools = Pools(monkeypatch)  # (read in this thread: no scheduler)
    kept = [reader.read_gzip_slab(layout, 0, 5)[1:]]  # a view of the first slab
    kept += [reader.read_gzip_slab(layout, s, s + 5) for s in range(5, 40, 5)]
    np.testing.assert_array_equal(kept[0], data[1:, ..., :5])
    for k, slab in enumerate(kept[1:], start=1):
        np.testing.assert_array_equal(slab, data[..., 5 * k : 5 * k + 5])
    assert pools.made[0].allocated == 8
    assert len({id(b) for b in pools.made[0].buffers}) == len(pools.made[0].buffers) <= 4


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("where", ["at a chunk boundary", "inside a chunk", "in the header"])
@pytest.mark.parametrize("kind", ["random", "compressible"])
def test_gzip_member_boundaries(tmp_path, two_series, threads, where, kind):
    """A file written as two gzip members (as pigz or bgzip may) reads the same wherever the
    second member starts."""
    source, data = two_series[kind]
    payload = gzip.decompress(source.read_bytes())
    plane = int(np.prod(SHAPE)) * 4
    cut = {"at a chunk boundary": 352 + 6 * plane, "inside a chunk": 352 + 6 * plane + 4097,
           "in the header": 100}[where]  # fmt: skip
    path = tmp_path / "two.nii.gz"
    path.write_bytes(gzip.compress(payload[:cut], 1) + gzip.compress(payload[cut:], 6))
    with dask.config.set(LOCAL, **{"roixr.gzip-threads": threads}):
        np.testing.assert_array_equal(open_nifti(path, chunks=6).values, data)


@pytest.mark.parametrize("threads", [1, 2])
def test_truncated_compressible_file_is_a_bold_error(tmp_path, threads, monkeypatch):
    """Cut short, a compressible file (read by isal in pieces) fails with the file named,
    and its decoder is closed."""
    path = tmp_path / "bold.nii.gz"
    write_compressible(path)
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) * 2 // 3])
    bold = open_nifti(path, chunks=10)
    decoders = opened_decoders(monkeypatch)
    with dask.config.set(LOCAL, **{"roixr.gzip-threads": threads}):
        with pytest.raises(BoldError, match=rf"could not decompress {path}: .*truncated"):
            bold.compute()
    assert [d.kind for d in decoders] == ["isal"] and decoders[0].file.closed
