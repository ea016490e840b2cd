"""The cluster a cohort computes on: the client given, or a local one started and closed."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from roixr.errors import CohortError

__all__ = ["check_main_guard", "cluster_client"]


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
