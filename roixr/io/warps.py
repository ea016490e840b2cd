"""Registrations that map points: ITK displacement fields and composites of affines and fields.

A nonlinear registration cannot be one 4×4 matrix, so roixr applies it as a **point mapping**
of the surface vertices: :class:`PointMap` is a sequence of steps, each a 4×4 RAS → RAS
matrix or a :class:`DisplacementField`, applied in order. The plan maps the subject's white
and pial vertices through it once (see :func:`roixr.sampling.geometry.surfaces_of`); the
chunk kernels are unchanged.

Conventions (those of ITK, as nitransforms reads them; checked in ``tests/test_warps.py``
against nitransforms and, where installed, against ITK itself through SimpleITK):

- ITK files hold **LPS** coordinates: matrices are conjugated by ``diag(-1, -1, 1, 1)`` and
  the x and y components of displacements change sign; a field's grid is given by size,
  origin, spacing and a row-major direction matrix (LPS), its vectors interleaved per voxel
  with x fastest (Fortran order).
- A transform file is a **point mapping from the fixed (reference) space to the moving
  space**: ``from-A_to-B`` resamples A into B's grid, so it takes points of B to points of
  A. ``from-MNI152NLin2009cAsym_to-T1w_mode-image_xfm.h5`` therefore maps T1w points (the
  vertices) to template points, which is what sampling in a template-space run needs.
- An ITK **composite** ``[T0, T1, ..., Tn-1]`` (the ``TransformGroup`` entries after the
  ``CompositeTransform`` entry 0, in that order) maps ``x`` to ``T0(T1(...Tn-1(x)))``: the
  last one is applied first (ITK's CompositeTransform; nitransforms' ``TransformChain``
  reverses the list for the same reason).
- A displacement field maps ``x`` to ``x + d(x)``. As nitransforms does (and so fMRIPrep's
  own resampling of the BOLD series into a template), the deformation ``x + d(x)`` sampled on
  the field's grid is interpolated with cubic B-splines (:func:`scipy.ndimage.map_coordinates`,
  ``order=3``, ``mode="constant"``); a point outside the grid is left where it is (ITK too
  gives it no displacement): roixr warns with the count. ANTs' ``antsApplyTransforms``
  interpolates the displacement linearly instead; for the smooth fields of SyN the two
  differ by far less than a voxel.
- A field cannot be inverted exactly. Its inverse is solved per point by fixed-point
  iteration ``x ← x − (x + d(x) − y)`` until ``|x + d(x) − y| ≤`` :data:`INVERSE_TOL` mm; a
  point that does not converge within :data:`INVERSE_MAX_ITER` steps (where the field folds)
  is refused, naming the file of the other direction.

Fields are read lazily: a :class:`DisplacementField` keeps its file's name, grid and stamp
(size, modification time), not its data, so a :class:`PointMap` pickles small and its
:attr:`~PointMap.token` (for dask) is cheap; a file that changed since it was read is
refused rather than mixed with the old stamp.
"""

from __future__ import annotations

import hashlib
import os
import re
import warnings
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from roixr.errors import CoverageWarning, RegistrationError
from roixr.io.images import load_volume

__all__ = [
    "INVERSE_MAX_ITER",
    "INVERSE_TOL",
    "LPS",
    "MAX_CONDITION",
    "MAX_MATRIX_VALUE",
    "DisplacementField",
    "PointMap",
    "Step",
    "check_affine",
    "itk_affine",
    "other_direction",
    "read_itk_field",
    "read_itk_h5",
]

LPS = np.diag([-1.0, -1.0, 1.0, 1.0])
#: mm: the largest residual ``|x + d(x) - y|`` accepted when a field is inverted.
INVERSE_TOL = 1e-6
#: fixed-point iterations allowed per point when a field is inverted.
INVERSE_MAX_ITER = 200

#: the largest absolute value a registration matrix may hold (mm, or voxels for an LTA's
#: VOX2VOX): no registration of one subject's images moves or scales by more.
MAX_MATRIX_VALUE = 1e5
#: the largest condition number of a registration's 3×3 part (a rigid one has 1).
MAX_CONDITION = 1e6

