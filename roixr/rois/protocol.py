"""The ROI-source protocol, and turning what a user passes as ``source=`` into a source.

An ROI source gives, for a subject, the ROI names it holds and a :class:`RoiTable` of
the requested ones. Everything downstream (the sampling engine, coverage, the forms) sees
only the table, never the file it came from; a new kind of source is one module under
:mod:`roixr.rois.sources`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from roixr.errors import OptionError
from roixr.io.subject import Subject
from roixr.rois.table import RoiTable

__all__ = ["RoiSource", "SourceLike", "as_source"]


@runtime_checkable
class RoiSource(Protocol):
    """What an ROI source implements: ``description``, ``names(subject)`` and
    ``table(subject, names)``."""

    @property
    def description(self) -> str:
        """What the ROIs were read from (a file, a kind of source), for messages and attrs."""
        ...

    def names(self, subject: Subject) -> list[str]:
        """The ROI names this source holds for ``subject``, in its own order."""
        ...

    def table(self, subject: Subject, names: Sequence[str]) -> RoiTable:
        """The vertex membership of ``names`` (all in :meth:`names`), in that order."""
        ...


SourceLike = RoiSource | str | os.PathLike | Mapping[str, Any] | Sequence[Any] | None


def _suffix(value: object) -> str:
    name = os.fspath(value).lower() if isinstance(value, (str, os.PathLike)) else ""
    for suffix in (".label.gii", ".dlabel.nii", ".annot", ".label", ".svg", ".gii"):
        if name.endswith(suffix):
            return suffix
    return ""


def as_source(source: SourceLike, overlay_file: str | os.PathLike | None = None) -> RoiSource:
    """The ROI source named by a ``source=`` argument.

    Parameters
    ----------
    source : RoiSource, path-like, pair, list, mapping or None
        - None: the subject's ``overlays.svg`` (or ``overlay_file``);
        - an ``.svg`` path: that overlays file;
        - an ``(lh, rh)`` pair of ``.annot`` files, or an annotation name (``"aparc"``,
          ``"aparc.a2009s"``) found in a FreeSurfer subject's ``label/`` folder;
        - ``.label`` files (a path or a list): one ROI per name, ``lh.``/``rh.`` prefixes
          giving the hemisphere;
        - an ``(lh, rh)`` pair of GIfTI label files (``.label.gii``);
        - a CIFTI dense label file (``.dlabel.nii``);
        - a mapping ``{name: {"L": vertices, "R": vertices}}``;
        - any object implementing :class:`RoiSource`.
    overlay_file : path-like, optional
        pycortex's spelling of an SVG source.

    Raises
    ------
    OptionError
        For both ``source`` and ``overlay_file``, or a source of an unknown kind.
    RoiSourceError, SubjectFileNotFoundError
        For label files that are missing or of mixed kinds.
    """
    from roixr.rois.sources.mapping import MappingSource
    from roixr.rois.sources.svg import SvgSource

    if overlay_file is not None:
        if source is not None:
            raise OptionError(
                f"pass either source= or overlay_file=, not both (got source={source!r} and "
                f"overlay_file={overlay_file!r}); overlay_file is the same as source=<svg path>"
            )
        return SvgSource(overlay_file)
    if source is None:
        return SvgSource(None)
    if isinstance(source, RoiSource):
        return source
    if isinstance(source, Mapping):
        return MappingSource(source)
    # label files: their readers are imported only when asked for (the drop-in stays lean)
    from roixr.rois.sources.labels import (
        AnnotSource,
        CiftiLabelSource,
        GiftiLabelSource,
        LabelFilesSource,
    )

    if isinstance(source, (str, os.PathLike)):
        kind = _suffix(source)
        if kind == ".svg":
            return SvgSource(source)
        if kind == ".dlabel.nii":
            return CiftiLabelSource(source)
        if kind == ".label":
            return LabelFilesSource([source])
        if kind in (".annot", ".label.gii", ".gii"):
            raise OptionError(
                f"{source} is one hemisphere's file; pass the (lh, rh) pair of {kind} files"
            )
        if isinstance(source, str) and not Path(source).exists() and os.sep not in source:
            return AnnotSource(source)  # a name such as "aparc", found in label/
    elif isinstance(source, Sequence) and source:
        kinds = {_suffix(s) for s in source}
        if kinds == {".label"}:
            return LabelFilesSource(source)
        if len(source) == 2 and kinds == {".annot"}:
            return AnnotSource((source[0], source[1]))
        if len(source) == 2 and kinds <= {".label.gii", ".gii"}:
            return GiftiLabelSource((source[0], source[1]))
    raise OptionError(
        f"unknown ROI source {source!r:.120}. Pass an overlays .svg path, an (lh, rh) pair of "
        ".annot or .label.gii files, an annotation name such as 'aparc', .label files, a "
        ".dlabel.nii file, a mapping {name: {'L': vertices, 'R': vertices}}, or an object "
        "with names(subject) and table(subject, names) (see roixr.rois.RoiSource)."
    )
