"""A deterministic synthetic pycortex subject whose geometry is known analytically.

:func:`synthetic_subject` writes a complete subject folder in pycortex's filestore layout
(surfaces, ``overlays.svg``, transforms with reference images, a raw anatomical), and
:func:`expected_roi_verts` predicts, without reading any file, which vertices each ROI holds.

Geometry of the default :data:`GEOMETRY` (all lengths in mm; ``s`` = ``spacing`` = 1)
------------------------------------------------------------------------------------------
Each hemisphere is a planar grid of ``nu x nv = 41 x 33`` vertices, grid indices
``i = 0..nu-1`` and ``j = 0..nv-1``; vertex ``v = j * nu + i`` (so 1353 vertices a
hemisphere; in pycortex's merged numbering the right hemisphere is offset by ``n_lh``).
Every quad ``(i, j)-(i+1, j+1)`` is split along that diagonal into two triangles, wound so
that normals point to +z (towards the pial surface); 2560 triangles a hemisphere.
With ``sign = -1`` (lh) or ``+1`` (rh), ``g = medial_gap = 5`` and ``c = (nv-1)/2``:

* fiducial: ``(sign * (g + s*i), s*(j - c), 0)``, so lh x in [-45, -5], rh x in [5, 45],
  y in [-16, 16];
* thickness ``t``: 3 in lh; in rh linear in ``j``, ``t = 2 + 2 * j / (nv-1)`` (2 to 4);
* white (``wm``): fiducial with ``z = -t/2``; pial (``pia``): fiducial with ``z = +t/2``;
* inflated: fiducial times ``inflation = 1.5``;
* flat: ``(sign * s*i, s*j, 0)``, the medial edges (``i = 0``) of both hemispheres at
  flat x = 0, so pycortex's "nudge" changes nothing.  The flat mesh of the left
  hemisphere has a cut: the vertices of column ``i = cut_column = 20`` with
  ``j <= cut_max_row = 15`` lose every triangle (they keep their flat coordinates).

pycortex normalises the merged flat coordinates to [0, 1] and scales them by the SVG's
(width, height); a vertex is drawn at ``(X, H - Y)``.  With ``H = 1024`` and the flat
extent 80 x 32 mm the scale is 32 px/mm and the width 2560 (see
:meth:`SyntheticGeometry.flat_to_svg`).

ROIs (flat mm; rectangle edges on half-integers, circle edge >= 0.25 mm from any vertex),
with their vertex counts:

* ``V1`` (230): lh x in (-37.5, -27.5), y in (1.5, 12.5) and rh x in (26.5, 36.5),
  y in (2.5, 14.5);
* ``CUT`` (44): lh x in (-23.5, -16.5), y in (4.5, 10.5), across the cut;
* ``A`` (100): rh x in (4.5, 14.5), y in (16.5, 26.5);
* ``B`` (90): rh x in (10.5, 20.5), y in (20.5, 29.5);
* ``EMPTY`` (0): a layer without paths;
* ``CURVY`` (69): rh circle of centre (28, 22) and radius 4.75 (4 relative Beziers).

CUT holds the 42 vertices inside its rectangle (6 of them cut) plus the cut vertices
``(i, j) = (20, 4)`` and ``(20, 11)`` just outside it, which pycortex adds because they
neighbour a vertex inside (pycortex's rule, PR 504).  A and B share 24 vertices.

Transforms (``coord = inv(reference affine) @ magnet``, as in pycortex's own S1):

* ``fullhead``: axis-aligned 2 mm grid, shape (52, 22, 10), magnet = identity;
* ``oblique``: grid rotated 10 deg about x then 20 deg about z, voxels (2, 2.5, 3) mm,
  shape (54, 27, 12); magnet a rigid rotation (3, -4, 5) deg about (x, y, z) plus a
  translation (2, -3, 4.5) mm.

Each ``reference.nii.gz`` is float32 with value ``i + nx * (j + ny * k)`` at voxel (i, j, k).

``anatomicals/raw.nii.gz`` is a 1 mm uint8 grid of shape (101, 41, 13) (200 inside the
grey-matter sheets, 0 elsewhere).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from roixr.datasets.files import svg_number

__all__ = [
    "GEOMETRY",
    "KAPPA",
    "Circle",
    "Rect",
    "Roi",
    "SyntheticGeometry",
    "TransformSpec",
    "expected_roi_verts",
]

Hemi = Literal["lh", "rh"]

#: Control-point distance (in radii) of a quarter circle drawn as a cubic Bezier.
KAPPA = 0.5522847498


def _pair(xy: np.ndarray) -> str:
    """Format a point as pycortex's path parser wants it: ``x,y`` without spaces."""
    return f"{svg_number(xy[0])},{svg_number(xy[1])}"


