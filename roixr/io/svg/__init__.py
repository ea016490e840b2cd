"""Reading SVG files: pycortex's overlays and the SVG path grammar."""

from roixr.io.svg.overlays import Overlays, Shape, read_overlays
from roixr.io.svg.path import flatten_path, parse_path, parse_transform

__all__ = ["Overlays", "Shape", "flatten_path", "parse_path", "parse_transform", "read_overlays"]
