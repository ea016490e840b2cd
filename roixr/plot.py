"""Pictures of ROI masks and ROI time series (matplotlib, the ``plot`` extra).

:func:`plot_masks` draws a mosaic of slices along one voxel axis: every ROI in its colour
(the ROI source's colour table when it has one, a categorical palette otherwise), the right
hemisphere a lighter tint of the left's colour, over a background image on the masks' grid
(the transform's reference image, the subject's anatomy resampled into the grid, or any
image), with a legend. Binary masks are drawn opaque (``alpha``), fractions with
``alpha * fraction``, and index volumes through their labels. :func:`plot_timeseries` draws
``(roi, hemisphere, time)`` series, left solid and right dashed.

Both return a :class:`matplotlib.figure.Figure` made without pyplot, so they work headless
and leave no global state; in a notebook the figure shows itself, elsewhere save it with
``fig.savefig("masks.png")``.

The image is composed here (RGB, nearest neighbour), so a voxel's pixels hold exactly
``alpha * colour + (1 - alpha) * background``.
"""

from __future__ import annotations

import functools
import io
import math
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import dask
import numpy as np
import xarray as xr

from roixr.errors import MissingDependencyError, OptionError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from roixr.io.subject import SubjectLike

__all__ = [
    "compose",
    "hemisphere_colors",
    "plot_masks",
    "plot_timeseries",
    "require_matplotlib",
    "roi_colors",
]

SPATIAL = ("x", "y", "z")
Axis = Literal["x", "y", "z"]
#: Mix of the right hemisphere's colour with white (0: same colour, 1: white).
RIGHT_TINT = 0.45
#: The canvas where there is no background image.
NO_BACKGROUND = (0.0, 0.0, 0.0)
_LEGEND_COLUMNS = 6
_ORIENT = (("L", "R"), ("P", "A"), ("I", "S"))  # scanner axis -> (negative, positive) end


def require_matplotlib() -> None:
    """Raise :class:`MissingDependencyError` naming the fix unless matplotlib imports."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise MissingDependencyError(
            "roixr's pictures and reports need matplotlib, which is not installed. Install "
            "it with: pip install 'roixr[plot]' (or pip install matplotlib)."
        ) from None


@functools.cache
def _figure_class() -> type:
    from matplotlib.figure import Figure

    class RoixrFigure(Figure):
        """A matplotlib figure that shows itself in Jupyter without pyplot."""

        def _repr_png_(self) -> bytes:
            buffer = io.BytesIO()
            self.savefig(buffer, format="png", dpi=self.dpi)
            return buffer.getvalue()

    return RoixrFigure


def _figure(**kwargs: Any) -> Figure:
    """A figure made without pyplot (no global state, headless) that shows itself in
    Jupyter (``_repr_png_``), where figures not made by pyplot would print as text."""
    return _figure_class()(**kwargs)


# --- colours -------------------------------------------------------------------------------


def _palette() -> list[str]:
    """A categorical palette: tab10, then Dark2, Set1 and Set2 (duplicates removed)."""
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    out: list[str] = []
    for name in ("tab10", "Dark2", "Set1", "Set2"):
        for rgba in colormaps[name].colors:  # type: ignore[attr-defined]
            hexa = to_hex(rgba)
            if hexa not in out:
                out.append(hexa)
    return out


def roi_colors(
    names: Sequence[str], table: Mapping[str, str] | None = None
) -> dict[str, tuple[float, float, float]]:
    """An RGB colour for each ROI: from ``table`` when it names the ROI, else the palette.

    Parameters
    ----------
    names : sequence of str
        ROI names, in order.
    table : mapping, optional
        ``{name: colour}`` in any matplotlib colour spelling (``"#rrggbb"``, ``"red"``), such
        as the masks' ``attrs["roi_colors"]``.

    Returns
    -------
    dict of str to (r, g, b)
        Floats in [0, 1]. Palette colours already taken by the table are skipped.

    Examples
    --------
    >>> roi_colors(["V1", "V2"], {"V2": "#ff0000"})["V2"]
    (1.0, 0.0, 0.0)
    """
    from matplotlib.colors import to_hex, to_rgb

    table = dict(table or {})
    taken = {to_hex(c) for c in table.values()}
    free = iter([c for c in _palette() if c not in taken])
    out: dict[str, tuple[float, float, float]] = {}
    for i, name in enumerate(names):
        if name in table:
            out[name] = tuple(float(v) for v in to_rgb(table[name]))  # type: ignore[assignment]
        else:
            fallback = _palette()[i % len(_palette())]
            out[name] = tuple(float(v) for v in to_rgb(next(free, fallback)))  # type: ignore[assignment]
    return out


def hemisphere_colors(
    rgb: tuple[float, float, float],
) -> dict[str, tuple[float, float, float]]:
    """The colours of one ROI's hemispheres: ``{"L": rgb, "R": rgb tinted towards white}``."""
    c = np.asarray(rgb, dtype=float)
    right = c + (1.0 - c) * RIGHT_TINT
    return {"L": tuple(float(v) for v in c), "R": tuple(float(v) for v in right)}  # type: ignore[dict-item]