def _rotation(degrees_xyz: tuple[float, float, float]) -> np.ndarray:
    """Return ``Rz @ Ry @ Rx`` for angles in degrees (rotate about x first)."""
    rx, ry, rz = np.deg2rad(degrees_xyz)
    cx, sx, cy, sy, cz, sz = np.cos(rx), np.sin(rx), np.cos(ry), np.sin(ry), np.cos(rz), np.sin(rz)
    rot_x = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    rot_y = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rot_z = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rot_z @ rot_y @ rot_x


@dataclass(frozen=True)
class Rect:
    """An axis-aligned rectangle ``x0 < x < x1, y0 < y < y1`` in flat mm.

    ``style`` picks the path syntax: ``"abs"`` (``M`` ``L`` ``Z``), ``"abs_implicit"``
    (``M`` followed by bare pairs), ``"rel_hv"`` (``m`` ``h`` ``v`` ``z``) or ``"rel_l"``
    (``m`` ``l`` with implicit repeats).
    """

    x0: float
    x1: float
    y0: float
    y1: float
    style: Literal["abs", "abs_implicit", "rel_hv", "rel_l"] = "abs"

    def contains(self, xy: np.ndarray) -> np.ndarray:
        """Return whether each flat point of the (n, 2) array ``xy`` is inside."""
        x, y = xy[:, 0], xy[:, 1]
        return (x > self.x0) & (x < self.x1) & (y > self.y0) & (y < self.y1)

    def path_d(self, geometry: SyntheticGeometry) -> str:
        """Return the ``d`` attribute of this rectangle's SVG path."""
        corners = geometry.flat_to_svg(
            np.array(
                [[self.x0, self.y0], [self.x1, self.y0], [self.x1, self.y1], [self.x0, self.y1]]
            )
        )
        steps = np.diff(corners, axis=0)
        if self.style == "abs":
            return "M {} L {} L {} L {} Z".format(*map(_pair, corners))
        if self.style == "abs_implicit":
            return "M {} {} {} {} Z".format(*map(_pair, corners))
        if self.style == "rel_hv":
            width, height, back = map(svg_number, (steps[0, 0], steps[1, 1], steps[2, 0]))
            return f"m {_pair(corners[0])} h {width} v {height} h {back} z"
        return "m {} l {} {} {} z".format(_pair(corners[0]), *map(_pair, steps))


@dataclass(frozen=True)
class Circle:
    """A disc ``(x - cx)**2 + (y - cy)**2 < r**2`` in flat mm, drawn as 4 relative Beziers."""

    cx: float
    cy: float
    r: float

    def contains(self, xy: np.ndarray) -> np.ndarray:
        """Return whether each flat point of the (n, 2) array ``xy`` is inside."""
        return (xy[:, 0] - self.cx) ** 2 + (xy[:, 1] - self.cy) ** 2 < self.r**2

    def control_points(self) -> np.ndarray:
        """Return the (13, 2) flat points: start, then 3 points per quarter (counter-clockwise)."""
        k = KAPPA
        unit = [(1, 0), (1, k), (k, 1), (0, 1), (-k, 1), (-1, k), (-1, 0)]
        unit += [(-1, -k), (-k, -1), (0, -1), (k, -1), (1, -k), (1, 0)]
        return np.array([self.cx, self.cy]) + self.r * np.array(unit, dtype=float)

    def path_d(self, geometry: SyntheticGeometry) -> str:
        """Return the ``d`` attribute: ``m`` then two ``c`` commands of two curves each."""
        pts = geometry.flat_to_svg(self.control_points())
        tokens = ["m", _pair(pts[0])]
        for quarter in range(4):
            start = pts[3 * quarter]
            if quarter % 2 == 0:
                tokens.append("c")
            tokens += [_pair(p - start) for p in pts[3 * quarter + 1 : 3 * quarter + 4]]
        return " ".join([*tokens, "z"])


