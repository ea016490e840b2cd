"""Cohorts: many subjects' masks as one ``xarray.DataTree``, computed on a dask cluster.

``subjects`` is a mapping ``{name: (subject, xfm)}``. Each subject keeps its own functional
grid, so each is a node of the tree (a group of the store) rather than a slice of one array.

- :mod:`~roixr.cohort.options`: the subjects and options, checked; what a store records;
- :mod:`~roixr.cohort.build`: :func:`cohort_masks`, lazily;
- :mod:`~roixr.cohort.write`: :func:`write_cohort` on a cluster, with each subject's status;
- :mod:`~roixr.cohort.status`: :func:`cohort_status`, :func:`drop_subjects`;
- :mod:`~roixr.cohort.open`: :func:`open_cohort`;
- :mod:`~roixr.cohort.upgrade`: :func:`upgrade_cohort`, a store of roixr 0.1 copied into the
  current layout;
- :mod:`~roixr.cohort.timeseries`: :func:`cohort_timeseries`;
- :mod:`~roixr.cohort.extract`: :func:`extract_cohort`, the ROI time series of a runs
  table (:func:`roixr.find_runs`) on a cluster, into one time-series store;
- :mod:`~roixr.cohort.series_store`: that store: :func:`open_timeseries`,
  :func:`timeseries_status`.
"""

from roixr.cohort.build import cohort_masks
from roixr.cohort.extract import extract_cohort
from roixr.cohort.open import open_cohort
from roixr.cohort.options import cohort_options
from roixr.cohort.runs import find_runs
from roixr.cohort.series_store import open_timeseries, timeseries_status
from roixr.cohort.status import cohort_status, drop_subjects, unfinished
from roixr.cohort.timeseries import cohort_timeseries
from roixr.cohort.upgrade import upgrade_cohort
from roixr.cohort.write import write_cohort

__all__ = [
    "cohort_masks",
    "cohort_options",
    "cohort_status",
    "cohort_timeseries",
    "drop_subjects",
    "extract_cohort",
    "find_runs",
    "open_cohort",
    "open_timeseries",
    "timeseries_status",
    "unfinished",
    "upgrade_cohort",
    "write_cohort",
]
