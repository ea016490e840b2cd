"""The plan: what to sample, checked, with everything the chunk routine needs.

:func:`make_plan` checks a request (subject, transform, ROIs, sampler, options), reads the
surfaces, the transform and the ROI table, and returns an immutable :class:`Plan`. Both
executors start from it, so the lazy masks and the eager drop-in resolve ROIs and options
the same way. No dask and no xarray here.

Through a nonlinear registration (a transform with a ``warp``) the plan's surfaces are the
subject's mapped into the reference's scanner RAS and its ``coord`` is the reference's
inverse affine (see :func:`roixr.sampling.geometry.surfaces_of`); affine registrations
keep the subject's own surfaces and the composed ``coord``.
"""

from __future__ import annotations

import numbers
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from roixr.errors import EmptyRoiWarning, IgnoredOptionWarning, MissingRoiWarning, OptionError
from roixr.io.subject import Subject, SubjectLike, XfmLike, as_subject
from roixr.io.transforms import Transform
from roixr.rois import requested_names
from roixr.rois.protocol import RoiSource, SourceLike, as_source
from roixr.rois.table import RoiTable
from roixr.sampling.geometry import Surfaces, content_token, surfaces_of
from roixr.sampling.options import CORTEX, Options
from roixr.sampling.protocol import Sampler
from roixr.sampling.registry import get_sampler
from roixr.sampling.sanity import check_registration

__all__ = ["CORTEX", "Plan", "make_plan"]


@dataclass(frozen=True, eq=False)
class Plan:
    """A checked request and what the chunk routine needs.

    Attributes
    ----------
    subject : Subject
    surfaces : Surfaces
        The geometry the kernels sample: the subject's surfaces, or, through a nonlinear
        registration, those surfaces mapped into the reference's scanner RAS.
    table : RoiTable
        The real ROIs, in the requested order.
    transform : Transform
    sampler : Sampler
    options : Options
    order : tuple of str
        The output order: the table's names with ``"Cortex"`` where it was requested.
    source : str
        What the ROIs were read from.
    """

    subject: Subject
    surfaces: Surfaces
    table: RoiTable
    transform: Transform
    sampler: Sampler
    options: Options
    order: tuple[str, ...]
    source: str

    @property
    def rows(self) -> tuple[str, ...]:
        """The kernels' rows: the ROIs, then ``"Cortex"`` if asked."""
        return (*self.table.names, CORTEX) if self.options.cortex else self.table.names

    @property
    def dtype(self) -> np.dtype:
        """The output dtype: float32 fractions, else bool."""
        fractions = self.sampler.fractional and self.options.threshold is None
        return np.dtype(np.float32 if fractions else bool)

    @property
    def coord(self) -> np.ndarray:
        """The transform's 4×4 matrix from :attr:`surfaces` mm to voxels, float64."""
        return np.asarray(self.transform.coord, dtype=float)

    @property
    def shape(self) -> tuple[int, int, int]:
        """The reference grid's shape."""
        return self.transform.shape

    def row_order(self) -> list[int]:
        """Indices into :attr:`rows` giving :attr:`order`."""
        rows = self.rows
        return [rows.index(n) for n in self.order]

    @cached_property
    def table_token(self) -> str:
        """A content hash of the ROI table."""
        m = self.table.members
        return content_token(m.indptr, m.indices, self.table.names, self.table.n_lh)


def make_plan(
    subject: SubjectLike,
    xfm: XfmLike,
    rois: str | Iterable[str] | None,
    sampler: str | float | Sampler,
    *,
    threshold: float | None = None,
    allow_overlap: bool = False,
    fail_for_missing_rois: bool = True,
    drop_vertexless: bool = False,
    source: SourceLike = None,
    overlay_file: str | os.PathLike | None = None,
    stacklevel: int = 3,
) -> Plan:
    """Check a request and read what its chunk routine needs.

    Parameters are those of :func:`roixr.roi_masks` (``xfm``: a transform's name, a
    ``(reference_image, registration)`` pair, or a :class:`~roixr.io.Transform`);
    ``drop_vertexless`` leaves out ROIs without vertices (the part of
    ``exclude_empty_rois`` known before sampling); ``stacklevel`` points warnings at the
    caller of the public function.

    Raises
    ------
    OptionError, RoiNotFoundError, TransformError, TransformNotFoundError
        As :func:`roixr.roi_masks` documents.

    Warns
    -----
    CoverageWarning
        When the registration looks wrong: the surfaces miss the reference grid, or sit on
        its background (:func:`roixr.sampling.sanity.check_registration`).
    """
    smp = get_sampler(sampler)
    threshold = _check_threshold(threshold, smp, stacklevel + 1)
    subj = as_subject(subject).preload()
    transform = xfm if isinstance(xfm, Transform) else subj.transform(xfm)
    src = as_source(source, overlay_file)
    table, order = _table(subj, src, rois, smp, fail_for_missing_rois, stacklevel + 1)
    if drop_vertexless:  # ROIs without vertices have no voxels: drop them before sampling
        keep = [n for n, c in zip(table.names, table.counts(), strict=True) if c]
        table = table.select(keep)
        order = tuple(n for n in order if n in keep or n == CORTEX)
    options = Options(
        threshold=threshold, allow_overlap=bool(allow_overlap), cortex=CORTEX in order
    )
    surfaces = surfaces_of(subj, transform)  # mapped through the warp, if it has one
    check_registration(subj, surfaces, transform, stacklevel)  # warns: surfaces off the grid
    return Plan(subj, surfaces, table, transform, smp, options, order, src.description)


def _table(
    subject: Subject,
    source: RoiSource,
    rois: str | Iterable[str] | None,
    sampler: Sampler,
    fail: bool,
    stacklevel: int,
) -> tuple[RoiTable, tuple[str, ...]]:
    """The ROI table of the real ROIs, and the output order (with 'Cortex' if asked)."""
    available = source.names(subject)
    extra = (CORTEX,) if CORTEX not in available else ()
    names = requested_names(
        rois, available, source, fail=fail, extra=extra, stacklevel=stacklevel + 1
    )
    if extra and CORTEX in names and not sampler.cortex:
        warnings.warn(
            f"the 'Cortex' pseudo-ROI is not defined for the sampler {sampler.name!r} (only "
            "for distance samplers and 'ribbon'); it is left out.",
            MissingRoiWarning,
            stacklevel=stacklevel + 1,
        )
        names.remove(CORTEX)
    real = [n for n in names if not (extra and n == CORTEX)]
    with warnings.catch_warnings():  # ROIs without vertices: the masks' coverage says so
        warnings.simplefilter("ignore", EmptyRoiWarning)
        table = source.table(subject, real)
    return table, tuple(names)


def _check_threshold(threshold: object, sampler: Sampler, stacklevel: int) -> float | None:
    if threshold is None:
        return None
    ok = isinstance(threshold, numbers.Real) and not isinstance(threshold, bool)
    if not ok or not 0 <= float(threshold) <= 1:  # type: ignore[arg-type]
        raise OptionError(
            f"threshold must be a number in [0, 1], got {threshold!r}; it turns fractions "
            "into booleans (fraction > threshold)"
        )
    if not sampler.fractional:
        warnings.warn(
            f"threshold={threshold} has no effect with the binary sampler {sampler.name!r}",
            IgnoredOptionWarning,
            stacklevel=stacklevel + 1,
        )
    return float(threshold)  # type: ignore[arg-type]