@dataclass(frozen=True)
class Roi:
    """A named ROI: the union of its shapes (a layer under ``rois/shapes``)."""

    name: str
    shapes: tuple[Rect | Circle, ...] = ()


@dataclass(frozen=True)
class TransformSpec:
    """A transform: a reference grid (``shape``, ``zooms``, ``rotation_deg``, ``origin``)
    and a rigid ``magnet`` (surface mm to the reference's world mm)."""

    name: str
    shape: tuple[int, int, int]
    zooms: tuple[float, float, float]
    origin: tuple[float, float, float]
    rotation_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)
    magnet_rotation_deg: tuple[float, float, float] = (0.0, 0.0, 0.0)
    magnet_translation: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def affine(self) -> np.ndarray:
        """Return the reference affine, rounded to float32 as NIfTI stores it (sform)."""
        aff = np.eye(4)
        aff[:3, :3] = _rotation(self.rotation_deg) @ np.diag(self.zooms)
        aff[:3, 3] = self.origin
        return aff.astype(np.float32).astype(np.float64)

    def magnet(self) -> np.ndarray:
        """Return the 4x4 map from surface coordinates to the reference's world space."""
        mag = np.eye(4)
        mag[:3, :3] = _rotation(self.magnet_rotation_deg)
        mag[:3, 3] = self.magnet_translation
        return mag

    def coord(self) -> np.ndarray:
        """Return pycortex's ``coord``: surface coordinates to voxel indices (i, j, k)."""
        return np.linalg.inv(self.affine()) @ self.magnet()


_DEFAULT_ROIS = (
    Roi("V1", (Rect(-37.5, -27.5, 1.5, 12.5, "abs"), Rect(26.5, 36.5, 2.5, 14.5, "rel_hv"))),
    Roi("CUT", (Rect(-23.5, -16.5, 4.5, 10.5, "abs"),)),
    Roi("A", (Rect(4.5, 14.5, 16.5, 26.5, "rel_l"),)),
    Roi("B", (Rect(10.5, 20.5, 20.5, 29.5, "abs_implicit"),)),
    Roi("EMPTY"),
    Roi("CURVY", (Circle(28.0, 22.0, 4.75),)),
)

_DEFAULT_TRANSFORMS = (
    TransformSpec("fullhead", (52, 22, 10), (2.0, 2.0, 2.0), (-51.0, -21.0, -9.0)),
    TransformSpec(
        "oblique",
        (54, 27, 12),
        (2.0, 2.5, 3.0),
        (-37.8, -48.2, -17.9),
        rotation_deg=(10.0, 0.0, 20.0),
        magnet_rotation_deg=(3.0, -4.0, 5.0),
        magnet_translation=(2.0, -3.0, 4.5),
    ),
)