# --- inputs --------------------------------------------------------------------------------


def _as_masks(obj: xr.DataArray) -> xr.DataArray:
    """Masks ``(roi, hemisphere, x, y, z)`` from masks or an index volume (lazily)."""
    from roixr.convert import check_index_volume, check_masks, from_index_volume

    if isinstance(obj, xr.DataArray) and obj.dims == SPATIAL:
        check_index_volume(obj, func="plot_masks")
        colors = obj.attrs.get("roi_colors")
        masks = from_index_volume(obj)
        if colors:
            masks.attrs["roi_colors"] = colors
        return masks
    check_masks(obj, func="plot_masks")
    return obj


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


def _affine(masks: xr.DataArray) -> np.ndarray:
    affine = masks.attrs.get("affine")
    return np.eye(4) if affine is None else np.asarray(affine, dtype=float)


# --- backgrounds ---------------------------------------------------------------------------


def _normalise(values: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Grey levels in [0, 1]: the 2nd to 99th percentile of ``reference``'s non-zero values."""
    finite = reference[np.isfinite(reference) & (reference != 0)]
    if finite.size == 0:
        return np.zeros(values.shape)
    lo, hi = (float(v) for v in np.percentile(finite, [2, 99]))
    if hi <= lo:  # a constant image (a binary anatomy): its non-zero voxels in light grey
        lo, hi = min(lo, 0.0), max(hi, 0.0) / 0.8 if hi > 0 else lo + 1.0
    return np.clip((np.nan_to_num(values) - lo) / (hi - lo), 0, 1)


class _Background:
    """Grey levels of the displayed slices: an image on the grid, or one resampled into it."""

    def __init__(self, data: Any, vox2data: np.ndarray | None, label: str) -> None:
        self.data = data  # an (i, j, k) array-like, read slice by slice when resampling
        self.vox2data = vox2data  # masks voxel -> data voxel; None when on the grid
        self.label = label
        step = 2 if np.prod(data.shape[:3]) > 2e7 else 1  # percentiles from a subsample
        self._reference = np.asarray(data[::step, ::step, ::step], dtype=float)

    def slice(self, axis: int, index: int, shape: tuple[int, int, int]) -> np.ndarray:
        if self.vox2data is None:
            plane = np.take(np.asarray(self.data), index, axis=axis)
            return _normalise(np.asarray(plane, dtype=float), self._reference)
        from scipy.ndimage import map_coordinates

        grids = [np.arange(n, dtype=float) for n in shape]
        grids[axis] = np.array([float(index)])
        ijk = np.stack(np.meshgrid(*grids, indexing="ij"), axis=0).reshape(3, -1)
        src = self.vox2data[:3, :3] @ ijk + self.vox2data[:3, 3:]
        values = map_coordinates(np.asarray(self.data, dtype=float), src, order=1, cval=0.0)
        plane = values.reshape([n for d, n in enumerate(shape) if d != axis])
        return _normalise(plane, self._reference)


def _subject_of(masks: xr.DataArray, subject: SubjectLike | None):
    from roixr.io.subject import as_subject

    try:
        return as_subject(subject if subject is not None else masks.attrs.get("subject", ""))
    except Exception as err:
        raise OptionError(
            f"this background needs the subject, and {masks.attrs.get('subject')!r} could not "
            f"be found ({err}). Pass subject= (a folder or roixr.Subject), or a background "
            "image path or array."
        ) from None


def _background(
    masks: xr.DataArray, background: Any, subject: SubjectLike | None, resample: bool
) -> _Background | None:
    """The background of :func:`plot_masks` (see its ``background`` parameter)."""
    from roixr.io.images import load_volume

    shape = tuple(int(masks.sizes[d]) for d in SPATIAL)
    if background is None and subject is not None:
        background = "reference"
    if background is None:
        return None
    if isinstance(background, str) and background in ("reference", "anatomical"):
        subj = _subject_of(masks, subject)
        if background == "anatomical":
            img = load_volume(subj.path / "anatomicals" / "raw.nii.gz")
            coord = masks.attrs.get("xfm_coord")
            if coord is None:  # surface mm -> voxel unknown: go through scanner space
                vox2data = np.linalg.inv(img.affine) @ _affine(masks)
            else:  # masks voxel -> surface mm (the anatomy's scanner space) -> anatomy voxel
                vox2data = np.linalg.inv(img.affine) @ np.linalg.inv(np.asarray(coord, float))
            return _Background(img.dataobj, vox2data, f"anatomy of {subj.name}")
        try:
            path = subj.transform(str(masks.attrs.get("xfm"))).reference
        except Exception as err:
            raise OptionError(
                f"no reference image for transform {masks.attrs.get('xfm')!r} of subject "
                f"{subj.name!r} ({err}). Pass background= an image path or array."
            ) from None
        background = path
    if isinstance(background, str | os.PathLike):
        img = load_volume(background)
        data = img.dataobj if len(img.shape) == 3 else np.asarray(img.dataobj)[..., 0]
        on_grid = tuple(img.shape[:3]) == shape and np.allclose(
            img.affine, _affine(masks), atol=1e-3
        )
        if on_grid:
            return _Background(data, None, os.path.basename(str(background)))
        if not resample:
            raise OptionError(
                f"the background {background} is not on the masks' grid (shape "
                f"{tuple(img.shape[:3])} vs {shape}, or another affine). Pass resample=True "
                "to resample it through the affines, or an image on the grid."
            )
        vox2data = np.linalg.inv(img.affine) @ _affine(masks)
        return _Background(data, vox2data, os.path.basename(str(background)) + " (resampled)")
    values = background.transpose(*SPATIAL).values if isinstance(background, xr.DataArray) \
        else np.asarray(background)  # fmt: skip
    if values.shape != shape:
        raise OptionError(
            f"a background array must have the masks' grid shape {shape}; got {values.shape}. "
            "Pass a NIfTI path with resample=True to resample an image on another grid."
        )
    return _Background(values, None, "background")


# --- the mosaic ----------------------------------------------------------------------------


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
    masks = _as_masks(masks)
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
    bg = _background(masks, background, subject, resample)

    data = masks.transpose("roi", "hemisphere", *SPATIAL).data
    (values,) = dask.compute(data) if dask.is_dask_collection(data) else (np.asarray(data),)
    values = np.asarray(values)
    others = tuple(i + 2 for i in range(3) if i != dim)
    present = (values != 0).any(axis=(0, 1, *others))
    picks = _pick_slices(present, slices)
    empty = {n for n, v in zip(names, values, strict=True) if not v.any()}

    shape = values.shape[2:]
    affine = _affine(masks)
    (hd, vd) = [d for d in range(3) if d != dim]
    (hflip, hletters), (vflip, vletters) = _orientation(affine, hd), _orientation(affine, vd)
    n = len(picks)
    ncols = ncols or max(1, min(n, math.ceil(math.sqrt(n * 1.5))))
    nrows = math.ceil(n / ncols)
    aspect = shape[vd] / max(shape[hd], 1)
    mosaic_height = nrows * (panel_size * aspect + 0.3) + 0.4
    legend_rows = math.ceil(len(names) / _LEGEND_COLUMNS)
    legend_height = 0.45 + 0.2 * legend_rows if legend else 0.0
    fig = _figure(figsize=(max(ncols * panel_size, 4.0), mosaic_height + legend_height),
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


# --- time series ---------------------------------------------------------------------------


def plot_timeseries(
    ts: xr.DataArray,
    *,
    rois: str | Sequence[str] | None = None,
    time_dim: str = "time",
    colors: Mapping[str, str] | None = None,
    panel_size: tuple[float, float] = (7.0, 2.6),
    title: str | None = None,
) -> Figure:
    """ROI time series, one line per ROI and hemisphere (left solid, right dashed).

    Parameters
    ----------
    ts : xarray.DataArray
        From :func:`roixr.roi_timeseries`: dims ``roi``, ``hemisphere`` and ``time_dim``,
        plus at most one other dim (such as ``subject`` of a stacked cohort), drawn as one
        panel per value. Dask-backed series are computed.
    rois : str or sequence of str, optional
        Only these ROIs.
    time_dim : str, default "time"
    colors : mapping, optional
        ``{name: colour}`` overriding ``attrs["roi_colors"]``.
    panel_size : (float, float), default (7.0, 2.6)
        Inches per panel.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> ts = xr.DataArray(np.random.default_rng(0).random((2, 2, 20)),
    ...                   dims=("roi", "hemisphere", "time"),
    ...                   coords={"roi": ["V1", "V2"], "hemisphere": ["L", "R"]})
    >>> len(plot_timeseries(ts).axes[0].lines)
    4
    """
    require_matplotlib()
    if not isinstance(ts, xr.DataArray) or not {"roi", "hemisphere", time_dim} <= set(ts.dims):
        got = ts.dims if isinstance(ts, xr.DataArray) else type(ts).__name__
        raise OptionError(
            f"plot_timeseries takes ROI time series with dims ('roi', 'hemisphere', "
            f"{time_dim!r}) (from roixr.roi_timeseries); got {got}. Pass time_dim= if the "
            "time dim has another name."
        )
    extra = [d for d in ts.dims if d not in ("roi", "hemisphere", time_dim)]
    if len(extra) > 1:
        raise OptionError(
            f"plot_timeseries draws one extra dim as panels; got {extra}. Select or average "
            "the others first (ts.sel(...), ts.mean(...))."
        )
    if rois is not None:
        ts = ts.sel(roi=[rois] if isinstance(rois, str) else list(rois))
    ts = ts.compute()
    names = [str(n) for n in ts["roi"].values]
    rgb = roi_colors(names, {**dict(ts.attrs.get("roi_colors") or {}), **dict(colors or {})})
    panels = [(None, ts)] if not extra else [
        (f"{extra[0]} = {v}", ts.sel({extra[0]: v})) for v in ts[extra[0]].values
    ]  # fmt: skip
    fig = _figure(figsize=(panel_size[0], panel_size[1] * len(panels) + 0.6), layout="constrained")
    axes = fig.subplots(len(panels), 1, squeeze=False, sharex=True)[:, 0]
    x = ts[time_dim].values if time_dim in ts.coords else np.arange(ts.sizes[time_dim])
    for ax, (label, part) in zip(axes, panels, strict=True):
        for name in names:
            for hemi, style in (("L", "-"), ("R", "--")):
                y = part.sel(roi=name, hemisphere=hemi).transpose(time_dim).values
                ax.plot(x, y, style, color=rgb[name], lw=1.2, label=f"{name} {hemi}")
        if label:
            ax.set_title(label, fontsize="small")
        ax.set_ylabel(str(ts.attrs.get("stat", ts.name or "value")))
        ax.grid(alpha=0.3)
    unit = ts[time_dim].attrs.get("units") if time_dim in ts.coords else None
    axes[-1].set_xlabel(f"{time_dim} ({unit})" if unit else time_dim)
    axes[0].legend(fontsize="x-small", ncol=min(2 * len(names), 6), loc="upper right",
                   frameon=False)  # fmt: skip
    if title is None:
        title = " · ".join(
            str(ts.attrs[k]) for k in ("subject", "xfm", "sampler") if k in ts.attrs
        )
    if title:
        fig.suptitle(title, fontsize="medium")
    return fig
