"""The mosaic of slices: :func:`plot_masks`."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import dask
import numpy as np
import xarray as xr

from roixr.convert import as_masks
from roixr.errors import OptionError
from roixr.forms import SPATIAL
from roixr.plot.background import background_of, grid_affine
from roixr.plot.colors import (
    NO_BACKGROUND,
    figure,
    hemisphere_colors,
    require_matplotlib,
    roi_colors,
)

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from roixr.io.subject import SubjectLike

__all__ = ["compose", "plot_masks"]

Axis = Literal["x", "y", "z"]
_LEGEND_COLUMNS = 6
_ORIENT = (("L", "R"), ("P", "A"), ("I", "S"))  # scanner axis -> (negative, positive) end


def _check_axis(axis: str) -> int:
    if axis not in SPATIAL:
        raise OptionError(f"axis must be 'x', 'y' or 'z' (a voxel axis); got {axis!r}.")
    return SPATIAL.index(axis)


def _pick_slices(present: np.ndarray, slices: int | Sequence[int]) -> list[int]:
    """Slice indices: the given ones, or ``slices`` evenly spaced where some mask is."""
    n = present.shape[0]
    if isinstance(slices, int | np.integer):
        if slices < 1:
            raise OptionError(
                f"slices must be a positive count or a list of indices; got {slices}"
            )
        where = np.flatnonzero(present)
        lo, hi = (int(where[0]), int(where[-1])) if where.size else (0, n - 1)
        spaced = np.unique(np.round(np.linspace(lo, hi, min(int(slices), hi - lo + 1))))
        return [int(i) for i in spaced]
    picks = [int(i) for i in slices]
    bad = [i for i in picks if not 0 <= i < n]
    if bad or not picks:
        raise OptionError(f"slice indices must be in [0, {n - 1}]; got {list(slices)}.")
    return picks


def _orientation(affine: np.ndarray, dim: int) -> tuple[bool, tuple[str, str]]:
    """Whether voxel axis ``dim`` runs against its scanner axis, and that axis's end letters."""
    column = affine[:3, dim]
    k = int(np.argmax(np.abs(column)))
    return bool(column[k] < 0), _ORIENT[k]


def compose(
    values: np.ndarray,
    colors: Sequence[Mapping[str, tuple[float, float, float]]],
    base: np.ndarray,
    alpha: float,
) -> np.ndarray:
    """RGB of a slice: ``values`` ``(roi, hemisphere, u, v)`` over ``base`` ``(u, v, 3)``.

    Each ROI and hemisphere is laid over the result in turn with opacity ``alpha * value``
    (bool values are 0 or 1), so later ROIs cover earlier ones where they overlap.
    """
    out = base.astype(float, copy=True)
    for r, hemis in enumerate(colors):
        for h, hemi in enumerate(("L", "R")):
            a = alpha * np.clip(values[r, h].astype(float), 0, 1)[..., None]
            if a.any():
                out = out * (1 - a) + np.asarray(hemis[hemi]) * a
    return out


def _legend(fig: Any, names: list[str], colors: list[dict], empty: set[str]) -> None:
    from matplotlib.legend_handler import HandlerTuple
    from matplotlib.patches import Patch

    handles = [(Patch(color=c["L"]), Patch(color=c["R"])) for c in colors]
    labels = [f"{n} (empty)" if n in empty else n for n in names]
    ncol = max(1, min(len(names), _LEGEND_COLUMNS))
    fig.legend(
        handles,
        labels,
        handler_map={tuple: HandlerTuple(ndivide=None, pad=0)},
        loc="center",
        ncol=ncol,
        fontsize="small",
        frameon=False,
        title="ROI (left | right hemisphere)",
        title_fontsize="small",
    )


