"""ROI sources: each module reads one kind of ROI definition into a :class:`RoiTable`.

- :mod:`~roixr.rois.sources.svg`: ``SvgSource``, ROIs drawn on the flatmap in an overlays SVG;
- :mod:`~roixr.rois.sources.labels`: ``AnnotSource``, ``LabelFilesSource``,
  ``GiftiLabelSource``, ``CiftiLabelSource`` (FreeSurfer, GIfTI and CIFTI label files);
- :mod:`~roixr.rois.sources.mapping`: ``MappingSource``, vertex sets given directly.

Nothing is imported here: :func:`roixr.rois.protocol.as_source` imports the one module a
``source=`` needs, so an SVG source never loads the label-file readers.
"""