@dataclass(frozen=True)
class SyntheticGeometry:
    """Every parameter of the synthetic subject; see the module docstring for formulas."""

    nu: int = 41
    nv: int = 33
    spacing: float = 1.0
    medial_gap: float = 5.0
    lh_thickness: float = 3.0
    rh_thickness: tuple[float, float] = (2.0, 4.0)
    inflation: float = 1.5
    cut_column: int = 20
    cut_max_row: int = 15
    svg_height: float = 1024.0
    rois: tuple[Roi, ...] = _DEFAULT_ROIS
    transforms: tuple[TransformSpec, ...] = _DEFAULT_TRANSFORMS
    raw_shape: tuple[int, int, int] = (101, 41, 13)
    raw_origin: tuple[float, float, float] = (-50.0, -20.0, -6.0)
    raw_value: int = 200

    def __post_init__(self) -> None:
        if self.nu < 5 or self.nv < 3 or self.spacing <= 0:
            raise ValueError(f"need nu >= 5, nv >= 3, spacing > 0; got {self}")
        if not 2 <= self.cut_column <= self.nu - 3 or not 0 <= self.cut_max_row < self.nv - 1:
            raise ValueError("cut_column must be in [2, nu-3] and cut_max_row in [0, nv-2]")
        if self.lh_thickness <= 0 or min(self.rh_thickness) <= 0:
            raise ValueError("thicknesses must be positive")
        names = [roi.name for roi in self.rois]
        if len(set(names)) != len(names):
            raise ValueError(f"ROI names must be unique, got {names}")

    # -- grid -------------------------------------------------------------------------
    @property
    def n_vertices(self) -> int:
        """Number of vertices of one hemisphere (``n_lh == n_rh``)."""
        return self.nu * self.nv

    @property
    def n_lh(self) -> int:
        """Number of left-hemisphere vertices (the right one's offset in merged numbering)."""
        return self.n_vertices

    def grid_ij(self) -> tuple[np.ndarray, np.ndarray]:
        """Return the grid indices ``(i, j)`` of each vertex of one hemisphere."""
        j, i = np.divmod(np.arange(self.n_vertices), self.nu)
        return i, j

    def vertex_index(self, i: int, j: int, hemi: Hemi = "lh") -> int:
        """Return the merged vertex number of grid vertex ``(i, j)`` of ``hemi``."""
        return j * self.nu + i + (self.n_lh if hemi == "rh" else 0)

    def triangles(self, hemi: Hemi) -> np.ndarray:
        """Return the (m, 3) int32 triangles of the complete mesh (normals towards +z)."""
        i, j = np.meshgrid(np.arange(self.nu - 1), np.arange(self.nv - 1))
        a = (j * self.nu + i).ravel()
        b, c, d = a + 1, a + self.nu + 1, a + self.nu
        tris = np.concatenate([np.stack([a, b, c], 1), np.stack([a, c, d], 1)])
        if hemi == "lh":  # mirrored in x: flip the winding to keep normals at +z
            tris = tris[:, [0, 2, 1]]
        return tris.astype(np.int32)

    def cut_vertices(self) -> np.ndarray:
        """Return the (left-hemisphere) indices of the cut vertices."""
        return np.arange(self.cut_max_row + 1) * self.nu + self.cut_column

    def flat_triangles(self, hemi: Hemi) -> np.ndarray:
        """Return the flat mesh's triangles: the complete mesh minus any touching the cut."""
        tris = self.triangles(hemi)
        if hemi == "rh":
            return tris
        return tris[~np.isin(tris, self.cut_vertices()).any(axis=1)]

    # -- surfaces ---------------------------------------------------------------------
    def thickness(self, hemi: Hemi) -> np.ndarray:
        """Return the cortical thickness (mm) at each vertex of ``hemi``."""
        _, j = self.grid_ij()
        if hemi == "lh":
            return np.full(self.n_vertices, float(self.lh_thickness))
        t0, t1 = self.rh_thickness
        return t0 + (t1 - t0) * j / (self.nv - 1)

    def fiducial(self, hemi: Hemi) -> np.ndarray:
        """Return the (n, 3) mid-thickness coordinates of ``hemi`` (z = 0)."""
        i, j = self.grid_ij()
        sign = -1.0 if hemi == "lh" else 1.0
        x = sign * (self.medial_gap + self.spacing * i)
        y = self.spacing * (j - (self.nv - 1) / 2)
        return np.stack([x, y, np.zeros_like(x)], axis=1)

    def white(self, hemi: Hemi) -> np.ndarray:
        """Return the white surface: the fiducial moved down by half the thickness."""
        return self.fiducial(hemi) - np.array([0.0, 0.0, 1.0]) * self.thickness(hemi)[:, None] / 2

    def pial(self, hemi: Hemi) -> np.ndarray:
        """Return the pial surface: the fiducial moved up by half the thickness."""
        return self.fiducial(hemi) + np.array([0.0, 0.0, 1.0]) * self.thickness(hemi)[:, None] / 2

    def inflated(self, hemi: Hemi) -> np.ndarray:
        """Return the inflated surface: the fiducial scaled by ``inflation``."""
        return self.fiducial(hemi) * self.inflation

    def flat(self, hemi: Hemi) -> np.ndarray:
        """Return the (n, 3) flat coordinates ``(sign*s*i, s*j, 0)`` in mm."""
        i, j = self.grid_ij()
        sign = -1.0 if hemi == "lh" else 1.0
        return np.stack([sign * self.spacing * i, self.spacing * j, np.zeros(i.shape)], axis=1)

    def flat_merged(self) -> np.ndarray:
        """Return the (2n, 2) flat coordinates of both hemispheres, lh first."""
        return np.vstack([self.flat("lh"), self.flat("rh")])[:, :2]

    # -- flatmap to SVG ---------------------------------------------------------------
    @property
    def flat_extent(self) -> tuple[float, float, float, float]:
        """Return ``(xmin, xmax, ymin, ymax)`` of the merged flat map in mm."""
        half = self.spacing * (self.nu - 1)
        return -half, half, 0.0, self.spacing * (self.nv - 1)

    @property
    def svg_scale(self) -> float:
        """Pixels per flat mm (the same along x and y)."""
        _, _, ymin, ymax = self.flat_extent
        return self.svg_height / (ymax - ymin)

    @property
    def svg_width(self) -> float:
        """The SVG width that makes the flatmap's scale isotropic."""
        xmin, xmax, _, _ = self.flat_extent
        return self.svg_scale * (xmax - xmin)

    def flat_to_svg(self, xy: np.ndarray) -> np.ndarray:
        """Map (n, 2) flat mm to SVG user units as pycortex does (flat y up is SVG y down)."""
        xy = np.asarray(xy, dtype=float)
        xmin, _, ymin, _ = self.flat_extent
        out = np.empty_like(xy)
        out[..., 0] = (xy[..., 0] - xmin) * self.svg_scale
        out[..., 1] = self.svg_height - (xy[..., 1] - ymin) * self.svg_scale
        return out

    # -- volumes ----------------------------------------------------------------------
    def raw_affine(self) -> np.ndarray:
        """Return the 1 mm axis-aligned affine of ``anatomicals/raw.nii.gz``."""
        aff = np.eye(4)
        aff[:3, 3] = self.raw_origin
        return aff

    def transform(self, name: str) -> TransformSpec:
        """Return the transform called ``name``."""
        for spec in self.transforms:
            if spec.name == name:
                return spec
        raise KeyError(f"no transform {name!r}; have {[t.name for t in self.transforms]}")


