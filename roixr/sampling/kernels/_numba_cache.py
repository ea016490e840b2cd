"""Where numba keeps the ribbon kernel's machine code, and one compilation at a time.

numba caches compiled code next to the source (``__pycache__``) when it can write there, else
in the user's cache folder (``~/.cache/numba``); ``$NUMBA_CACHE_DIR`` overrides both. A
read-only install run by a user whose home is read-only too (a container, a cluster job) has
none of them, and numba then refuses to define a cached function at all: importing the kernel
would fail. :func:`load_kernels` makes sure there is a place (a per-user folder in the
temporary directory as the last resort), and holds a file lock in that place while the kernel
module is first imported, so that worker processes starting together on an empty cache compile
the kernel once (the first; the others wait, then load it from disk) instead of each compiling
it at the same time on the same cores.
"""

from __future__ import annotations

import importlib
import os
import sys
import tempfile
import threading
from types import ModuleType

from roixr.errors import RoixrError

__all__ = ["cache_dir", "load_kernels"]

KERNELS = "roixr.sampling.kernels._ribbon_numba"
_THREADS = threading.Lock()


def _kernel_file() -> str:
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), "_ribbon_numba.py")


def cache_dir() -> str:
    """The folder numba will cache the ribbon kernel in, made usable first.

    numba's own choice (``$NUMBA_CACHE_DIR``, the source's ``__pycache__``, the user's cache
    folder, in its order) when one of them is writable; else ``roixr-numba-<user>`` in the
    temporary directory, which numba is then told to use (``numba.config.CACHE_DIR``: only
    when numba had nowhere to cache at all).
    """
    from numba.core import caching, config

    py_file = _kernel_file()
    for locator in (
        caching.UserProvidedCacheLocator,
        caching.InTreeCacheLocator,
        caching.UserWideCacheLocator,
    ):
        found = locator.from_function(cache_dir, py_file)  # checks that it can write there
        if found is not None:
            return str(found.get_cache_path())
    user = str(os.getuid()) if hasattr(os, "getuid") else os.environ.get("USERNAME", "user")
    fallback = os.path.join(tempfile.gettempdir(), f"roixr-numba-{user}")
    config.CACHE_DIR = fallback  # type: ignore[attr-defined]  # (set from the environment)
    found = caching.UserProvidedCacheLocator.from_function(cache_dir, py_file)
    if found is None:
        raise RoixrError(
            "numba has no writable folder to cache the ribbon kernel in (not the install's "
            f"__pycache__, not the user's cache folder, not {fallback})",
            fix="set NUMBA_CACHE_DIR to a writable folder",
        )
    return str(found.get_cache_path())


def _acquire(folder: str) -> int | None:
    """An exclusive lock on ``folder/roixr-ribbon.lock``: its descriptor (closing it releases
    the lock), or None where the lock cannot be had (no fcntl on Windows, some network file
    systems): compilations there may then run at once, which stays safe (numba writes each
    cache file to a temporary name and renames it), only repeated."""
    try:
        import fcntl
    except ImportError:
        return None
    try:
        fd = os.open(os.path.join(folder, "roixr-ribbon.lock"), os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except OSError:
        os.close(fd)
        return None
    return fd


def load_kernels() -> ModuleType:
    """The compiled ribbon kernels (:mod:`roixr.sampling.kernels._ribbon_numba`).

    Imported once per process: compiled by the first process on a machine (or after an
    update), loaded from numba's on-disk cache by every later one.
    """
    module = sys.modules.get(KERNELS)
    if module is not None:
        return module
    # one thread at a time (chunks run in threads): numba's first import from two threads at
    # once can see its own modules half initialised
    with _THREADS:
        module = sys.modules.get(KERNELS)
        if module is not None:
            return module
        fd = _acquire(cache_dir())
        try:
            return importlib.import_module(KERNELS)
        finally:
            if fd is not None:
                os.close(fd)
