"""``roixr.roi_masks``: lazy ``(roi, hemisphere, x, y, z)`` ROI masks as an xarray DataArray."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

import dask
import dask.array as da
import numpy as np
import xarray as xr
from dask.base import tokenize

from roixr import __version__
from roixr.errors import OptionError
from roixr.forms import HEMISPHERES, MASK_DIMS, MASKS_NAME
from roixr.io.subject import SubjectLike, XfmLike
from roixr.rois.protocol import SourceLike
from roixr.sampling.graph import build
from roixr.sampling.options import coverage
from roixr.sampling.plan import CORTEX, Plan, make_plan
from roixr.sampling.protocol import Sampler

__all__ = ["CORTEX", "roi_masks"]


def _chunks(chunks: Any, shape: tuple[int, int, int], n_out: int, dtype: np.dtype):
    if isinstance(chunks, Mapping):
        unknown = set(chunks) - {"x", "y", "z"}
        if unknown:
            raise OptionError(
                f"chunks keys must be among 'x', 'y', 'z', got {sorted(unknown)}; the roi and "
                "hemisphere dims are never chunked"
            )
        chunks = tuple(chunks.get(d, "auto") for d in ("x", "y", "z"))
    # dask's "auto" sizes chunks by bytes; each spatial chunk carries 2 * n_out values per
    # voxel, and small grids still get a few chunks per core so the kernels run in parallel
    limit = dask.utils.parse_bytes(dask.config.get("array.chunk-size")) // max(2 * n_out, 1)
    per_core = int(np.prod(shape)) * dtype.itemsize // (2 * (os.cpu_count() or 1))
    try:
        out = da.core.normalize_chunks(
            chunks, shape, dtype=dtype, limit=max(min(limit, per_core), 1)
        )
        if any(c <= 0 for axis in out for c in axis) and np.prod(shape):
            raise ValueError("chunk sizes must be positive")
        return out
    except (ValueError, TypeError, ZeroDivisionError) as err:
        raise OptionError(
            f"invalid chunks {chunks!r} for the grid {shape}: {err}.",
            fix="Use 'auto', an int, a 3-tuple, or a dict keyed by 'x', 'y', 'z' (sizes > 0, "
            "or -1 for a whole axis).",
            option="chunks",
        ) from None


def roi_masks(
    subject: SubjectLike,
    xfm: XfmLike,
    rois: str | Iterable[str] | None = None,
    sampler: str | float | Sampler = "cortical",
    *,
    threshold: float | None = None,
    allow_overlap: bool = False,
    fail_for_missing_rois: bool = True,
    exclude_empty_rois: bool = False,
    overlay_file: str | os.PathLike | None = None,
    source: SourceLike = None,
    chunks: Any = "auto",
) -> xr.DataArray:
    """Volumetric ROI masks in a transform's functional grid, lazily.

    Parameters
    ----------
    subject : Subject, path-like or str
        A :class:`roixr.Subject`, a subject folder, or a subject name.
    xfm : str, pair or Transform
        The transform's name (``"identity"`` for the anatomical grid), or a
        ``(reference_image, registration)`` pair: the reference image gives the grid, the
        registration (a :class:`roixr.Registration`, a path to an ``.lta``, ``register.dat``,
        FSL ``.mat`` or ITK/ANTs affine, a 4×4 array, or ``"identity"``) relates it to the
        subject's anatomy.
    rois : str or list of str, optional
        ROI names, in the order wanted; all ROIs of the source when None. ``"Cortex"`` adds
        the cortical voxels in none of the other requested ROIs (binary samplers only).
    sampler : str, float or Sampler
        ``"cortical"``, ``"thick"``, ``"thin"``, a distance in mm, ``"cortical-conservative"``,
        ``"cortical-liberal"``, ``"ribbon"`` (exact partial-volume fractions), or a
        registered sampler (see :func:`roixr.register_sampler`).
    threshold : float, optional
        In [0, 1]: fractional samplers give ``fraction > threshold`` booleans.
    allow_overlap : bool
        False removes voxels claimed by more than one ROI (as pycortex).
    fail_for_missing_rois : bool
        Raise for requested ROIs missing from the source; else warn and skip them.
    exclude_empty_rois : bool
        Drop ROIs with no vertices, and ROIs none of whose vertices lie inside the volume's
        field of view (zero coverage; known without computing the masks).
    overlay_file : path-like, optional
        Another overlays SVG instead of the subject's ``overlays.svg`` (pycortex's spelling
        of ``source=``).
    source : optional
        Where the ROIs come from: an overlays ``.svg`` path, a mapping ``{name: {"L":
        vertices, "R": vertices}}``, or any :class:`roixr.rois.RoiSource`; the subject's
        ``overlays.svg`` when None.
    chunks : "auto", int, 3-tuple or dict
        Chunks over x, y, z, as dask takes them (a dict keyed by ``"x"``, ``"y"``, ``"z"``).

    Returns
    -------
    xarray.DataArray
        ``roi_masks`` with dims ``(roi, hemisphere, x, y, z)``, dask-backed: bool for binary
        samplers (or with a threshold), float32 fractions otherwise. Coords ``roi``,
        ``hemisphere`` (``["L", "R"]``), ``x``, ``y``, ``z`` and ``coverage`` (percent of each
        ROI's vertices whose fiducial position lies inside the volume's field of view, the
        same meaning for every sampler; NaN for ROIs without vertices and 'Cortex'). Attrs
        are JSON-serialisable.

    Raises
    ------
    OptionError
        Unknown sampler, threshold outside [0, 1], bad chunks.
    RoiNotFoundError
        A requested ROI is missing and ``fail_for_missing_rois`` is True.
    TransformError, TransformNotFoundError
        The transform is missing, empty or not invertible.

    Examples
    --------
    >>> import tempfile, roixr
    >>> path = roixr.datasets.synthetic_subject(tempfile.mkdtemp() + "/synth")
    >>> masks = roixr.roi_masks(path, "fullhead", ["V1", "CUT"])
    >>> masks.dims, masks.dtype.name, masks.sizes["roi"]
    (('roi', 'hemisphere', 'x', 'y', 'z'), 'bool', 2)
    >>> int(masks.sel(roi="V1").sum())  # computes
    221
    """
    plan = make_plan(
        subject,
        xfm,
        rois,
        sampler,
        threshold=threshold,
        allow_overlap=allow_overlap,
        fail_for_missing_rois=fail_for_missing_rois,
        drop_vertexless=exclude_empty_rois,
        source=source,
        overlay_file=overlay_file,
    )
    data = build(plan, _chunks(chunks, plan.shape, len(plan.rows), plan.dtype))
    cover = coverage(plan.table, plan.surfaces.fiducial, plan.coord, plan.shape)
    if plan.options.cortex:  # Cortex has no vertices of its own: NaN coverage
        cover = np.append(cover, np.nan)
    masks = _wrap(data, cover, plan)
    if list(plan.order) != list(plan.rows):
        masks = masks.isel(roi=plan.row_order())  # the requested order, by name
    if exclude_empty_rois:
        found = masks.coverage.values
        keep_idx = [i for i, (n, c) in enumerate(zip(plan.order, found, strict=True))
                    if n == CORTEX or c > 0]  # fmt: skip
        masks = masks.isel(roi=keep_idx)
    return masks


def _wrap(data: da.Array, cover: np.ndarray, plan: Plan) -> xr.DataArray:
    nx, ny, nz = plan.shape
    transform = plan.transform
    coords = {
        "roi": np.array(plan.rows, dtype=object).astype(str),
        "hemisphere": np.array(HEMISPHERES),
        "x": np.arange(nx),
        "y": np.arange(ny),
        "z": np.arange(nz),
        # computed now (cheap); a dask array with a content name, as other coords' data
        "coverage": (
            "roi",
            da.from_array(cover, chunks=-1, name=f"roixr-coverage-{tokenize(cover)}"),
        ),
    }
    attrs = {
        "subject": plan.subject.name,
        "xfm": transform.name,
        "sampler": plan.sampler.label,
        "threshold": plan.options.threshold,
        "allow_overlap": plan.options.allow_overlap,
        "source": plan.source,
        "affine": np.asarray(transform.affine, dtype=float).tolist(),
        "xfm_coord": np.asarray(transform.coord, dtype=float).tolist(),
        "roixr_version": __version__,
    }
    if plan.table.colors:
        attrs["roi_colors"] = {n: plan.table.colors[n] for n in plan.order
                               if n in plan.table.colors}  # fmt: skip
    return xr.DataArray(data, dims=MASK_DIMS, coords=coords, attrs=attrs, name=MASKS_NAME)
