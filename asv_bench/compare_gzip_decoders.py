"""gzip decoders on a bold series, side by side: what ``roixr.timeseries.reader`` chooses from.

    python asv_bench/compare_gzip_decoders.py [--file BOLD.nii.gz] [--volumes 400]
                                              [--repeat 3] [--threads 2] [--malloc-trim]

Each measurement is a fresh Python process that inflates the whole file into one reused
8 MiB buffer (as the reader fills time chunks) and reports wall time, CPU time (user + system,
all threads), page faults and the peak resident memory it added (``VmHWM`` less the
resident memory before the file was opened). Decoders: CPython's ``gzip`` (zlib),
python-isal's ``igzip`` (one ``readinto`` per 8 MiB, and in 64 KiB reads as roixr's reader
calls it: isal decodes each call into a new object of the size asked), rapidgzip with 1
thread and with ``--threads`` threads (opened as roixr's reader opens it), and, when
installed, zlib-ng and indexed_gzip (nibabel's reader when present). With
``--malloc-trim`` every process has ``MALLOC_TRIM_THRESHOLD_=65536`` in its environment, as
a ``dask.distributed`` worker has. Runs are interleaved; prints medians as a markdown table.
Without ``--file`` the input is the series of ``compare_timeseries.py`` (random float32 on
S1's ``fullhead`` grid, gzip level 1).
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = """
import json, resource, sys, time
name, path, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
def status(key):
    with open("/proc/self/status") as s:
        return next(int(l.split()[1]) for l in s if l.startswith(key)) / 1024
if threads > 1:
    from roixr.timeseries.reader import _open_decoder  # imported before the baseline
base = status("VmRSS")
if name == "zlib":
    import gzip; f = gzip.open(path, "rb")
elif name in ("isal", "isal-pieces"):
    from isal import igzip; f = igzip.open(path, "rb")
elif name == "zlib-ng":
    from zlib_ng import gzip_ng; f = gzip_ng.open(path, "rb")
elif name == "indexed_gzip":
    import indexed_gzip; f = indexed_gzip.IndexedGzipFile(path)
elif threads == 1:  # rapidgzip's defaults (roixr uses isal with one thread)
    import rapidgzip; f = rapidgzip.RapidgzipFile(path, parallelization=1)
else:  # as roixr's reader opens it (its work-unit size)
    f = _open_decoder(path, threads)
buffer = memoryview(bytearray(8 << 20))
r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
total = 0
piece = 64 << 10 if name == "isal-pieces" else len(buffer)
while n := f.readinto(buffer[total % len(buffer) :][:piece]):
    total += n
wall = time.perf_counter() - t0
r1 = resource.getrusage(resource.RUSAGE_SELF)
f.close()
peak = status("VmHWM") - base
cpu = r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime
faults = r1.ru_minflt - r0.ru_minflt
print(json.dumps({"wall": wall, "cpu": cpu, "peak_mb": peak, "bytes": total, "faults": faults}))
"""


def decoders(threads: int) -> list[tuple[str, str, int]]:
    """(label, decoder, threads) of the decoders installed here."""
    out = [("zlib (CPython gzip)", "zlib", 1), ("python-isal", "isal", 1),
           ("rapidgzip, 1 thread", "rapidgzip", 1)]  # fmt: skip
    if threads > 1:
        out.append((f"rapidgzip, {threads} threads", "rapidgzip", threads))
    out.append(("python-isal, 64 KiB reads (roixr)", "isal-pieces", 1))
    for label, module in (("zlib-ng", "zlib_ng"), ("indexed_gzip", "indexed_gzip")):
        if importlib.util.find_spec(module) is not None:
            out.append((label, label, 1))
    return out


def series_file(folder: Path, n_volumes: int) -> Path:
    sys.path.insert(0, str(Path(__file__).parent))
    from compare_timeseries import write_inputs

    write_inputs(folder, n_volumes)
    return folder / "bold.nii.gz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, default=None)
    parser.add_argument("--volumes", type=int, default=400)
    parser.add_argument("--repeat", type=int, default=3)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    parser.add_argument("--threads", type=int, default=cores or 1)
    parser.add_argument("--malloc-trim", action="store_true",
                        help="MALLOC_TRIM_THRESHOLD_=65536, as in a dask worker")  # fmt: skip
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_TRIM_THRESHOLD_"}
    if args.malloc_trim:
        env["MALLOC_TRIM_THRESHOLD_"] = "65536"
    tmp = None
    if args.file is None:
        tmp = Path(tempfile.mkdtemp())
        args.file = series_file(tmp, args.volumes)
    try:
        with gzip.open(args.file, "rb") as f:
            size = sum(len(b) for b in iter(lambda: f.read(1 << 24), b""))
        runs: dict[str, list[dict]] = {}
        cases = decoders(args.threads)
        for i in range(args.repeat):
            for label, name, threads in cases if i % 2 == 0 else cases[::-1]:
                command = [sys.executable, "-c", CHILD, name, str(args.file), str(threads)]
                out = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
                result = json.loads(out.stdout)
                assert result["bytes"] == size, (label, result["bytes"], size)
                runs.setdefault(label, []).append(result)
        packed = args.file.stat().st_size / 1e6
        print(f"\n{args.file.name}: {packed:.0f} MB of gzip, {size / 1e6:.0f} MB inflated; "
              f"medians of {args.repeat} fresh processes\n")  # fmt: skip
        print(
            f"load average {', '.join(f'{v:.2f}' for v in os.getloadavg())}; "
            f"MALLOC_TRIM_THRESHOLD_ {env.get('MALLOC_TRIM_THRESHOLD_', 'unset')}\n"
        )
        print("| decoder | wall | CPU | MB/s (wall) | page faults | memory |")
        print("|---|---|---|---|---|---|")
        for label, rs in runs.items():
            wall = statistics.median(r["wall"] for r in rs)
            cpu = statistics.median(r["cpu"] for r in rs)
            peak = statistics.median(r["peak_mb"] for r in rs)
            faults = statistics.median(r["faults"] for r in rs)
            print(f"| {label} | {wall:.2f} s | {cpu:.2f} s | {size / 1e6 / wall:.0f} | "
                  f"{faults:.0f} | {peak:.0f} MB |")  # fmt: skip
        print(
            "\nall runs (wall, s):", {k: [round(r["wall"], 2) for r in v] for k, v in runs.items()}
        )
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
