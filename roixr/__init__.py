"""roixr: cortical-surface ROIs as lazy, labeled xarray masks in functional voxel space.

Public names are imported on first use (as SPEC 1 recommends): ``import roixr`` stays cheap,
and the drop-in :func:`get_roi_masks`, which returns numpy arrays, never imports xarray,
dask or zarr. The ``.roi`` accessor is registered whenever xarray is imported (see
:mod:`roixr._accessor_hook`).
"""

from __future__ import annotations

import importlib
import importlib.util

from roixr import _accessor_hook, errors
from roixr._version import __version__

_LAZY = {
    "Subject": "roixr.io",
    "Transform": "roixr.io",
    "cohort_masks": "roixr.cohort",
    "cohort_timeseries": "roixr.timeseries",
    "from_dict": "roixr.forms",
    "from_index_volume": "roixr.forms",
    "get_roi_masks": "roixr.compat",
    "open_cohort": "roixr.cohort",
    "open_nifti": "roixr.timeseries",
    "open_roi_masks": "roixr.store",
    "read_nifti": "roixr.nifti",
    "roi_masks": "roixr.masks",
    "roi_timeseries": "roixr.timeseries",
    "roi_verts": "roixr.surface",
    "to_dict": "roixr.forms",
    "to_index_volume": "roixr.forms",
    "to_nifti": "roixr.nifti",
    "to_zarr": "roixr.store",
    "write_cohort": "roixr.cohort",
}
_accessor_hook.install()


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    elif not name.startswith("_") and importlib.util.find_spec(f"roixr.{name}") is not None:
        value = importlib.import_module(f"roixr.{name}")  # roixr.masks, roixr.datasets, ...
    else:
        raise AttributeError(f"module 'roixr' has no attribute {name!r}")
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "Subject",
    "Transform",
    "__version__",
    "cohort_masks",
    "cohort_timeseries",
    "datasets",
    "errors",
    "from_dict",
    "from_index_volume",
    "get_roi_masks",
    "open_cohort",
    "open_nifti",
    "open_roi_masks",
    "read_nifti",
    "roi_masks",
    "roi_timeseries",
    "roi_verts",
    "samplers",
    "to_dict",
    "to_index_volume",
    "to_nifti",
    "to_zarr",
    "write_cohort",
]
