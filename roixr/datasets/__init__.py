"""Sample subjects: a synthetic subject with analytic ground truth, an analytic ribbon
phantom (nested ellipsoids with exact partial volumes), and pycortex's S1."""

from roixr.datasets.fmriprep import fmriprep_like
from roixr.datasets.geometry import GEOMETRY, SyntheticGeometry, expected_roi_verts
from roixr.datasets.phantom import phantom_source, phantom_subject, phantom_truth
from roixr.datasets.sample import pycortex_sample_subject
from roixr.datasets.synthetic import synthetic_subject

__all__ = [
    "GEOMETRY",
    "SyntheticGeometry",
    "expected_roi_verts",
    "fmriprep_like",
    "phantom_source",
    "phantom_subject",
    "phantom_truth",
    "pycortex_sample_subject",
    "synthetic_subject",
]
