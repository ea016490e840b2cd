"""Reading pycortex ``overlays.svg`` files with lxml.

Layers are the root's groups, named by their Inkscape label; in the ``rois`` layer, each
sublayer of the ``shapes`` group is one ROI made of one or more paths (paths in nested groups
count too). Every ``transform`` between the root and a path, and the root's ``viewBox``, are
applied, so coordinates end up in the root viewport, the space pycortex maps the flatmap into.

The XML is parsed safely: no entity expansion, no DTD loading, no network access.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from lxml import etree

from roixr.errors import OverlayError, OverlayNotFoundError, SVGPathError
from roixr.io.svg.path import NUMBER, check_matrix, flatten_path, parse_transform

__all__ = ["Overlays", "Shape", "read_overlays"]

SVG_NS = "http://www.w3.org/2000/svg"
INKSCAPE_LABEL = "{http://www.inkscape.org/namespaces/inkscape}label"
_G = f"{{{SVG_NS}}}g"
_PATH = f"{{{SVG_NS}}}path"
_LENGTH = re.compile(
    r"^\s*([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)\s*(px|pt|pc|mm|cm|in)?\s*$"
)


def _parser(huge: bool = False) -> etree.XMLParser:
    # libxml2 bounds entity amplification; external entities and DTDs are never loaded
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=huge)


def _parse(path: Path) -> etree._Element:
    try:
        return etree.parse(str(path), parser=_parser()).getroot()
    except etree.XMLSyntaxError as err:
        if "huge" not in str(err).lower():
            raise
    return etree.parse(str(path), parser=_parser(huge=True)).getroot()  # large embedded images


@dataclass(frozen=True)
class Shape:
    """One ROI (or other overlay shape): its name and its paths.

    Attributes
    ----------
    name : str
        The shape's Inkscape label.
    paths : tuple of (str, ndarray)
        Each path's ``d`` attribute and the 3×3 matrix mapping it into the root viewport.
    """

    name: str
    paths: tuple[tuple[str, np.ndarray], ...] = field(repr=False)
    source: str = field(default="", repr=False)

    def polygons(self) -> list[np.ndarray]:
        """Flattened, closed subpaths in root viewport coordinates.

        Raises
        ------
        SVGPathError
            If a path's data does not parse; the message names the ROI and the file.
        """
        out: list[np.ndarray] = []
        for i, (d, matrix) in enumerate(self.paths):
            try:
                out.extend(flatten_path(d, matrix))
            except SVGPathError as err:
                raise SVGPathError(
                    f"path {i} of ROI {self.name!r} in {self.source} does not parse: {err}. "
                    "Fix the path's d attribute (see the SVG path grammar) in an SVG editor."
                ) from None
        return out


@dataclass(frozen=True)
class Overlays:
    """The parsed overlays of a subject.

    Attributes
    ----------
    path : Path
        The SVG file.
    width, height : float
        The root viewport's size (pycortex scales the flatmap to it).
    layers : dict
        ``{layer name: {shape name: Shape}}`` in document order.
    """

    path: Path
    width: float
    height: float
    layers: dict[str, dict[str, Shape]] = field(repr=False)

    @property
    def rois(self) -> dict[str, Shape]:
        """The shapes of the ``rois`` layer."""
        try:
            return self.layers["rois"]
        except KeyError:
            raise OverlayError(
                f"{self.path} has no layer labelled 'rois' (layers: {sorted(self.layers)}). "
                "Add an Inkscape layer named 'rois' with a 'shapes' sublayer holding one "
                "sublayer per ROI, as pycortex writes it."
            ) from None


def read_overlays(path: str | os.PathLike) -> Overlays:
    """Parse an overlays SVG file.

    Parameters
    ----------
    path : path-like
        The SVG file.

    Returns
    -------
    Overlays

    Raises
    ------
    OverlayNotFoundError
        If the file does not exist.
    OverlayError
        If it is not well-formed XML, is not an SVG, or its size cannot be read.
    """
    path = Path(path)
    if not path.is_file():
        raise OverlayNotFoundError(
            f"overlay file {path} does not exist.",
            fix="Pass overlay_file= an existing SVG, or draw ROIs in the subject's "
            "overlays.svg with pycortex or Inkscape.",
            option="overlay_file",
        )
    try:
        root = _parse(path)
    except etree.XMLSyntaxError as err:
        if "entity" in str(err).lower():
            raise OverlayError(
                f"{path} uses XML entities that roixr refuses to expand ({err}): external "
                "entities are never loaded and expansion is bounded, for safety. Replace the "
                "entity references with their text."
            ) from None
        raise OverlayError(
            f"{path} is not well-formed XML ({err}); the file may be truncated or corrupted. "
            "Restore it from a backup or re-save it from Inkscape."
        ) from None
    except (OSError, ValueError) as err:  # lxml: bad bytes for the declared encoding
        raise OverlayError(
            f"{path} cannot be read as XML ({err}); the file may be corrupted. Restore it "
            "from a backup or re-save it from Inkscape."
        ) from None
    if root.tag != f"{{{SVG_NS}}}svg":
        raise OverlayError(
            f"{path} is not an SVG document (root element {root.tag!r}); expected <svg> in "
            f"the {SVG_NS} namespace."
        )
    width, height = _length(root, "width", path), _length(root, "height", path)
    root_matrix = _viewbox_matrix(root, width, height, path)
    layers: dict[str, dict[str, Shape]] = {}
    for layer in root.iterchildren(_G):
        name = _label(layer)
        if name is None or name == "data":
            continue
        layers[name] = _read_layer(layer, root_matrix, path)
    return Overlays(path=path, width=width, height=height, layers=layers)


def _label(elem: etree._Element) -> str | None:
    return elem.get(INKSCAPE_LABEL) or elem.get("id")


def _read_layer(layer: etree._Element, parent: np.ndarray, path: Path) -> dict[str, Shape]:
    matrix = parent @ _transform(layer, path)
    shapes_group = next((g for g in layer.iterchildren(_G) if _label(g) == "shapes"), None)
    shapes: dict[str, Shape] = {}
    if shapes_group is None:
        return shapes
    matrix = matrix @ _transform(shapes_group, path)
    for roi in shapes_group.iterchildren(_G):
        name = _label(roi)
        if name is None:
            continue
        paths = tuple(_paths(roi, matrix, path))
        if name in shapes:  # two sublayers with one label: one ROI
            paths = shapes[name].paths + paths
        shapes[name] = Shape(name=name, paths=paths, source=str(path))
    return shapes


def _paths(
    group: etree._Element, parent: np.ndarray, path: Path
) -> Iterator[tuple[str, np.ndarray]]:
    matrix = parent @ _transform(group, path)
    for child in group.iterchildren():
        if child.tag == _PATH:
            d = child.get("d")
            if d and d.strip():
                full = matrix @ _transform(child, path)
                try:
                    check_matrix(full, "the product of the transforms above it")
                except SVGPathError as err:
                    raise SVGPathError(
                        f"{err}, for <path id={child.get('id')!r}> in {path}. Fix the "
                        "transform attributes of the path and its groups."
                    ) from None
                yield d, full
        elif child.tag == _G:
            yield from _paths(child, matrix, path)


def _transform(elem: etree._Element, path: Path) -> np.ndarray:
    try:
        return parse_transform(elem.get("transform"))
    except SVGPathError as err:
        raise SVGPathError(
            f"{err} on <{etree.QName(elem).localname} id={elem.get('id')!r}> in {path}. "
            "Fix the transform attribute (see the SVG transform grammar)."
        ) from None


def _length(root: etree._Element, attr: str, path: Path) -> float:
    raw = root.get(attr)
    match = _LENGTH.match(raw) if raw is not None else None
    if match is None:
        viewbox = _viewbox(root, path)
        if raw is None and viewbox is not None:
            return viewbox[2] if attr == "width" else viewbox[3]
        raise OverlayError(
            f"the <svg> root of {path} has {attr}={raw!r}; roixr needs an absolute length "
            "(like 1024 or 1024px) or a viewBox to know the flatmap's extent. Set the "
            f"root's {attr} as pycortex writes it."
        )
    value = float(match.group(1))
    if not np.isfinite(value) or value <= 0:
        raise OverlayError(
            f"the <svg> root of {path} has {attr}={raw!r}, not a positive finite length; set "
            f"the root's {attr} as pycortex writes it (the flatmap's size, like 1024)."
        )
    return value


def _viewbox(root: etree._Element, path: Path) -> tuple[float, ...] | None:
    raw = root.get("viewBox")
    if raw is None:
        return None
    values = raw.replace(",", " ").split()
    # SVG numbers only: float() would also take 'nan', '1_000' and other scripts' digits
    box = tuple(float(v) for v in values) if all(NUMBER.fullmatch(v) for v in values) else ()
    if len(box) != 4 or not np.isfinite(box).all() or box[2] <= 0 or box[3] <= 0:
        raise OverlayError(f"the <svg> root of {path} has an invalid viewBox {raw!r}")
    return box


def _viewbox_matrix(root: etree._Element, width: float, height: float, path: Path) -> np.ndarray:
    """The matrix from the root's user space to its viewport (identity without a viewBox)."""
    box = _viewbox(root, path)
    m = np.eye(3)
    if box is None:
        return m
    x, y, w, h = box
    sx, sy = width / w, height / h
    align = (root.get("preserveAspectRatio") or "xMidYMid meet").split()
    if align[0] != "none":
        s = max(sx, sy) if align[-1] == "slice" else min(sx, sy)
        sx = sy = s
    tx, ty = -x * sx, -y * sy
    if align[0] != "none":
        fx = {"xMin": 0.0, "xMid": 0.5, "xMax": 1.0}[align[0][:4]]
        fy = {"YMin": 0.0, "YMid": 0.5, "YMax": 1.0}[align[0][4:]]
        tx += fx * (width - w * sx)
        ty += fy * (height - h * sy)
    m[0, 0], m[1, 1], m[0, 2], m[1, 2] = sx, sy, tx, ty
    return m
