"""The ``ribbon`` sampler on the analytic phantom: time and accuracy (asv ``track_``).

Workbench runs side by side in ``asv_bench/compare_ribbon.py`` (it is not a Python call).
"""

from __future__ import annotations

import tempfile

import numpy as np

import roixr
from roixr.datasets import phantom as ph


class RibbonPhantom:
    params = [["2x2x3", "2mm_oblique"]]
    param_names = ["grid"]
    timeout = 300

    def setup(self, grid):
        self.subject = ph.phantom_subject(tempfile.mkdtemp(prefix="roixr-phantom-"), level=6)
        self.source = ph.phantom_source(6)
        affine, shape = ph.phantom_grids()[grid]
        self.truth = ph.phantom_truth(affine, shape, rois=False)["ribbon"]

    def _ribbon(self, grid) -> np.ndarray:
        masks = roixr.roi_masks(self.subject, grid, ["Cortex"], "ribbon", source=self.source)
        return masks.sum(["roi", "hemisphere"]).values.astype(float)

    def time_cortex_ribbon(self, grid):
        self._ribbon(grid)

    def track_rms_error(self, grid):
        """RMS error per voxel against the exact truth, over voxels either side calls ribbon."""
        got = self._ribbon(grid)
        band = (got != 0) | (self.truth != 0)
        return float(np.sqrt(np.mean((got - self.truth)[band] ** 2)))

    track_rms_error.unit = "fraction"  # type: ignore[attr-defined]
