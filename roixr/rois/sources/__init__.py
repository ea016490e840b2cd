"""ROI sources: each module reads one kind of ROI definition into a :class:`RoiTable`."""

from roixr.rois.sources.labels import (
    AnnotSource,
    CiftiLabelSource,
    GiftiLabelSource,
    LabelFilesSource,
)
from roixr.rois.sources.mapping import MappingSource
from roixr.rois.sources.svg import SvgSource

__all__ = [
    "AnnotSource",
    "CiftiLabelSource",
    "GiftiLabelSource",
    "LabelFilesSource",
    "MappingSource",
    "SvgSource",
]
