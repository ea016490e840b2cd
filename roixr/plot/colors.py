"""Colours of ROIs and hemispheres, and figures made without pyplot."""

from __future__ import annotations

import functools
import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from roixr.errors import MissingDependencyError

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["hemisphere_colors", "require_matplotlib", "roi_colors"]

#: Mix of the right hemisphere's colour with white (0: same colour, 1: white).
RIGHT_TINT = 0.45
#: The canvas where there is no background image.
NO_BACKGROUND = (0.0, 0.0, 0.0)


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


def figure(**kwargs: Any) -> Figure:
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
