"""Writing the sample subjects' files: GIfTI surfaces, and the conventions of pycortex's
``overlays.svg`` (its namespaces, its top-level layers, numbers in its path data)."""

from __future__ import annotations

import os

import nibabel as nib
import numpy as np

__all__ = [
    "INKSCAPE_NS",
    "OVERLAY_LAYERS",
    "SODIPODI_NS",
    "SVG_NAMESPACES",
    "SVG_NS",
    "svg_number",
    "write_gifti",
]

SVG_NS = "http://www.w3.org/2000/svg"
INKSCAPE_NS = "http://www.inkscape.org/namespaces/inkscape"
SODIPODI_NS = "http://sodipodi.sourceforge.net/DTD/sodipodi-0.dtd"
#: The namespaces an ``overlays.svg`` declares, by prefix (SVG's is the default one).
SVG_NAMESPACES: dict[str | None, str] = {
    None: SVG_NS,
    "inkscape": INKSCAPE_NS,
    "sodipodi": SODIPODI_NS,
}
#: The top-level layers of pycortex's ``overlays.svg``, in document order.
OVERLAY_LAYERS = ("rois", "sulci", "cutouts", "display")


def svg_number(value: float) -> str:
    """Format a number for an SVG path: fixed point, at most 6 decimals, no ``-0``."""
    text = f"{value:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def write_gifti(fname: str | os.PathLike[str], pts: np.ndarray, tris: np.ndarray) -> None:
    """Write a GIfTI surface with one float32 pointset and one int32 triangle array.

    Parameters
    ----------
    fname
        The file to write.
    pts
        The (n, 3) vertex coordinates.
    tris
        The (m, 3) vertex indices of the triangles.
    """
    arrays = [
        nib.gifti.GiftiDataArray(
            pts.astype(np.float32), intent="NIFTI_INTENT_POINTSET", datatype="NIFTI_TYPE_FLOAT32"
        ),
        nib.gifti.GiftiDataArray(
            tris.astype(np.int32), intent="NIFTI_INTENT_TRIANGLE", datatype="NIFTI_TYPE_INT32"
        ),
    ]
    nib.save(nib.gifti.GiftiImage(darrays=arrays), os.fspath(fname))