def plot_masks(
    masks: xr.DataArray,
    *,
    axis: Axis = "z",
    slices: int | Sequence[int] = 12,
    rois: str | Sequence[str] | None = None,
    background: Any = None,
    subject: SubjectLike | None = None,
    resample: bool = False,
    colors: Mapping[str, str] | None = None,
    alpha: float = 0.8,
    ncols: int | None = None,
    panel_size: float = 2.0,
    legend: bool = True,
    title: str | None = None,
) -> Figure:
    """A mosaic of slices of ROI masks, in ROI colours, over a background image.

    Parameters
    ----------
    masks : xarray.DataArray
        Masks ``(roi, hemisphere, x, y, z)`` (bool or fractions) or a signed index volume
        ``(x, y, z)``; dask-backed ones are computed once.
    axis : {"x", "y", "z"}, default "z"
        The voxel axis the slices cut across.
    slices : int or sequence of int, default 12
        How many slices, evenly spaced over the extent of the masks along ``axis`` (the
        whole axis where all are empty), or the slice indices.
    rois : str or sequence of str, optional
        Draw only these ROIs (all by default).
    background : optional
        None: the transform's reference image when ``subject`` is given, else black.
        ``"reference"``: the reference image of the masks' transform (``attrs["xfm"]``).
        ``"anatomical"``: the subject's ``anatomicals/raw.nii.gz`` resampled into the
        masks' grid through the transform. A NIfTI path (on the masks' grid, or any grid
        with ``resample=True``), or an ``(x, y, z)`` array or DataArray on the grid.
    subject : Subject, path-like or str, optional
        The subject, for ``"reference"`` and ``"anatomical"``; by default looked up by the
        name in ``attrs["subject"]``.
    resample : bool, default False
        Resample a background NIfTI on another grid (through its affine and the masks'
        ``attrs["affine"]``, linear interpolation).
    colors : mapping, optional
        ``{name: colour}`` overriding the masks' ``attrs["roi_colors"]``; other ROIs take
        the palette.
    alpha : float, default 0.8
        Opacity of a full voxel; a fraction ``f`` is drawn with ``alpha * f``.
    ncols : int, optional
        Panels per row (by default about a square mosaic).
    panel_size : float, default 2.0
        Inches per panel.
    legend : bool, default True
        A legend of ROI colours (left and right hemisphere side by side).
    title : str, optional
        By default subject, transform and sampler.

    Returns
    -------
    matplotlib.figure.Figure
        Save it with ``fig.savefig(path)``. Panels are drawn in scanner orientation (the
        axis closest to scanner right, anterior or superior increases to the right or up)
        and labelled with the slice index; the first panel's edges carry the letters of
        the scanner directions (``L``/``R``, ``P``/``A``, ``I``/``S``).

    Raises
    ------
    FormError
        ``masks`` is neither masks nor an index volume.
    OptionError
        A bad axis, slice index, ROI name or background.

    Examples
    --------
    >>> import tempfile, roixr
    >>> path = roixr.datasets.synthetic_subject(tempfile.mkdtemp() + "/synth")
    >>> masks = roixr.roi_masks(path, "fullhead", ["V1", "A"])
    >>> fig = roixr.plot.plot_masks(masks, slices=4, subject=path)
    >>> len(fig.axes)
    4
    """
    require_matplotlib()
    masks = as_masks(masks, func="plot_masks")
    dim = _check_axis(axis)
    if not 0 <= alpha <= 1:
        raise OptionError(f"alpha must be in [0, 1]; got {alpha}.")
    if rois is not None:
        wanted = [rois] if isinstance(rois, str) else list(rois)
        unknown = [r for r in wanted if r not in masks["roi"].values.tolist()]
        if unknown:
            raise OptionError(
                f"no ROI {unknown} in the masks; they hold {masks['roi'].values.tolist()}."
            )
        masks = masks.sel(roi=wanted)
    names = [str(n) for n in masks["roi"].values]
    table = {**dict(masks.attrs.get("roi_colors") or {}), **dict(colors or {})}
    rgb = roi_colors(names, table)
    hemis = [hemisphere_colors(rgb[n]) for n in names]
    bg = background_of(masks, background, subject, resample)

    data = masks.transpose("roi", "hemisphere", *SPATIAL).data
    (values,) = dask.compute(data) if dask.is_dask_collection(data) else (np.asarray(data),)
    values = np.asarray(values)
    others = tuple(i + 2 for i in range(3) if i != dim)
    present = (values != 0).any(axis=(0, 1, *others))
    picks = _pick_slices(present, slices)
    empty = {n for n, v in zip(names, values, strict=True) if not v.any()}

    shape = values.shape[2:]
    affine = grid_affine(masks)
    (hd, vd) = [d for d in range(3) if d != dim]
    (hflip, hletters), (vflip, vletters) = _orientation(affine, hd), _orientation(affine, vd)
    n = len(picks)
    ncols = ncols or max(1, min(n, math.ceil(math.sqrt(n * 1.5))))
    nrows = math.ceil(n / ncols)
    aspect = shape[vd] / max(shape[hd], 1)
    mosaic_height = nrows * (panel_size * aspect + 0.3) + 0.4
    legend_rows = math.ceil(len(names) / _LEGEND_COLUMNS)
    legend_height = 0.45 + 0.2 * legend_rows if legend else 0.0
    fig = figure(figsize=(max(ncols * panel_size, 4.0), mosaic_height + legend_height),
                 layout="constrained", facecolor="white")  # fmt: skip
    top: Any = fig
    bottom: Any = None
    if legend:
        parts: Any = fig.subfigures(2, 1, height_ratios=[mosaic_height, legend_height])
        top, bottom = parts
    axes = top.subplots(nrows, ncols, squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.remove()
    for i, (ax, index) in enumerate(zip(axes.ravel(), picks, strict=False)):
        sl = np.take(values, index, axis=dim + 2)  # (roi, hemi, u, v)
        if bg is None:
            base = np.broadcast_to(np.asarray(NO_BACKGROUND), (*sl.shape[2:], 3))
        else:
            base = np.repeat(bg.slice(dim, index, shape)[..., None], 3, axis=-1)
        image = compose(sl, hemis, base, alpha)  # (u, v, 3): u across, v up
        if hflip:
            image = image[::-1]
        if vflip:
            image = image[:, ::-1]
        ax.imshow(np.swapaxes(image, 0, 1), origin="lower", interpolation="nearest",
                  aspect="equal")  # fmt: skip
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(f"{axis} = {index}", fontsize="small", pad=2)
        if i == 0:
            kw = {"transform": ax.transAxes, "fontsize": "x-small", "color": "0.3"}
            ax.text(-0.02, 0.5, hletters[0], ha="right", va="center", **kw)
            ax.text(1.02, 0.5, hletters[1], ha="left", va="center", **kw)
            ax.text(0.5, -0.02, vletters[0], ha="center", va="top", **kw)
    if bottom is not None:
        _legend(bottom, names, hemis, empty)
    if title is None:
        a = masks.attrs
        title = f"{a.get('subject', '')}  ·  {a.get('xfm', '')}  ·  {a.get('sampler', '')}"
        if bg is not None:
            title += f"  ·  over {bg.label}"
    if title:
        top.suptitle(title, fontsize="medium")
    return fig
