"""Self-contained HTML reports of ROI masks, of a store, and of a cohort store.

A report is one HTML file that needs nothing else: its pictures are embedded as PNG data
URIs, its style is inline, it has no script, so it reads offline and can be mailed or
archived with the data. :func:`report` describes one masks DataArray: mosaics of slices
over the reference image (see :func:`roixr.plot.plot_masks`), a table per ROI and
hemisphere (voxels, volume in mm³, coverage, and for fractional samplers the partial-volume
sum), and the masks' attributes and the store's provenance. :func:`report_store` reports a
zarr store: a single subject's page, or for a cohort an index page linking every subject
with its status (complete, failed, unfinished) and one page per complete subject.
"""

from __future__ import annotations

import base64
import datetime
import html
import io
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import dask
import numpy as np
import xarray as xr

from roixr.convert import as_masks
from roixr.errors import OutputPathError
from roixr.forms import SPATIAL

__all__ = ["report", "report_store", "roi_table", "subject_status"]

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 70em; color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
.meta { color: #666; font-size: 0.9em; }
table { border-collapse: collapse; font-size: 0.9em; margin: 0.5em 0; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25em 0.8em; text-align: right; }
th { background: #f4f4f4; } td.l, th.l { text-align: left; }
td pre { margin: 0; text-align: left; white-space: pre-wrap; max-width: 50em; }
img { max-width: 100%; height: auto; display: block; margin: 0.5em 0; }
.swatch { display: inline-block; width: 0.9em; height: 0.9em; vertical-align: middle;
          border: 1px solid #999; margin-right: 0.1em; }
.complete { color: #1a7f37; } .failed { color: #cf222e; } .unfinished { color: #9a6700; }
.note { background: #fff8c5; padding: 0.4em 0.8em; border-radius: 4px; }
"""


# --- numbers -------------------------------------------------------------------------------


def voxel_volume(masks: xr.DataArray) -> float | None:
    """One voxel's volume in mm³, from ``attrs["affine"]`` (None without an affine)."""
    affine = masks.attrs.get("affine")
    if affine is None:
        return None
    return round(float(abs(np.linalg.det(np.asarray(affine, dtype=float)[:3, :3]))), 9)


def roi_table(masks: xr.DataArray) -> list[dict[str, Any]]:
    """One row per ROI and hemisphere: what the report's table shows.

    Parameters
    ----------
    masks : xarray.DataArray
        Masks ``(roi, hemisphere, x, y, z)`` or an index volume; dask ones are computed once.

    Returns
    -------
    list of dict
        Keys ``roi``, ``hemisphere``, ``voxels`` (voxels with a non-zero value),
        ``volume_mm3`` (``voxels`` times the voxel volume; None without an affine),
        ``coverage`` (percent of the ROI's vertices in the volume; None when unknown) and,
        for fractions, ``pv_sum`` (the sum of the fractions, in voxels) and ``pv_mm3``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> data = np.zeros((1, 2, 2, 1, 1), bool); data[0, 1, 1] = True
    >>> masks = xr.DataArray(data, dims=("roi", "hemisphere", "x", "y", "z"),
    ...                      coords={"roi": ["V1"], "hemisphere": ["L", "R"]},
    ...                      attrs={"affine": np.diag([2.0, 2.0, 2.0, 1.0]).tolist()})
    >>> [(r["hemisphere"], r["voxels"], r["volume_mm3"]) for r in roi_table(masks)]
    [('L', 0, 0.0), ('R', 1, 8.0)]
    """
    masks = as_masks(masks, func="roi_table")
    fractional = masks.dtype != bool
    counts = (masks != 0).sum(SPATIAL)
    sums = masks.sum(SPATIAL, dtype=np.float64) if fractional else counts
    coverage = masks["coverage"] if "coverage" in masks.coords else None
    counts, sums, coverage = dask.compute(counts, sums, coverage)
    vv = voxel_volume(masks)
    rows = []
    for r, name in enumerate(masks["roi"].values):
        cov = None if coverage is None else float(coverage.values[r])
        for h, hemi in enumerate(masks["hemisphere"].values):
            n = int(counts.values[r, h])
            row: dict[str, Any] = {
                "roi": str(name),
                "hemisphere": str(hemi),
                "voxels": n,
                "volume_mm3": None if vv is None else n * vv,
                "coverage": None if cov is None or np.isnan(cov) else cov,
            }
            if fractional:
                pv = float(sums.values[r, h])
                row["pv_sum"] = pv
                row["pv_mm3"] = None if vv is None else pv * vv
            rows.append(row)
    return rows


# --- HTML pieces ---------------------------------------------------------------------------


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _number(value: Any, digits: int = 1) -> str:
    if value is None:
        return "–"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    return f"{float(value):,.{digits}f}"


def figure_uri(fig: Any, dpi: int = 96) -> str:
    """A matplotlib figure as a ``data:image/png;base64,...`` URI."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _value_cell(value: Any) -> str:
    if isinstance(value, Mapping | list | tuple):
        text = json.dumps(value, indent=1, default=str)
        if len(text) > 2000:
            text = text[:2000] + " …"
        return f"<td class='l'><pre>{_e(text)}</pre></td>"
    return f"<td class='l'>{_e(value)}</td>"


def _attrs_table(attrs: Mapping[str, Any], skip: Sequence[str] = ()) -> str:
    rows = "".join(
        f"<tr><th class='l'>{_e(k)}</th>{_value_cell(v)}</tr>"
        for k, v in attrs.items()
        if k not in skip
    )
    return f"<table>{rows}</table>" if rows else "<p class='meta'>(none)</p>"


def _roi_rows_html(rows: list[dict[str, Any]], colors: Mapping[str, Any]) -> str:
    from roixr.plot import hemisphere_colors

    fractional = any("pv_sum" in r for r in rows)
    head = ["ROI", "hemisphere", "voxels", "volume (mm³)", "coverage (%)"]
    if fractional:
        head += ["partial-volume sum (voxels)", "partial volume (mm³)"]
    cells = "".join(f"<th class='l'>{h}</th>" if i < 2 else f"<th>{h}</th>"
                    for i, h in enumerate(head))  # fmt: skip
    out = [f"<table><tr>{cells}</tr>"]
    for r in rows:
        rgb = hemisphere_colors(colors[r["roi"]])[r["hemisphere"]]
        swatch = "#" + "".join(f"{round(255 * c):02x}" for c in rgb)
        row = [
            f"<td class='l'><span class='swatch' style='background:{swatch}'></span> "
            f"{_e(r['roi'])}</td>",
            f"<td class='l'>{_e(r['hemisphere'])}</td>",
            f"<td>{_number(r['voxels'])}</td>",
            f"<td>{_number(r['volume_mm3'])}</td>",
            f"<td>{_number(r['coverage'])}</td>",
        ]
        if fractional:
            row += [f"<td>{_number(r.get('pv_sum'), 2)}</td>",
                    f"<td>{_number(r.get('pv_mm3'))}</td>"]  # fmt: skip
        out.append("<tr>" + "".join(row) + "</tr>")
    return "".join(out) + "</table>"


def _page(title: str, body: str) -> str:
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    from roixr import __version__

    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>{body}"
        f"<p class='meta'>Made by roixr {_e(__version__)} on {stamp}.</p></body></html>\n"
    )


# --- one subject ---------------------------------------------------------------------------


def _find_subject(masks: xr.DataArray, subject: Any) -> tuple[Any, str | None]:
    """The subject for the background, or None and why not (a report never fails on it)."""
    from roixr.io.subject import as_subject

    try:
        return as_subject(subject if subject is not None else masks.attrs.get("subject", "")), None
    except Exception as err:
        return None, f"{type(err).__name__}: {err}"


def _mosaics(masks: xr.DataArray, subject: Any, background: Any, axes: Sequence[str],
             slices: int) -> tuple[list[tuple[str, str]], str | None]:  # fmt: skip
    from roixr.plot import plot_masks

    note = None
    if background is None:
        subject, why = _find_subject(masks, subject)
        if subject is None:
            note = (
                f"Drawn without a background: the subject {masks.attrs.get('subject')!r} was "
                f"not found ({why}). Give the subject (subject= in Python, --subject on the "
                "command line) to draw the masks over its reference image."
            )
    images = []
    for i, axis in enumerate(axes):
        fig = plot_masks(masks, axis=axis, slices=slices if i == 0 else max(slices // 2, 1),  # type: ignore[arg-type]
                         subject=subject, background=background, legend=i == 0)  # fmt: skip
        images.append((axis, figure_uri(fig)))
    return images, note


def _subject_body(
    masks: xr.DataArray,
    *,
    title: str,
    provenance: Mapping[str, Any] | None,
    subject: Any,
    background: Any,
    axes: Sequence[str],
    slices: int,
    back_link: str | None = None,
) -> str:
    from roixr.plot import roi_colors

    masks = as_masks(masks, func="report").compute()  # read once: the table, every mosaic
    rows = roi_table(masks)
    names = [str(n) for n in masks["roi"].values]
    colors = roi_colors(names, masks.attrs.get("roi_colors"))
    images, note = _mosaics(masks, subject, background, axes, slices)
    a = masks.attrs
    grid = " × ".join(str(masks.sizes[d]) for d in SPATIAL)
    vv = voxel_volume(masks)
    parts = [f"<p><a href='{_e(back_link)}'>← cohort index</a></p>" if back_link else "",
             f"<h1>{_e(title)}</h1>",
             f"<p class='meta'>subject <b>{_e(a.get('subject', '?'))}</b> · transform "
             f"<b>{_e(a.get('xfm', '?'))}</b> · sampler <b>{_e(a.get('sampler', '?'))}</b> · "
             f"{len(names)} ROIs · {masks.dtype} · grid {grid}"
             + (f" · voxel {vv:.3g} mm³" if vv else "") + "</p>"]  # fmt: skip
    if note:
        parts.append(f"<p class='note'>{_e(note)}</p>")
    parts.append("<h2>Masks</h2>")
    for axis, uri in images:
        parts.append(f"<img src='{uri}' alt='ROI masks, slices across {axis}'>")
    parts.append("<h2>ROIs</h2>")
    parts.append(_roi_rows_html(rows, colors))
    parts.append("<h2>Attributes of the masks</h2>")
    parts.append(_attrs_table(a, skip=("roi_colors",)))
    parts.append("<h2>Provenance recorded in the store</h2>")
    if provenance:
        parts.append(_attrs_table(provenance))
    else:
        parts.append("<p class='meta'>(no store, or the store records no provenance)</p>")
    return "".join(parts)


def _check_out(path: Path) -> None:
    """Raise unless the folder that will hold ``path`` exists (roixr creates no parents)."""
    if not path.parent.is_dir():
        raise OutputPathError(
            f"the folder {str(path.parent)!r} for the report {path.name!r} does not exist; "
            "create it first (roixr does not create folders, so a typo cannot scatter outputs)."
        )


def _write(path: str | os.PathLike, text: str) -> Path:
    out = Path(path)
    out.write_text(text, encoding="utf-8")
    return out


def report(
    masks: xr.DataArray,
    path: str | os.PathLike,
    *,
    title: str | None = None,
    provenance: Mapping[str, Any] | None = None,
    subject: Any = None,
    background: Any = None,
    axes: Sequence[str] = ("z", "y", "x"),
    slices: int = 12,
) -> Path:
    """Write a self-contained HTML report of ROI masks.

    Parameters
    ----------
    masks : xarray.DataArray
        Masks ``(roi, hemisphere, x, y, z)`` or an index volume ``(x, y, z)``.
    path : path-like
        The HTML file to write, in an existing folder (an existing file is replaced).
    title : str, optional
        By default "ROI masks of <subject>".
    provenance : mapping, optional
        What made the masks (a store's attrs), shown as a table.
    subject : Subject, path-like or str, optional
        The subject, for the background; by default looked up by the masks'
        ``attrs["subject"]``, and the mosaics are drawn without a background (with a note)
        when it cannot be found.
    background : optional
        As :func:`roixr.plot.plot_masks`'s ``background``; default the reference image.
    axes : sequence of {"x", "y", "z"}, default ("z", "y", "x")
        One mosaic per axis: ``slices`` slices across the first, half as many across the
        others.
    slices : int, default 12

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    OutputPathError
        The folder of ``path`` does not exist.
    """
    from roixr.plot import require_matplotlib

    require_matplotlib()
    _check_out(Path(path))
    title = title or f"ROI masks of {masks.attrs.get('subject', 'a subject')}"
    body = _subject_body(masks, title=title, provenance=provenance, subject=subject,
                         background=background, axes=axes, slices=slices)  # fmt: skip
    return _write(path, _page(title, body))


# --- stores --------------------------------------------------------------------------------


def _store_attrs(store: Any, group: str | None = None) -> dict[str, Any]:
    """What a store (or a cohort's subject group) records, less its bookkeeping: its
    provenance's entries first, then any other attrs."""
    from roixr.store.format import BOOKKEEPING, PROVENANCE, group_attrs

    attrs = group_attrs(store, group)
    out = dict(attrs.get(PROVENANCE) or {})
    out.update({k: v for k, v in attrs.items() if k not in BOOKKEEPING})
    return out


def subject_status(store: Any) -> dict[str, dict[str, Any]]:
    """Each subject of a cohort store: ``{"status": "complete" | "failed" | "unfinished",
    "detail": error text or None}``.

    Everything the report knows about how a cohort records its subjects' fate is here: it
    reads :func:`roixr.cohort.cohort_status`.
    """
    from roixr.cohort import cohort_status

    return {
        name: {"status": info["status"], "detail": info.get("error")}
        for name, info in cohort_status(store).items()
    }


def report_store(
    store: str | os.PathLike,
    out: str | os.PathLike,
    *,
    subject: Any = None,
    slices: int = 12,
    storage_options: dict[str, Any] | None = None,
) -> Path:
    """Write the HTML report of a zarr store of masks, or of a cohort store.

    Parameters
    ----------
    store : path-like or str
        A store written by :func:`roixr.to_zarr` or :func:`roixr.write_cohort`: its folder,
        or its fsspec URL (``s3://bucket/masks.zarr``).
    out : path-like
        A folder (created if missing, in an existing folder): the report is
        ``out/index.html`` (for a cohort, the index page, with one
        page per complete subject in ``out/subjects/``). A path ending in ``.html`` is the
        report (or index) itself, subject pages going to ``<stem>_subjects/`` beside it.
    subject : optional
        For a single store, the subject for the background (see :func:`report`). Cohort
        subjects are looked up by the name in their masks' attrs (a subject folder's name
        in ``ROIXR_FILESTORE`` or pycortex's filestore); without it, no background.
    slices : int, default 12
    storage_options : dict, optional
        For a URL: the options of its fsspec filesystem (credentials, endpoint).

    Returns
    -------
    pathlib.Path
        The report's (or index's) HTML file.

    Raises
    ------
    StoreNotFoundError, ForeignStoreError
        No store at ``store``, or not one roixr wrote.
    IncompleteStoreError
        A single store whose write did not finish.
    OutputPathError
        The folder that should hold ``out`` does not exist.
    """
    from roixr.plot import require_matplotlib
    from roixr.store import open_roi_masks
    from roixr.store.format import COHORT, store_kind
    from roixr.store.location import as_location

    require_matplotlib()
    path = as_location(store, storage_options)
    target = Path(out)
    as_file = target.suffix == ".html"
    _check_out(target)
    if store_kind(path) != COHORT:  # open_roi_masks names what is wrong with other paths
        masks = open_roi_masks(path)
        if not as_file:
            target.mkdir(exist_ok=True)
        index = target if as_file else target / "index.html"
        return report(masks, index, provenance=_store_attrs(path), subject=subject,
                      title=f"ROI masks in {path.name}", slices=slices)  # fmt: skip
    status = subject_status(path)
    if not as_file:
        target.mkdir(exist_ok=True)
    index = target if as_file else target / "index.html"
    pages = index.parent / (f"{index.stem}_subjects" if as_file else "subjects")
    pages.mkdir(exist_ok=True)
    for name, info in status.items():
        if info["status"] != "complete":
            continue
        masks = open_roi_masks(path, group=name)
        page = pages / f"{name}.html"
        body = _subject_body(
            masks, title=f"{name} · ROI masks in {path.name}",
            provenance={**_store_attrs(path), **_store_attrs(path, name)}, subject=None,
            background=None, axes=("z", "y", "x"), slices=slices,
            back_link=os.path.relpath(index, page.parent),
        )  # fmt: skip
        _write(page, _page(f"{name} · {path.name}", body))
        info["page"] = os.path.relpath(page, index.parent)
        info["masks"] = masks
    return _write(index, _page(f"Cohort {path.name}", _index_body(path, status)))


def _index_body(path: Any, status: dict[str, dict[str, Any]]) -> str:
    counts = {s: sum(1 for i in status.values() if i["status"] == s)
              for s in ("complete", "failed", "unfinished")}  # fmt: skip
    rows = []
    for name, info in status.items():
        masks = info.get("masks")
        link = f"<a href='{_e(info['page'])}'>{_e(name)}</a>" if "page" in info else _e(name)
        what = ""
        if masks is not None:
            a = masks.attrs
            what = (f"{_e(a.get('subject', ''))} · {_e(a.get('xfm', ''))} · "
                    f"{_e(a.get('sampler', ''))} · {masks.sizes['roi']} ROIs")  # fmt: skip
        detail = f"<pre>{_e(info['detail'])}</pre>" if info.get("detail") else ""
        rows.append(f"<tr><td class='l'>{link}</td><td class='l {info['status']}'>"
                    f"{info['status']}</td><td class='l'>{what}{detail}</td></tr>")  # fmt: skip
    summary = ", ".join(f"{n} {s}" for s, n in counts.items())
    return (
        f"<h1>Cohort {_e(path.name)}</h1><p class='meta'>{_e(str(path))} · {len(status)} "
        f"subjects: {summary}</p><table><tr><th class='l'>subject</th><th class='l'>status"
        f"</th><th class='l'>masks</th></tr>{''.join(rows)}</table>"
        "<h2>Provenance recorded in the store</h2>" + _attrs_table(_store_attrs(path))
    )
