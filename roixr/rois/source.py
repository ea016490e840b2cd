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


SourceLike = RoiSource | str | os.PathLike | Mapping[str, Any] | None


def as_source(source: SourceLike, overlay_file: str | os.PathLike | None = None) -> RoiSource:
    """The ROI source named by a ``source=`` argument.

    Parameters
    ----------
    source : RoiSource, path-like, mapping or None
        None: the subject's ``overlays.svg`` (or ``overlay_file``). A path to an ``.svg``
        file: that overlays file. A mapping ``{name: {"L": vertices, "R": vertices}}``: plain
        vertex sets. Any object implementing :class:`RoiSource`.
    overlay_file : path-like, optional
        pycortex's spelling of an SVG source.

    Raises
    ------
    OptionError
        For both ``source`` and ``overlay_file``, or a source of an unknown kind.
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
    if isinstance(source, (str, os.PathLike)) and Path(source).suffix.lower() == ".svg":
        return SvgSource(source)
    raise OptionError(
        f"unknown ROI source {source!r}. Pass an overlays .svg path, a mapping "
        "{name: {'L': vertices, 'R': vertices}}, or an object with names(subject) and "
        "table(subject, names) (see roixr.rois.RoiSource)."
    )
