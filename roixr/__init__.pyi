# Type stub for roixr's lazily imported public names (SPEC 1): keep in step with __init__.py.
from roixr import datasets as datasets
from roixr import errors as errors
from roixr._version import __version__ as __version__
from roixr.cohort import cohort_masks as cohort_masks
from roixr.cohort import cohort_timeseries as cohort_timeseries
from roixr.cohort import extract_cohort as extract_cohort
from roixr.cohort import find_runs as find_runs
from roixr.cohort import open_cohort as open_cohort
from roixr.cohort import open_timeseries as open_timeseries
from roixr.cohort import write_cohort as write_cohort
from roixr.convert import from_dict as from_dict
from roixr.convert import from_index_volume as from_index_volume
from roixr.convert import to_dict as to_dict
from roixr.convert import to_index_volume as to_index_volume
from roixr.io import Subject as Subject
from roixr.io import Transform as Transform
from roixr.io.registration import Registration as Registration
from roixr.masks import roi_masks as roi_masks
from roixr.nifti import from_nifti as from_nifti
from roixr.nifti import to_nifti as to_nifti
from roixr.plot import plot_masks as plot_masks
from roixr.plot import plot_timeseries as plot_timeseries
from roixr.pycortex import get_roi_masks as get_roi_masks
from roixr.report import report_store as report_store
from roixr.rois import RoiSource as RoiSource
from roixr.rois import RoiTable as RoiTable
from roixr.rois import roi_verts as roi_verts
from roixr.sampling import Sampler as Sampler
from roixr.sampling import get_sampler as get_sampler
from roixr.sampling import register_sampler as register_sampler
from roixr.sampling import samplers as samplers
from roixr.store import open_roi_masks as open_roi_masks
from roixr.store import to_zarr as to_zarr
from roixr.timeseries import open_nifti as open_nifti
from roixr.timeseries import roi_timeseries as roi_timeseries

__all__: list[str]
