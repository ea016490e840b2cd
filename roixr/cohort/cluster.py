"""The cluster a cohort computes on: the client given, or a local one started and closed."""

from __future__ import annotations

import contextlib
import itertools
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from roixr.errors import CohortError

__all__ = ["Progress", "bounded", "check_main_guard", "cluster_client"]


def check_main_guard(func: str) -> None:
    """Refuse a main script without an ``if __name__ == "__main__":`` guard.

    Worker processes started with spawn re-import the main script, which would call ``func``
    (and start clusters) again, recursively. Nothing to check under fork, or interactively.
    """
    import ast
    import multiprocessing

    import __main__

    file = getattr(__main__, "__file__", None)
    if file is None or multiprocessing.get_start_method(allow_none=True) == "fork":
        return
    try:
        tree = ast.parse(Path(file).read_text())
    except (OSError, SyntaxError, ValueError):
        return
    if any(isinstance(n, ast.If) and "__name__" in ast.unparse(n.test) for n in ast.walk(tree)):
        return
    raise CohortError(
        f"{func} starts a local cluster of worker processes, and each of them imports your "
        f"script {file} again, which would start {func} again.",
        fix="Put the call under 'if __name__ == \"__main__\":', or pass client= a "
        "distributed.Client you made.",
    )


@contextlib.contextmanager
def cluster_client(client: Any, func: str) -> Iterator[Any]:
    """``client``, or a ``LocalCluster`` of two single-threaded worker processes (started,
    then closed) and its client; ``func`` names the caller for :func:`check_main_guard`."""
    if client is not None:
        yield client
        return
    check_main_guard(func)
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=":0") as cluster, Client(cluster) as own:  # fmt: skip
        yield own


class Progress:
    """A one-line progress bar on stderr (``progress=True``): redrawn in place on a
    terminal, a line at each tenth of the work otherwise (a log file gets no ``\\r``)."""

    def __init__(self, label: str, total: int, show: bool) -> None:
        self.label, self.total, self.show = label, total, show and total > 0
        self.done = self.failed = 0
        self.last = 0.0
        self.tty = sys.stderr.isatty()

    def step(self, failed: bool) -> None:
        """Count one unit of work done (``failed``: it failed)."""
        self.done += 1
        self.failed += failed
        if not self.show:
            return
        now = time.monotonic()
        last = self.done == self.total
        if self.tty:
            due = now - self.last > 0.2 or last
        else:
            due = last or self.done % max(1, self.total // 10) == 0
        if due:
            self.last = now
            bar = "#" * (30 * self.done // self.total)
            fails = f", {self.failed} failed" if self.failed else ""
            line = f"{self.label} [{bar:<30}] {self.done}/{self.total}{fails}"
            sys.stderr.write(f"\r{line}" + ("\n" if last else "") if self.tty else f"{line}\n")
            sys.stderr.flush()


def bounded(client: Any, calls: Iterable[tuple[Any, Callable[..., Any], tuple]], prefix: str,
            ) -> Iterator[tuple[Any, Any]]:  # fmt: skip
    """Submit ``(tag, function, args)`` calls with a bounded number in flight; yield each
    ``(tag, future)`` as it completes.

    At most four tasks a worker thread (eight at least) are on the cluster at once, and a
    future is released once yielded, so the client's and the scheduler's memory do not grow
    with the number of calls, and a result lost with a retired worker is never recomputed
    behind the caller's back. Interrupted, the tasks still in flight are cancelled.
    """
    from distributed import as_completed

    limit = max(8, 4 * sum(client.nthreads().values()))
    tags: dict[str, Any] = {}
    flying: dict[str, Any] = {}

    def submit(call: tuple[Any, Callable[..., Any], tuple]) -> Any:
        tag, fn, args = call
        future = client.submit(fn, *args, key=f"{prefix}-{uuid.uuid4().hex}", pure=False)
        tags[future.key], flying[future.key] = tag, future
        return future

    pending = iter(calls)
    done = as_completed([submit(c) for c in itertools.islice(pending, limit)])
    try:
        for future in done:
            flying.pop(future.key)
            yield tags.pop(future.key), future
            nxt = next(pending, None)
            if nxt is not None:
                done.add(submit(nxt))
    finally:  # interrupted: no task of ours keeps writing behind a later call's back
        if flying:
            client.cancel(list(flying.values()))
