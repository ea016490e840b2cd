"""ROI masks on S1 (``fullhead``, all ROIs): build (lazy) and compute, per sampler."""

from __future__ import annotations

import warnings

import dask

import roixr
from roixr.datasets import pycortex_sample_subject

SAMPLERS = [
    "cortical",
    "thick",
    "thin",
    2.0,
    "cortical-conservative",
    "cortical-liberal",
    "ribbon",
]


class MasksS1:
    params = [SAMPLERS]
    param_names = ["sampler"]
    timeout = 300

    def setup(self, sampler):
        warnings.simplefilter("ignore")
        self.subject = roixr.Subject(pycortex_sample_subject())
        roixr.roi_verts(self.subject)  # read the files once

    def time_build(self, sampler):
        """Building the lazy DataArray (no voxel data computed)."""
        roixr.roi_masks(self.subject, "fullhead", sampler=sampler)

    def time_compute(self, sampler):
        """Building and computing every chunk (threads)."""
        with dask.config.set(scheduler="threads"):
            roixr.roi_masks(self.subject, "fullhead", sampler=sampler).compute()

    def peakmem_compute(self, sampler):
        with dask.config.set(scheduler="threads"):
            roixr.roi_masks(self.subject, "fullhead", sampler=sampler).compute()


class GetRoiMasksCold:
    """The drop-in ``get_roi_masks`` on a fresh Subject (files read inside the timing)."""

    params = [SAMPLERS]
    param_names = ["sampler"]
    timeout = 300

    def setup(self, sampler):
        warnings.simplefilter("ignore")
        self.path = pycortex_sample_subject()

    def time_get_roi_masks(self, sampler):
        roixr.get_roi_masks(self.path, "fullhead", gm_sampler=sampler)


class GetRoiMasksProcess:
    """A whole Python process: start, ``import roixr``, the drop-in ``get_roi_masks``."""

    params = [SAMPLERS]
    param_names = ["sampler"]
    timeout = 300

    def timeraw_process(self, sampler):
        path = str(pycortex_sample_subject())
        return (
            "import warnings; warnings.simplefilter('ignore')\n"
            "import roixr\n"
            f"roixr.get_roi_masks({path!r}, 'fullhead', gm_sampler={sampler!r})\n"
        )
