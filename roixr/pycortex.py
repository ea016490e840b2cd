"""``roixr.get_roi_masks``: a drop-in replacement for pycortex's ``get_roi_masks``.

Same signature, defaults and return types as pycortex 1.4's ``cortex.utils.get_roi_masks``.
It runs the chunk routine of :func:`roixr.roi_masks` on one chunk with the local executor
(:mod:`roixr.sampling.local`):
no dask graph, no dense 5-D block, float64 fractions written straight into pycortex's
``(z, y, x)`` arrays. Deviations, where pycortex is wrong, are listed in
``docs/deviations.md``: 'cortical-liberal' returns true fractions; ``exclude_empty_rois``
also drops ROIs without vertices; ``fail_for_missing_rois=False`` keeps the requested order;
reports go through ``warnings`` rather than ``print``.
"""

from __future__ import annotations

import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from roixr.errors import CoverageWarning, FormError
from roixr.io.subject import as_subject
from roixr.sampling import local
from roixr.sampling.geometry import surfaces_of
from roixr.sampling.local import GridColumns
from roixr.sampling.plan import CORTEX, make_plan
from roixr.sampling.registry import get_sampler

__all__ = ["get_roi_masks"]


def get_roi_masks(
    subject,
    xfmname,
    roi_list=None,
    gm_sampler="cortical",
    split_lr=False,
    allow_overlap=False,
    fail_for_missing_rois=True,
    exclude_empty_rois=False,
    threshold=None,
    return_dict=True,
    overlay_file=None,
):
    """Masks of ROIs in a transform's grid, as pycortex's ``get_roi_masks`` returns them.

    Parameters
    ----------
    subject : Subject, path-like or str
        A subject (name, folder or :class:`roixr.Subject`).
    xfmname : str
        Transform name.
    roi_list : str or list of str, optional
        ROI names; all when None. ``"Cortex"`` adds cortical voxels in no other requested ROI.
    gm_sampler : str or float
        ``"cortical"``, ``"thick"``, ``"thin"``, a distance in mm, ``"cortical-conservative"``
        or ``"cortical-liberal"``.
    split_lr : bool
        Split each ROI into ``<name>_L`` and ``<name>_R``.
    allow_overlap : bool
        Keep voxels claimed by more than one ROI.
    fail_for_missing_rois : bool
        Raise when a requested ROI is not in the overlays.
    exclude_empty_rois : bool
        Drop ROIs with no voxels in the scan (and, unlike pycortex, ROIs without vertices).
    threshold : float, optional
        Turn fractions into booleans (``fraction > threshold``).
    return_dict : bool
        True: a dict of masks. False: ``(index_volume, index_labels)``.
    overlay_file : path-like, optional
        Another overlays SVG.

    Returns
    -------
    dict of str to ndarray, or (ndarray, dict)
        Masks in pycortex's ``(z, y, x)`` layout (bool, or float64 fractions), or a signed
        int64 index volume (left hemisphere negative) and ``{name: index}``.
    """
    sampler = get_sampler(gm_sampler)
    if isinstance(roi_list, str):
        roi_list = [roi_list]
    if not return_dict:
        split_lr = True
        if sampler.fractional and threshold is None:
            raise FormError(
                f"You must set a threshold for gm_sampler={gm_sampler} if you want an "
                "indexed volume output"
            )
    subj = as_subject(subject).preload()
    transform = subj.transform(xfmname)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="roixr-prepare") as pool:
        # the k-d tree and the sampler's preparation need only the surfaces: they run in a
        # thread while the ROIs are read here
        warm = pool.submit(local.prepare, sampler, surfaces_of(subj, transform), transform)
        plan = make_plan(
            subj,
            transform,
            roi_list,
            sampler,
            threshold=threshold if sampler.fractional else None,
            allow_overlap=allow_overlap,
            fail_for_missing_rois=fail_for_missing_rois,
            overlay_file=overlay_file,
        )
        prepared = warm.result()
    grid = local.run(plan, prepared)  # numpy, one chunk: no dask graph, no dense 5-D block
    names = list(plan.order)
    rows = plan.row_order()
    # pycortex's warnings and exclude_empty_rois use its own measure (vertices its sampling
    # found), not the field-of-view coverage of roi_masks: the drop-in keeps its results
    coverage = {n: float(grid.found[r]) for n, r in zip(names, rows, strict=True)}
    # pycortex ignores exclude_empty_rois for its index form, but still warns
    dropped = _coverage_warnings(coverage, sampler.name, exclude_empty_rois and return_dict)
    if not return_dict:
        return _index_volume(grid, rows), {name: i + 1 for i, name in enumerate(names)}
    out = _masks_dict(grid, names, rows, split_lr)
    if not split_lr and CORTEX in out:  # pycortex adds 'Cortex' after the real ROIs
        out[CORTEX] = out.pop(CORTEX)
    return {k: v for k, v in out.items() if (k[:-2] if split_lr else k) not in dropped}


def _masks_dict(
    grid: GridColumns, names: list[str], rows: list[int], split_lr: bool
) -> dict[str, np.ndarray]:
    """pycortex's dict: ``(z, y, x)`` bool masks or float64 fractions per ROI (or hemisphere)."""
    flat = grid.flat_index("pycortex")
    zyx = grid.shape[::-1]
    dtype = bool if grid.values.dtype == bool else np.float64
    sides = [("_L", grid.left), ("_R", ~grid.left)] if split_lr else [("", slice(None))]
    out = {}
    size = int(np.prod(zyx))
    for name, row in zip(names, rows, strict=True):
        values = grid.values[row]
        for suffix, side in sides:
            # a voxel may be listed once per hemisphere (the ribbon sampler): entries add up
            if dtype is bool:
                volume = np.zeros(zyx, dtype=bool)  # calloc: pages untouched stay free
                volume.ravel()[flat[side][values[side]]] = True
            else:
                volume = np.bincount(flat[side], values[side], size).astype(np.float64)
                volume = volume.reshape(zyx)  # (bincount of nothing is int64: cast)
            out[name + suffix] = volume
    return out


def _index_volume(grid: GridColumns, rows: list[int]) -> np.ndarray:
    """pycortex's int64 ``(z, y, x)`` index volume: ROI ``i`` is ``-(i+1)`` on the left and
    ``i+1`` on the right; later ROIs win where they overlap."""
    flat = grid.flat_index("pycortex")
    volume = np.zeros(grid.shape[::-1], dtype=np.int64)
    sign = np.where(grid.left, -1, 1)
    for i, row in enumerate(rows):
        hit = grid.values[row].astype(bool)
        volume.ravel()[flat[hit]] = sign[hit] * (i + 1)
    return volume


def _coverage_warnings(coverage: dict, sampler_name, exclude: bool) -> set[str]:
    """pycortex's coverage warnings; the ROIs to drop when ``exclude``."""
    dropped = set()
    for name, pct in coverage.items():
        if name == CORTEX:
            continue
        if np.isnan(pct) or pct == 0:
            warnings.warn(
                f"ROI {name} is entirely missing from your scan protocol!",
                CoverageWarning,
                stacklevel=3,
            )
            if exclude:
                dropped.add(name)
        elif pct < 100 and sampler_name == "cortical-conservative":
            warnings.warn(
                f"ROI {name} is only {pct:0.2f}% contained in your scan protocol!",
                CoverageWarning,
                stacklevel=3,
            )
    return dropped
