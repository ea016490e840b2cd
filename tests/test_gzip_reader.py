"""The gzip reader of time series: both decoders (rapidgzip with several threads, python-isal
with one), each byte once, damaged files, the thread budget, forks and exits with a stream
left open."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import textwrap

import dask
import nibabel as nib
import numpy as np
import pytest

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


def opened_streams(monkeypatch) -> list:
    """Every stream the reader opens during a test."""
    seen: list = []
    original = reader._Stream.__init__

    def spy(self, layout):
        original(self, layout)
        seen.append(self)

    monkeypatch.setattr(reader._Stream, "__init__", spy)
    return seen


@pytest.mark.parametrize("chunks", [4, {"time": 7, "x": 10}, -1])
def test_each_byte_once_with_either_decoder(tmp_path, threads, chunks, monkeypatch):
    path = tmp_path / "bold.nii.gz"
    data = write_series(path)
    streams = opened_streams(monkeypatch)
    before = reader.DECOMPRESSED[str(path)]
    got = open_nifti(path, chunks=chunks).values
    np.testing.assert_array_equal(got, data)
    assert reader.DECOMPRESSED[str(path)] - before == 352 + data.nbytes
    assert [s.threads for s in streams] == [threads]
    kind = type(streams[0].file).__module__
    assert ("rapidgzip" in kind) == (threads > 1), kind


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
def test_damaged_file_is_a_bold_error(tmp_path, threads, damage):
    path = tmp_path / "bold.nii.gz"
    write_series(path, n_time=60)
    blob = bytearray(path.read_bytes())
    if damage == "truncated":
        blob = blob[: len(blob) * 2 // 3]
    else:
        blob[len(blob) // 2] ^= 0xFF
    path.write_bytes(bytes(blob))
    bold = open_nifti(path, chunks=10)  # the header is intact: opening works
    with pytest.raises(BoldError, match=rf"could not decompress {path}: .*truncated or damaged"):
        bold.compute()
    assert not reader._STREAMS  # nothing half-read is kept


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


def test_files_read_side_by_side_share_the_budget(tmp_path):
    paths = [tmp_path / f"b{i}.nii.gz" for i in range(2)]
    for i, p in enumerate(paths):
        write_series(p, seed=i)
    layouts = [reader.raw_layout(nib.load(p)) for p in paths]
    with dask.config.set({"roixr.gzip-threads": 4}):
        first = reader._take_stream(layouts[0], 0)
        second = reader._take_stream(layouts[1], 0)
        try:
            assert (first.threads, second.threads) == (4, 2)
        finally:
            first.close()
            second.close()
        third = reader._take_stream(layouts[0], 0)
        third.close()
        assert third.threads == 4


def test_budget_of_a_distributed_worker(client):
    """Inside a worker, the worker's threads (one each here), not the machine's cores."""
    workers = list(client.scheduler_info()["workers"])
    got = [client.submit(reader.gzip_threads, workers=[w], pure=False).result() for w in workers]
    assert got == [1, 1]


CHILD = textwrap.dedent(
    """
    import os, sys
    import dask
    from roixr.timeseries import open_nifti, reader
    dask.config.set({"roixr.gzip-threads": 2})
    bold = open_nifti(sys.argv[1], chunks=5)
    first = bold[..., :5].values  # reads one chunk: the stream stays open, parked
    assert len(reader._STREAMS) == 1, reader._STREAMS
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
