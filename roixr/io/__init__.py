"""Reading layer: subject files → plain numpy geometry (surfaces, transforms, SVG files)."""

from roixr.io.subject import Subject, as_subject
from roixr.io.surfaces import Surface, read_surface
from roixr.io.transforms import Transform, read_transform

__all__ = [
    "Subject",
    "Surface",
    "Transform",
    "as_subject",
    "read_surface",
    "read_transform",
]