#: The geometry :func:`synthetic_subject` writes by default.
GEOMETRY = SyntheticGeometry()


def _merged_edges(geometry: SyntheticGeometry) -> np.ndarray:
    """Return the (e, 2) directed edges of the complete merged mesh (both directions)."""
    tris = np.vstack([geometry.triangles("lh"), geometry.triangles("rh") + geometry.n_lh])
    edges = tris[:, [0, 1, 1, 2, 2, 0]].reshape(-1, 2)
    return np.vstack([edges, edges[:, ::-1]])


def expected_roi_verts(geometry: SyntheticGeometry = GEOMETRY) -> dict[str, np.ndarray]:
    """Predict each ROI's vertices from the geometry alone (no file is read).

    A vertex belongs to an ROI if its flat position is inside one of the ROI's shapes and
    it is in the flat mesh, or if it is not in the flat mesh (a cut vertex) and one of its
    neighbours in the complete mesh is an ROI vertex of the first kind (pycortex's rule).

    Parameters
    ----------
    geometry
        The subject's geometry.

    Returns
    -------
    dict of str to numpy.ndarray
        Sorted int64 merged vertex numbers (rh offset by ``n_lh``), in overlay order.
    """
    xy = geometry.flat_merged()
    n = len(xy)
    flat_tris = np.vstack(
        [geometry.flat_triangles("lh"), geometry.flat_triangles("rh") + geometry.n_lh]
    )
    good = np.zeros(n, dtype=bool)
    good[np.unique(flat_tris)] = True
    src, dst = _merged_edges(geometry).T
    result: dict[str, np.ndarray] = {}
    for roi in geometry.rois:
        inside = np.zeros(n, dtype=bool)
        for shape in roi.shapes:
            inside |= shape.contains(xy)
        core = inside & good
        member = core.copy()
        member[dst[core[src] & ~good[dst]]] = True
        result[roi.name] = np.flatnonzero(member).astype(np.int64)
    return result


# -- writers ----------------------------------------------------------------------------