_AFFINE_TYPES = ("AffineTransform_", "MatrixOffsetTransformBase_")
_FIELD_TYPES = ("DisplacementFieldTransform_",)
_CONVERT = (
    "Convert it to one displacement field with antsApplyTransforms -d 3 -r <reference> "
    "-t <file> -o [field.nii.gz,1] (an ITK displacement field roixr reads), or to an affine "
    "with ConvertTransformFile 3 <in> <out.txt> --convertToAffineType."
)


@dataclass(frozen=True, eq=False)
class DisplacementField:
    """An ITK displacement field as a point mapping ``x → x + d(x)`` (RAS, mm).

    Attributes
    ----------
    path : str
        The file: an ITK ``.h5`` (the field is one entry of its ``TransformGroup``) or a
        NIfTI displacement field (5D, ``(x, y, z, 1, 3)``).
    key : str or None
        The ``TransformGroup`` entry holding the field; None for a NIfTI file.
    shape : tuple of int
        The field's grid.
    affine : ndarray
        The grid's 4×4 voxel → RAS affine.
    stamp : tuple of int
        The file's size and modification time (ns) when it was read.
    inverse : bool
        Apply the inverse mapping (solved numerically per point).
    """

    path: str
    key: str | None
    shape: tuple[int, int, int]
    affine: np.ndarray
    stamp: tuple[int, int]
    inverse: bool = False

    def inverted(self) -> DisplacementField:
        """The same field applied the other way."""
        return replace(self, inverse=not self.inverse)

    @property
    def identity(self) -> tuple:
        """What the token hashes: the file, the entry, its grid, stamp and direction."""
        return (self.path, self.key, self.shape, self.affine.tobytes(), self.stamp, self.inverse)

    def deltas(self) -> np.ndarray:
        """The displacements ``(x, y, z, 3)`` in RAS mm, float64, read from the file now.

        Raises
        ------
        RegistrationError
            If the file changed since it was read, or cannot be read.
        """
        path = Path(self.path)
        if _stamp(path) != self.stamp:
            raise RegistrationError(
                f"the displacement field {path} changed since it was read (size or "
                "modification time differ), so the transform built from it is stale.",
                fix="Build the transform again (roixr.roi_masks or Subject.transform with "
                "the (reference_image, registration) pair) now that the file is written.",
            )
        n = int(np.prod(self.shape))
        try:
            if self.key is None:
                data = np.asarray(load_volume(path).dataobj, dtype=np.float64)
                field = data.reshape((*self.shape, 3))
            else:
                import h5py

                with h5py.File(path, "r") as f:
                    entry = f["TransformGroup"][self.key]
                    flat = np.asarray(entry[_key(entry, "Parameters")], dtype=np.float64)
                if flat.size != 3 * n:
                    raise ValueError(f"{flat.size} parameters for a {self.shape} field")
                # ITK: one vector per voxel, x fastest; the vector's components first
                field = np.moveaxis(flat.reshape((3, *self.shape), order="F"), 0, -1)
        except Exception as err:
            raise _unreadable(path, "an ITK displacement field", err) from None
        field = np.array(field, dtype=np.float64, order="C")
        field[..., :2] *= -1.0  # LPS → RAS vectors
        if not np.all(np.isfinite(field)):
            raise RegistrationError(
                f"the displacement field {path} holds non-finite values (NaN or inf).",
                fix="Re-export the warp: the file is corrupt or was written from bad data.",
            )
        if field.size and float(np.abs(field).max()) > MAX_MATRIX_VALUE:
            raise RegistrationError(
                f"the displacement field {path} moves points by up to "
                f"{float(np.abs(field).max()):.6g} mm; no registration moves by more than "
                f"{MAX_MATRIX_VALUE:g} mm.",
                fix="Re-export the warp: the file is corrupt or was written from bad data.",
            )
        return field

    def apply(self, points: np.ndarray) -> tuple[np.ndarray, int]:
        """Map ``(n, 3)`` RAS points; returns the mapped points and how many lay outside the
        field's grid (left unmoved by it)."""
        interp = _Interpolant(self.affine, self.deltas())
        if not self.inverse:
            out, inside = interp(points)
        else:
            out, inside = self._invert(interp, points)
        return out, int(np.count_nonzero(~inside))

    def _invert(self, interp: _Interpolant, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = np.array(y, dtype=np.float64)
        todo = np.arange(len(x))
        worst = 0.0
        for _ in range(INVERSE_MAX_ITER):
            fx, _ = interp(x[todo])
            r = fx - y[todo]
            err = np.sqrt(np.einsum("ij,ij->i", r, r))
            bad = err > INVERSE_TOL
            x[todo[bad]] -= r[bad]
            todo = todo[bad]
            if not todo.size:
                break
            worst = float(err[bad].max())
        if todo.size:
            raise RegistrationError(
                f"{self.path} is used inverted (it maps the other way), and inverting its "
                f"displacement field numerically failed for {todo.size} of {len(x)} points: "
                f"after {INVERSE_MAX_ITER} fixed-point iterations the residual is still up to "
                f"{worst:.3g} mm (tolerance {INVERSE_TOL} mm); the field folds or is not "
                "invertible there.",
                fix=f"Pass the transform of the other direction, {other_direction(self.path)}, "
                "which maps the surfaces without inverting a field.",
            )
        _, inside = interp(x)
        return x, inside


#: One step of a point mapping: a 4×4 RAS → RAS matrix or a displacement field.
Step = np.ndarray | DisplacementField


@dataclass(frozen=True, eq=False)
class PointMap:
    """A point mapping: steps applied in order, RAS mm to RAS mm.

    Attributes
    ----------
    steps : tuple
        4×4 RAS → RAS matrices and :class:`DisplacementField` s, the first applied first.
    source : str
        What it was read from, for messages.
    """

    steps: tuple[Step, ...]
    source: str

    @property
    def nonlinear(self) -> bool:
        """Whether a displacement field is among the steps."""
        return any(isinstance(s, DisplacementField) for s in self.steps)

    def after(self, matrix: np.ndarray) -> PointMap:
        """This mapping applied after ``matrix`` (4×4, applied first)."""
        first = np.asarray(matrix, dtype=np.float64)
        return PointMap((first, *self.steps), self.source)

    def inverse(self) -> PointMap:
        """The inverse mapping: the steps reversed, matrices inverted exactly, fields
        numerically (see :data:`INVERSE_TOL`)."""
        steps = tuple(
            s.inverted() if isinstance(s, DisplacementField) else np.linalg.inv(s)
            for s in reversed(self.steps)
        )
        return PointMap(steps, self.source)

    def map(self, points: np.ndarray) -> np.ndarray:
        """Map ``(n, 3)`` points, float64.

        Warns
        -----
        CoverageWarning
            When points lie outside a displacement field's grid (they are moved by the
            other steps only, as ITK and nitransforms do).

        Raises
        ------
        RegistrationError
            If a field cannot be read, changed since it was read, or cannot be inverted.
        """
        pts = np.array(points, dtype=np.float64).reshape(-1, 3)
        for step in self.steps:
            if isinstance(step, DisplacementField):
                pts, outside = step.apply(pts)
                if outside:
                    warnings.warn(
                        f"{outside} of {len(pts)} points lie outside the grid "
                        f"{step.shape} of the displacement field in {step.path}; they are "
                        "not displaced (as ITK and nitransforms do). Check that the warp "
                        "belongs to this subject and that the surfaces are in its space.",
                        CoverageWarning,
                        stacklevel=3,
                    )
            else:
                pts = pts @ step[:3, :3].T + step[:3, 3]
        return pts

    @cached_property
    def token(self) -> str:
        """A cheap deterministic name for dask: the matrices, and each field's file, entry,
        grid, stamp and direction (the field's data are not read)."""
        h = hashlib.blake2b(digest_size=16)
        for step in self.steps:
            if isinstance(step, DisplacementField):
                h.update(repr(step.identity).encode())
            else:
                h.update(b"matrix" + np.ascontiguousarray(step, dtype=np.float64).tobytes())
            h.update(b"|")
        return h.hexdigest()

    def __dask_tokenize__(self) -> str:
        return self.token


# --- reading ITK files ------------------------------------------------------------------


def itk_affine(params: np.ndarray, center: np.ndarray) -> np.ndarray:
    """An ITK affine (a 4×4 of its 12 parameters, and its centre) as a RAS point mapping."""
    center = np.asarray(center, dtype=np.float64).reshape(3)
    c_pos, c_neg = np.eye(4), np.eye(4)
    c_pos[:3, 3], c_neg[:3, 3] = center, -center
    return LPS @ c_pos @ np.asarray(params, dtype=np.float64) @ c_neg @ LPS


def check_affine(matrix: object, what: str, fix: str | None = None) -> np.ndarray:
    """``matrix`` as a float64 4×4 affine, checked before anything inverts or composes it:
    a 4×4 of finite numbers, last row ``[0, 0, 0, 1]``, no value beyond
    :data:`MAX_MATRIX_VALUE`, its 3×3 part invertible and well conditioned
    (:data:`MAX_CONDITION`).

    Raises
    ------
    RegistrationError
        Naming ``what`` (the file, or the array) and what is wrong with it.
    """
    fix = fix or (
        "Re-export the registration from the tool that estimated it (the file is corrupt or "
        "was written from a failed registration)."
    )
    try:
        m = np.array(matrix, dtype=np.float64)
    except (TypeError, ValueError):
        m = np.empty(0)
    if m.shape != (4, 4):
        raise RegistrationError(f"{what} is not a 4×4 matrix (got shape {m.shape}).", fix=fix)
    if not np.all(np.isfinite(m)):
        rows, cols = np.nonzero(~np.isfinite(m))
        where = ", ".join(f"({r}, {c})" for r, c in zip(rows.tolist(), cols.tolist(), strict=True))
        raise RegistrationError(
            f"{what} holds non-finite values (NaN or inf) at (row, column) {where}.", fix=fix
        )
    if not np.allclose(m[3], [0.0, 0.0, 0.0, 1.0], rtol=0, atol=1e-6):
        raise RegistrationError(
            f"{what} has the last row {m[3].tolist()}, not [0, 0, 0, 1]: it is not an affine "
            "transform (roixr applies affines and ITK displacement fields).",
            fix=fix,
        )
    biggest = float(np.abs(m).max())
    if biggest > MAX_MATRIX_VALUE:
        raise RegistrationError(
            f"{what} holds the value {biggest:.6g}: no registration of one subject's images "
            f"scales or moves by more than {MAX_MATRIX_VALUE:g} (mm or voxels).",
            fix=fix,
        )
    sv = np.linalg.svd(m[:3, :3], compute_uv=False)
    cond = float(sv[0] / sv[-1]) if sv[-1] > 0 else float("inf")
    if not cond <= MAX_CONDITION:
        raise RegistrationError(
            f"{what} is singular or nearly so (the singular values of its 3×3 part are "
            f"{', '.join(f'{v:.3g}' for v in sv)}; condition number {cond:.3g}): it would "
            "collapse the surfaces onto a plane, a line or a point, and cannot be inverted.",
            fix=fix,
        )
    return m


def read_itk_h5(path: Path) -> tuple[Step, ...]:
    """The transforms of an ITK ``.h5`` file, in ITK's order (a composite applies the last
    first): affines as RAS matrices, displacement fields as :class:`DisplacementField`
    (their grids read, their data left in the file).

    Raises
    ------
    RegistrationError
        If the file is not an ITK transform file, or holds a transform type roixr cannot
        apply (it never applies part of a file).
    """
    import h5py

    stamp = _stamp(path)
    try:
        with h5py.File(path, "r") as f:
            group = f["TransformGroup"]
            keys = sorted(group, key=lambda k: (not k.isdigit(), int(k) if k.isdigit() else 0))
            kinds = {k: _kind(group[k]) for k in keys}
            if keys and kinds[keys[0]].startswith("CompositeTransform"):
                keys = keys[1:]
            elif len(keys) > 1:
                raise ValueError(f"{len(keys)} transforms without a composite: {kinds}")
            if not keys:
                raise ValueError("no transform in its TransformGroup")
            steps: list[Step] = []
            for key in keys:
                kind, entry = kinds[key], group[key]
                if kind.startswith(_AFFINE_TYPES + _FIELD_TYPES) and not kind.endswith("_3_3"):
                    raise RegistrationError(
                        f"{path} holds an ITK {kind} (entry {key} of its TransformGroup), "
                        "not a 3D transform (its type does not end in _3_3); roixr maps 3D "
                        "points.",
                        fix="Pass the 3D registration of the functional image to the anatomy.",
                    )
                if kind.startswith(_AFFINE_TYPES):
                    p = _numbers(entry, "Parameters", 12)
                    c = _numbers(entry, "FixedParameters", 3)
                    m = np.eye(4)
                    m[:3, :3], m[:3, 3] = p[:9].reshape(3, 3), p[9:]
                    what = f"the {kind} (entry {key} of its TransformGroup) in {path}"
                    check_affine(m, what)  # before the centre is composed in
                    steps.append(check_affine(itk_affine(m, c), what))
                elif kind.startswith(_FIELD_TYPES):
                    steps.append(_h5_field(path, key, entry, stamp))
                else:
                    raise RegistrationError(
                        f"{path} holds an ITK {kind} (entry {key} of its TransformGroup); "
                        "roixr applies ITK affine transforms and displacement fields, and "
                        "never part of a file.",
                        fix=_CONVERT,
                    )
    except RegistrationError:
        raise
    except Exception as err:
        raise _unreadable(path, "an ITK transform file (.h5)", err) from None
    return tuple(steps)


def read_itk_field(path: Path) -> DisplacementField:
    """An ITK displacement field stored as NIfTI (5D, ``(x, y, z, 1, 3)``, LPS vectors, as
    ANTs writes ``*Warp.nii.gz``); its header is read, its data left in the file.

    Raises
    ------
    RegistrationError
        If it is not a volume, or not laid out as ITK writes displacement fields (an FSL or
        AFNI warp, a 4D field).
    """
    stamp = _stamp(path)
    try:
        img: Any = load_volume(path)
    except Exception as err:
        raise _unreadable(path, "an ITK displacement field (NIfTI)", err) from None
    shape = tuple(int(s) for s in img.shape)
    if len(shape) != 5 or shape[3] != 1 or shape[4] != 3:
        raise RegistrationError(
            f"{path} has shape {shape}; an ITK displacement field is 5D, (x, y, z, 1, 3) "
            "(FSL, AFNI and SPM warps are laid out otherwise and hold other conventions).",
            fix="Convert it to an ITK field: wb_command -convert-warpfield -from-fnirt "
            "<warp> <source> -to-itk <field.nii.gz> for FSL, or antsApplyTransforms -d 3 -r "
            "<reference> -t <transform> -o [field.nii.gz,1].",
        )
    affine = np.asarray(img.affine, dtype=np.float64)
    _check_grid(path, affine)
    return DisplacementField(str(path), None, (shape[0], shape[1], shape[2]), affine, stamp)


def other_direction(path: str | os.PathLike) -> str:
    """The name of the transform of the other direction (``from-A_to-B`` → ``from-B_to-A``),
    in the same folder, and whether it exists."""
    p = Path(path)
    swapped = re.sub(r"from-([A-Za-z0-9]+)_to-([A-Za-z0-9]+)", r"from-\2_to-\1", p.name)
    if swapped == p.name:
        return f"the inverse of {p.name} as its tool wrote it (ANTs: *InverseWarp.nii.gz)"
    other = p.with_name(swapped)
    return f"{other} ({'it exists' if other.is_file() else 'not found beside it'})"


def _h5_field(path: Path, key: str, entry: Any, stamp: tuple[int, int]) -> DisplacementField:
    fixed = _numbers(entry, "FixedParameters", 18)
    size = fixed[:3]
    if np.any(size < 1) or np.any(size != np.round(size)):
        raise ValueError(f"field size {size.tolist()} is not positive integers")
    shape = (int(size[0]), int(size[1]), int(size[2]))
    spacing, direction = fixed[6:9], fixed[9:].reshape(3, 3)  # direction: row-major
    if np.any(spacing <= 0):
        raise ValueError(f"field spacing {spacing.tolist()} is not positive")
    count = int(np.prod(entry[_key(entry, "Parameters")].shape))
    if count != 3 * int(np.prod(shape)):
        raise ValueError(f"{count} displacement parameters for a {shape} grid of 3D vectors")
    lps = np.eye(4)
    lps[:3, :3], lps[:3, 3] = direction * spacing, fixed[3:6]  # columns scaled by spacing
    affine = LPS @ lps
    _check_grid(path, affine)
    return DisplacementField(str(path), key, shape, affine, stamp)


def _check_grid(path: Path, affine: np.ndarray) -> None:
    if not np.all(np.isfinite(affine)) or abs(np.linalg.det(affine[:3, :3])) < 1e-12:
        raise RegistrationError(
            f"the displacement field in {path} has a degenerate grid (affine {affine.tolist()}).",
            fix="Re-export the warp: its geometry is corrupt.",
        )


def _kind(entry: Any) -> str:
    kind = entry["TransformType"][0]
    return kind.decode() if isinstance(kind, bytes) else str(kind)


def _key(entry: Any, what: str) -> str:
    for name in (f"Transform{what}", f"Tranform{what}"):  # older ITK wrote the typo
        if name in entry:
            return name
    raise ValueError(f"no Transform{what} in entry {entry.name}")


def _numbers(entry: Any, what: str, n: int) -> np.ndarray:
    values = np.asarray(entry[_key(entry, what)], dtype=np.float64).ravel()
    if values.size != n or not np.all(np.isfinite(values)):
        raise ValueError(f"{entry.name}: {values.size} {what} (need {n} finite numbers)")
    return values


def _stamp(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return int(st.st_size), int(st.st_mtime_ns)


def _unreadable(path: Path, kind: str, err: BaseException) -> RegistrationError:
    return RegistrationError(
        f"cannot read {path} as {kind} ({type(err).__name__}: {err}).",
        fix="Check that the file is complete and of that format, or convert it "
        "(ConvertTransformFile, antsApplyTransforms).",
    )


class _Interpolant:
    """The deformation ``x + d(x)`` of a field, as cubic B-spline coefficients over its grid
    (nitransforms' ``DenseFieldTransform.map``, in float64)."""

    def __init__(self, affine: np.ndarray, deltas: np.ndarray):
        from scipy.ndimage import spline_filter

        self.to_index = np.linalg.inv(affine)
        i, j, k = np.ogrid[: deltas.shape[0], : deltas.shape[1], : deltas.shape[2]]
        self.coefficients = []
        for c in range(3):
            a = affine[c]
            grid = a[0] * i + a[1] * j + a[2] * k + a[3]  # the grid's RAS coordinate c
            self.coefficients.append(
                spline_filter(grid + deltas[..., c], order=3, output=np.float64, mode="constant")
            )

    def __call__(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from scipy.ndimage import map_coordinates

        ijk = (points @ self.to_index[:3, :3].T + self.to_index[:3, 3]).T
        out = np.empty_like(points, dtype=np.float64)
        for c, coef in enumerate(self.coefficients):
            out[:, c] = map_coordinates(
                coef, ijk, order=3, mode="constant", cval=np.nan, prefilter=False
            )
        outside = np.asarray(np.isnan(out).any(axis=1), dtype=bool)
        out[outside] = points[outside]
        return out, np.logical_not(outside)
