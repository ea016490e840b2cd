"""ROI time series from xarray fMRI data.

- :mod:`~roixr.timeseries.bold`: :func:`open_nifti`, a lazy ``(x, y, z, time)`` series;
- :mod:`~roixr.timeseries.reader`: NIfTI data chunk by chunk (plain files mapped, gzipped
  files decompressed once, in order);
- :mod:`~roixr.timeseries.api`: :func:`roi_timeseries` and the grid check;
- :mod:`~roixr.timeseries.reduction`: the numpy kernels (sparse weights, statistics).
"""

from roixr.timeseries.api import BoldLike, Hemisphere, MasksLike, check_grid, roi_timeseries
from roixr.timeseries.bold import open_nifti

__all__ = ["BoldLike", "Hemisphere", "MasksLike", "check_grid", "open_nifti", "roi_timeseries"]
