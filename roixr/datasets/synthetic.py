"""Writing the synthetic subject (its geometry is in :mod:`roixr.datasets.geometry`)."""

from __future__ import annotations

import json
import os
import pathlib
import shutil

import nibabel as nib
import numpy as np
from lxml import etree

from roixr.datasets.files import (
    INKSCAPE_NS,
    OVERLAY_LAYERS,
    SVG_NAMESPACES,
    SVG_NS,
    svg_number,
    write_gifti,
)
from roixr.datasets.geometry import GEOMETRY, SyntheticGeometry

__all__ = ["overlay_svg", "synthetic_subject"]


def _write_surfaces(root: pathlib.Path, geometry: SyntheticGeometry) -> None:
    folder = root / "surfaces"
    folder.mkdir()
    for hemi in ("lh", "rh"):
        full = geometry.triangles(hemi)
        write_gifti(folder / f"wm_{hemi}.gii", geometry.white(hemi), full)
        write_gifti(folder / f"pia_{hemi}.gii", geometry.pial(hemi), full)
        write_gifti(folder / f"inflated_{hemi}.gii", geometry.inflated(hemi), full)
        write_gifti(
            folder / f"flat_{hemi}.gii", geometry.flat(hemi), geometry.flat_triangles(hemi)
        )


def _nifti(data: np.ndarray, affine: np.ndarray) -> nib.Nifti1Image:
    img = nib.Nifti1Image(data, affine)
    img.set_sform(affine, code=1)
    img.set_qform(affine, code=1)
    return img


def _write_transforms(root: pathlib.Path, geometry: SyntheticGeometry) -> None:
    # pycortex's convention, checked on its own S1/transforms/fullhead: the stored
    # coord equals inv(reference.affine) @ magnet (max abs difference 7e-15), i.e. coord
    # maps surface mm to voxel indices (i, j, k) and magnet maps them to world mm.
    for spec in geometry.transforms:
        folder = root / "transforms" / spec.name
        folder.mkdir(parents=True)
        matrices = {"coord": spec.coord().tolist(), "magnet": spec.magnet().tolist()}
        (folder / "matrices.xfm").write_text(json.dumps(matrices, indent=2))
        data = np.arange(np.prod(spec.shape), dtype=np.float32).reshape(spec.shape, order="F")
        nib.save(_nifti(data, spec.affine()), str(folder / "reference.nii.gz"))


def _raw_volume(geometry: SyntheticGeometry) -> np.ndarray:
    """Return the raw anatomical: ``raw_value`` at voxel centres inside the grey sheets."""
    axes = [o + np.arange(n) for o, n in zip(geometry.raw_origin, geometry.raw_shape, strict=True)]
    x, y, z = np.meshgrid(*axes, indexing="ij")
    half_y = geometry.spacing * (geometry.nv - 1) / 2
    x_in = (np.abs(x) >= geometry.medial_gap) & (
        np.abs(x) <= geometry.medial_gap + geometry.spacing * (geometry.nu - 1)
    )
    frac = (y + half_y) / (2 * half_y)
    t0, t1 = geometry.rh_thickness
    thick = np.where(x < 0, geometry.lh_thickness, t0 + (t1 - t0) * frac)
    inside = x_in & (np.abs(y) <= half_y) & (np.abs(z) <= thick / 2)
    return np.where(inside, geometry.raw_value, 0).astype(np.uint8)


def _write_anatomicals(root: pathlib.Path, geometry: SyntheticGeometry) -> None:
    folder = root / "anatomicals"
    folder.mkdir()
    img = _nifti(_raw_volume(geometry), geometry.raw_affine())
    nib.save(img, str(folder / "raw.nii.gz"))


def _layer(parent: etree._Element, label: str, layer_id: str | None = None) -> etree._Element:
    attrib = {f"{{{INKSCAPE_NS}}}label": label, f"{{{INKSCAPE_NS}}}groupmode": "layer"}
    if layer_id is not None:
        attrib["id"] = layer_id
    return etree.SubElement(parent, f"{{{SVG_NS}}}g", attrib)


def overlay_svg(geometry: SyntheticGeometry = GEOMETRY) -> bytes:
    """Return the ``overlays.svg`` document of ``geometry`` (paths in pycortex's dialect)."""
    root = etree.Element(
        f"{{{SVG_NS}}}svg",
        {"width": svg_number(geometry.svg_width), "height": svg_number(geometry.svg_height)},
        nsmap=SVG_NAMESPACES,
    )
    for name in OVERLAY_LAYERS:
        layer = _layer(root, name, name)
        shapes = _layer(layer, "shapes", f"{name}_shapes")
        _layer(layer, "labels", f"{name}_labels")
        if name != "rois":
            continue
        for roi in geometry.rois:
            group = _layer(shapes, roi.name, f"roi_{roi.name}")
            for k, shape in enumerate(roi.shapes):
                etree.SubElement(
                    group,
                    f"{{{SVG_NS}}}path",
                    {"id": f"{roi.name}_{k}", "d": shape.path_d(geometry)},
                )
    return etree.tostring(root, xml_declaration=True, encoding="utf-8", pretty_print=True)


def _prepare(root: pathlib.Path, overwrite: bool) -> None:
    """Create ``root`` empty, refusing to touch a non-empty folder unless ``overwrite``."""
    if root.exists() and not root.is_dir():
        raise FileExistsError(f"{root} exists and is not a folder; choose another path")
    if root.is_dir() and any(root.iterdir()):
        if not overwrite:
            raise FileExistsError(
                f"{root} exists and is not empty; pass overwrite=True to replace its contents"
            )
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)


def synthetic_subject(
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    geometry: SyntheticGeometry = GEOMETRY,
) -> pathlib.Path:
    """Write the synthetic subject at ``path`` in pycortex's filestore layout.

    The subject's name is the folder's basename and the filestore its parent.

    Parameters
    ----------
    path
        The subject folder to create.
    overwrite
        If True, an existing non-empty folder at ``path`` is deleted first.
    geometry
        The geometry to write (default :data:`GEOMETRY`).

    Returns
    -------
    pathlib.Path
        The subject folder.

    Raises
    ------
    FileExistsError
        If ``path`` is a file, or a non-empty folder and ``overwrite`` is False.
    """
    root = pathlib.Path(path)
    _prepare(root, overwrite)
    _write_surfaces(root, geometry)
    _write_transforms(root, geometry)
    _write_anatomicals(root, geometry)
    (root / "overlays.svg").write_bytes(overlay_svg(geometry))
    return root
