"""Surface ROIs: ``roixr.roi_verts`` on pycortex's S1 (target: under 1 s, cold)."""

from __future__ import annotations

import warnings

import roixr
from roixr.datasets import pycortex_sample_subject


class RoiVertsS1:
    """All 32 ROI layers of S1; roixr only reads the subject, so no copy is needed."""

    timeout = 120

    def setup(self):
        self.path = pycortex_sample_subject()
        warnings.simplefilter("ignore", roixr.errors.EmptyRoiWarning)
        self.warm = roixr.Subject(self.path)
        roixr.roi_verts(self.warm)

    def time_roi_verts_cold(self):
        """Reading surfaces and the SVG included: a fresh Subject each time."""
        roixr.roi_verts(roixr.Subject(self.path))

    def time_roi_verts_warm(self):
        """Surfaces already read (the SVG parse and point-in-path work remain)."""
        roixr.roi_verts(self.warm)

    def peakmem_roi_verts_cold(self):
        roixr.roi_verts(roixr.Subject(self.path))


class SyntheticSubject:
    """Building the embedded synthetic subject (target: about a second)."""

    def setup(self):
        import tempfile

        self.tmp = tempfile.TemporaryDirectory()
        self.n = 0

    def teardown(self):
        self.tmp.cleanup()

    def time_synthetic_subject(self):
        self.n += 1
        roixr.datasets.synthetic_subject(f"{self.tmp.name}/s{self.n}")
