"""Register the ``.roi`` accessor when xarray is imported, without importing xarray.

``import roixr`` does not import xarray and dask (about 0.7 s with pandas): the drop-in
``get_roi_masks`` returns numpy arrays and needs neither. Yet ``masks.roi`` must be the
accessor on every DataArray, also on one opened with xarray directly after ``import roixr``
(``xr.open_zarr``); without it, xarray's attribute access would quietly hand back the
``roi`` coordinate. So :func:`install` registers the accessor at once if xarray is already
imported, and otherwise right after xarray's own import finishes, by wrapping the loader
xarray's spec would use (every other attribute of the loader is passed through).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
from typing import Any

__all__ = ["install"]


class _RegisterAfter(importlib.abc.Loader):
    """xarray's own loader, registering the accessor once xarray's module has run."""

    def __init__(self, loader: Any) -> None:
        self._loader = loader

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        self._loader.exec_module(module)
        importlib.import_module("roixr.accessor")


class _XarrayWatcher(importlib.abc.MetaPathFinder):
    """A one-shot finder: on ``import xarray``, hands back xarray's spec with its loader
    wrapped, and removes itself."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname != "xarray":
            return None
        _uninstall()
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None:
            spec.loader = _RegisterAfter(spec.loader)
        return spec


def _uninstall() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _XarrayWatcher)]


def install() -> None:
    """Register the accessor now (xarray imported) or when xarray gets imported."""
    if "xarray" in sys.modules:
        importlib.import_module("roixr.accessor")
    elif not any(isinstance(f, _XarrayWatcher) for f in sys.meta_path):
        sys.meta_path.insert(0, _XarrayWatcher())
