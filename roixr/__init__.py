"""roixr: cortical-surface ROIs as lazy, labeled xarray masks in functional voxel space.

Public names are imported on first use (as SPEC 1 recommends; ``__init__.pyi`` lists them
for type checkers and editors): ``import roixr`` stays cheap, and the drop-in
:func:`get_roi_masks`, which returns numpy arrays, never imports xarray, dask or zarr. The
``.roixr`` accessor is registered here when xarray is already imported, and otherwise by
the first use of roixr's xarray layer, all of which builds on :mod:`roixr.forms` (see
:mod:`roixr.accessor`).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys

from roixr import errors
from roixr._version import __version__

_LAZY = {
    "Registration": "roixr.io.registration",
    "RoiSource": "roixr.rois",
    "RoiTable": "roixr.rois",
    "Sampler": "roixr.sampling",
    "Subject": "roixr.io",
    "Transform": "roixr.io",
    "cohort_masks": "roixr.cohort",
    "cohort_timeseries": "roixr.cohort",
    "extract_cohort": "roixr.cohort",
    "find_runs": "roixr.cohort",
    "from_dict": "roixr.convert",
    "from_index_volume": "roixr.convert",
    "from_nifti": "roixr.nifti",
    "get_roi_masks": "roixr.pycortex",
    "get_sampler": "roixr.sampling",
    "open_cohort": "roixr.cohort",
    "open_nifti": "roixr.timeseries",
    "open_roi_masks": "roixr.store",
    "open_timeseries": "roixr.cohort",
    "plot_masks": "roixr.plot",
    "plot_timeseries": "roixr.plot",
    "register_sampler": "roixr.sampling",
    "report_store": "roixr.report",
    "roi_masks": "roixr.masks",
    "roi_timeseries": "roixr.timeseries",
    "roi_verts": "roixr.rois",
    "samplers": "roixr.sampling",
    "to_dict": "roixr.convert",
    "to_index_volume": "roixr.convert",
    "to_nifti": "roixr.nifti",
    "to_zarr": "roixr.store",
    "write_cohort": "roixr.cohort",
}

if "xarray" in sys.modules:  # the accessor costs nothing more then
    importlib.import_module("roixr.forms")


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
    "Registration",
    "RoiSource",
    "RoiTable",
    "Sampler",
    "Subject",
    "Transform",
    "__version__",
    "cohort_masks",
    "cohort_timeseries",
    "datasets",
    "errors",
    "extract_cohort",
    "find_runs",
    "from_dict",
    "from_index_volume",
    "from_nifti",
    "get_roi_masks",
    "get_sampler",
    "open_cohort",
    "open_nifti",
    "open_roi_masks",
    "open_timeseries",
    "plot_masks",
    "plot_timeseries",
    "register_sampler",
    "report_store",
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
