"""The roixr exception and warning trees.

Every error roixr raises on bad input derives from :class:`RoixrError`, so callers can
catch everything at once or one kind precisely; every warning roixr emits derives from
:class:`RoixrWarning`, so ``warnings.filterwarnings("ignore", category=RoixrWarning)``
silences them all. Each class also derives from the builtin
exception a Python user would expect (``FileNotFoundError``, ``ValueError``, ...), so
existing ``except`` clauses keep working.

Messages say what was wrong, the value given (usually a file), and how to fix it.
"""

from __future__ import annotations

__all__ = [
    "BoldError",
    "CohortError",
    "CohortMismatchError",
    "CoverageWarning",
    "EmptyRoiWarning",
    "ForeignStoreError",
    "FormError",
    "GridMismatchError",
    "IgnoredOptionWarning",
    "IncompleteCohortWarning",
    "IncompleteStoreError",
    "MetadataWarning",
    "MissingDependencyError",
    "MissingRoiWarning",
    "OptionError",
    "OutputExistsError",
    "OutputPathError",
    "OverlapError",
    "OverlayError",
    "OverlayNotFoundError",
    "RegistrationError",
    "RoiNotFoundError",
    "RoiSourceError",
    "RoixrError",
    "RoixrWarning",
    "SVGPathError",
    "StoreError",
    "StoreExistsError",
    "StoreKindError",
    "StoreNotFoundError",
    "SubjectFileNotFoundError",
    "SubjectNotFoundError",
    "SurfaceError",
    "SurfaceMismatchError",
    "TransformError",
    "TransformNotFoundError",
    "UnverifiedGridWarning",
    "VertexCountError",
]


class RoixrError(Exception):
    """Base class of every error roixr raises on bad input.

    Parameters
    ----------
    problem : str
        What was wrong, with the value given.
    fix : str, optional
        What to do, in the words of the Python API; the message is ``problem`` then ``fix``.
    option : str, optional
        The argument the fix is about, by its Python name (``"mode"``, ``"sampler"``,
        ``"fail_for_missing_rois"``, ...), or an action (``"redo"``). Another interface (the
        command line) gives its own advice for it, in its own words, after ``problem``.

    Attributes
    ----------
    problem, fix, option
        As given.
    """

    def __init__(self, problem: str = "", *, fix: str | None = None, option: str | None = None):
        super().__init__(f"{problem} {fix}" if fix else problem)
        self.problem = problem
        self.fix = fix
        self.option = option

    def __reduce__(self) -> tuple:  # keep fix and option through pickling (dask workers)
        return (_rebuild, (type(self), self.problem, self.fix, self.option))


def _rebuild(cls: type[RoixrError], problem: str, fix: str | None, option: str | None):
    return cls(problem, fix=fix, option=option)


class SubjectNotFoundError(RoixrError, FileNotFoundError):
    """A subject name or folder could not be found."""


class SubjectFileNotFoundError(RoixrError, FileNotFoundError):
    """A file a subject needs is missing from its folder."""


class SurfaceError(RoixrError, ValueError):
    """A surface file is unreadable or malformed."""


class SurfaceMismatchError(SurfaceError):
    """Surfaces of one hemisphere disagree (for example in their vertex counts)."""


class TransformError(RoixrError, ValueError):
    """A transform is malformed (bad matrix, bad reference image)."""


class TransformNotFoundError(TransformError, FileNotFoundError):
    """A named transform does not exist for the subject."""


class OverlayError(RoixrError, ValueError):
    """The overlays SVG is unreadable, truncated or lacks a required layer."""


class OverlayNotFoundError(OverlayError, FileNotFoundError):
    """The overlays SVG file does not exist."""


class SVGPathError(OverlayError):
    """An SVG path's ``d`` attribute or a ``transform`` attribute does not parse."""


class RoiNotFoundError(RoixrError, KeyError):
    """A requested ROI is not in the overlays."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0]) if self.args else ""


class OptionError(RoixrError, ValueError):
    """An option has a bad value (unknown sampler, threshold outside [0, 1], bad chunks...)."""


class FormError(RoixrError, ValueError):
    """Masks cannot be converted to the requested form (dict, index volume, NIfTI)."""


class OverlapError(FormError):
    """Overlapping ROIs cannot be flattened into an index volume without losing voxels."""


class StoreError(RoixrError, ValueError):
    """A zarr store cannot be written or read as roixr masks."""


class StoreExistsError(StoreError, FileExistsError):
    """The store exists and would be overwritten."""


class StoreNotFoundError(StoreError, FileNotFoundError):
    """The store does not exist."""


class IncompleteStoreError(StoreError):
    """The store's write did not finish (it was interrupted or is still running)."""


class OutputExistsError(RoixrError, FileExistsError):
    """An output file exists and ``overwrite`` was not set."""


class BoldError(RoixrError, ValueError):
    """A functional (bold) image or array cannot be used: bad dims, file or affine."""


class GridMismatchError(BoldError):
    """The bold series is not on the masks' voxel grid (shape or affine differ)."""


class CohortError(RoixrError, RuntimeError):
    """Some subjects of a cohort failed, or a cohort store cannot be used as asked."""


# --- warnings --------------------------------------------------------------------------


class RoixrWarning(UserWarning):
    """Base class of every warning roixr emits."""


class MissingRoiWarning(RoixrWarning):
    """Requested ROIs are missing from the source, or 'Cortex' was dropped."""


class EmptyRoiWarning(RoixrWarning):
    """An ROI has no vertices: its layer has no paths, or its shapes enclose no vertex."""


class IgnoredOptionWarning(RoixrWarning):
    """An option was given that has no effect here (a threshold with a binary sampler...)."""


class UnverifiedGridWarning(RoixrWarning):
    """The bold data carries no affine, so only its shape could be checked against the masks'
    grid."""


class MetadataWarning(RoixrWarning):
    """A file lacks metadata roixr would use (a repetition time...); a default was taken."""


# --- inputs beyond pycortex -------------------------------------------------------------


class RoiSourceError(RoixrError, ValueError):
    """An ROI source (an annotation, label, GIfTI or CIFTI file...) is unreadable or unknown."""


class VertexCountError(RoiSourceError):
    """An ROI file's vertex count does not match the subject's surfaces."""


class RegistrationError(TransformError):
    """A registration file does not parse, or its geometry contradicts the images given."""


# --- stores and outputs ------------------------------------------------------------------


class ForeignStoreError(StoreError):
    """The path is not a zarr store, or a zarr store that roixr did not write."""


class StoreKindError(StoreError):
    """A cohort store was opened as a single store, or a single store as a cohort."""


class CohortMismatchError(CohortError, ValueError):
    """Subjects were to be added to a cohort store with other options than the store's."""


class IncompleteCohortWarning(RoixrWarning):
    """A cohort store was opened with subjects that failed or whose write did not finish;
    only the complete subjects are in the tree."""


class OutputPathError(RoixrError, FileNotFoundError):
    """An output's folder does not exist, or its name cannot be written (roixr never
    creates parent folders)."""


# --- optional dependencies ----------------------------------------------------------


class MissingDependencyError(RoixrError, ImportError):
    """An optional dependency is not installed (matplotlib for pictures and reports)."""


class CoverageWarning(RoixrWarning):
    """ROIs lie partly or wholly outside the volume's field of view (the drop-in
    ``get_roi_masks`` reports them as pycortex does)."""
