"""ROI time series: :func:`plot_timeseries`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from roixr.errors import OptionError
from roixr.plot.colors import figure, require_matplotlib, roi_colors

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["plot_timeseries"]


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
    fig = figure(figsize=(panel_size[0], panel_size[1] * len(panels) + 0.6), layout="constrained")
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
