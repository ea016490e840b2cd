"""The ground truth of :func:`roixr.datasets.fmriprep_like`: grids, labels, signals and
registrations, computed from the synthetic geometry without reading any file.

* Labels (:func:`annotation`): each vertex carries the first ROI of the geometry's order
  that holds it (A and B overlap: their 24 shared vertices are A's); 0 is ``unknown``.
* Signals (:func:`roi_signals`): every voxel of a run holds, at every volume, the signal
  of the (label, hemisphere) of its nearest fiducial vertex (``(white + pial) / 2``) in
  the run's space. So the mean over the voxels of any mask built from nearest vertices (the
  distance samplers) is exactly that ROI's signal, in every space of the run.
* Native runs (:func:`native_registration`): the boldref grid (:data:`NATIVE_GRID`) lives
  in a functional scanner space that a small rotation and shift, different for each run,
  takes the T1w space to.
* T1w runs are on :data:`T1W_GRID`; template runs on :func:`template_grid`, the T1w point
  ``p`` being the template point :func:`to_template` ``(p) = TEMPLATE_AFFINE @ (p + (0, 0,
  WARP_CURVATURE * x**2))``.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from roixr.datasets.geometry import (
    GEOMETRY,
    SyntheticGeometry,
    TransformSpec,
    expected_roi_verts,
)

__all__ = [
    "ANAT_GRID",
    "HEMIS",
    "NATIVE_GRID",
    "T1W_GRID",
    "TEMPLATE",
    "TEMPLATE_AFFINE",
    "TR",
    "WARP_CURVATURE",
    "Grid",
    "Truth",
    "annotation",
    "from_template",
    "native_registration",
    "roi_signals",
    "run_phase",
    "signal_table",
    "snap_grid",
    "t1w_volume",
    "template_grid",
    "to_template",
    "truth",
]

TEMPLATE = "MNI152NLin2009cAsym"
#: The affine part of the T1w → template point map: scale by (1.06, 1.03, 0.97), rotate
#: by (2, -1, 3) degrees about (x, y, z), shift by (1.5, -2, 2.5) mm.
TEMPLATE_AFFINE = (
    TransformSpec(
        "template", (1, 1, 1), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0),
        magnet_rotation_deg=(2.0, -1.0, 3.0), magnet_translation=(1.5, -2.0, 2.5),
    ).magnet()
    @ np.diag([1.06, 1.03, 0.97, 1.0])
)  # fmt: skip
#: The nonlinear part: T1w points first move by ``(0, 0, WARP_CURVATURE * x**2)`` mm.
WARP_CURVATURE = 0.002
#: The repetition time of every series (s).
TR = 2.0
HEMIS = ("L", "R")


@dataclass(frozen=True)
class Grid:
    """An axis-aligned voxel grid: ``shape`` voxels of ``zoom`` mm from ``origin`` (RAS)."""

    shape: tuple[int, int, int]
    zoom: float
    origin: tuple[float, float, float]

    @property
    def affine(self) -> np.ndarray:
        """The voxel → RAS affine."""
        aff = np.diag([self.zoom, self.zoom, self.zoom, 1.0])
        aff[:3, 3] = self.origin
        return aff

    def centres(self) -> np.ndarray:
        """The (n, 3) RAS voxel centres, in NIfTI (Fortran) order."""
        ijk = np.indices(self.shape).reshape(3, -1, order="F").T
        return ijk * self.zoom + np.asarray(self.origin)

    def corners(self) -> np.ndarray:
        """The (8, 3) RAS centres of the corner voxels."""
        ends = [(o, o + (n - 1) * self.zoom) for o, n in zip(self.origin, self.shape, strict=True)]
        return np.array([[x, y, z] for x in ends[0] for y in ends[1] for z in ends[2]])


#: The grid of space-T1w runs (2 mm).
T1W_GRID = Grid((52, 22, 10), 2.0, (-51.0, -21.0, -9.0))
#: The boldref grid of native runs (2.5 mm, in each run's functional scanner space).
NATIVE_GRID = Grid((44, 20, 10), 2.5, (-53.75, -23.75, -11.25))
#: The grid of ``desc-preproc_T1w`` (the synthetic subject's raw anatomical grid).
ANAT_GRID = Grid(GEOMETRY.raw_shape, 1.0, GEOMETRY.raw_origin)


def snap_grid(points: np.ndarray, zoom: float, margin: float) -> Grid:
    """The grid of ``zoom`` mm, on multiples of ``zoom``, around ``points`` plus ``margin``."""
    lo = np.floor((points.min(0) - margin) / zoom) * zoom
    hi = np.ceil((points.max(0) + margin) / zoom) * zoom
    n = [int(v) for v in np.round((hi - lo) / zoom) + 1]
    return Grid((n[0], n[1], n[2]), zoom, (float(lo[0]), float(lo[1]), float(lo[2])))


def annotation(hemi: str, geometry: SyntheticGeometry = GEOMETRY) -> tuple[np.ndarray, list[str]]:
    """The ``aparc`` annotation of hemisphere ``hemi`` ("L" or "R").

    Returns
    -------
    labels : ndarray
        int32, one per vertex of the hemisphere: an index into ``names`` (0 = "unknown").
    names : list of str
        ``["unknown", *ROI names]`` in the geometry's order (EMPTY has no vertex).
    """
    n = geometry.n_vertices
    offset = geometry.n_lh if hemi == "R" else 0
    labels = np.zeros(n, dtype=np.int32)
    names = ["unknown"]
    for roi, verts in expected_roi_verts(geometry).items():
        names.append(roi)
        mine = verts[(verts >= offset) & (verts < offset + n)] - offset
        mine = mine[labels[mine] == 0]  # the first ROI keeps shared vertices
        labels[mine] = len(names) - 1
    return labels, names


def run_phase(subject: str, session: str | None, task: str, run: str | None) -> float:
    """The phase (radians) of a run's signals, from its entities."""
    key = f"{subject}|{session}|{task}|{run}".encode()
    return 2 * np.pi * (zlib.crc32(key) % 1000) / 1000


def signal_table(phase: float, n_labels: int, n_volumes: int) -> np.ndarray:
    """(2 * n_labels, n_volumes) float32: row ``h * n_labels + k`` is the signal of label
    ``k`` in hemisphere ``h`` (0 for L)."""
    t = np.arange(n_volumes)
    h = np.arange(2)[:, None, None]
    k = np.arange(n_labels)[None, :, None]
    wave = np.sin(2 * np.pi * (1 + h) * t / n_volumes + phase)
    table = 100 + 20 * k + 7 * h + (1 + k) * wave
    return table.astype(np.float32).reshape(2 * n_labels, n_volumes)


def roi_signals(
    subject: str,
    session: str | None,
    task: str,
    run: str | None = None,
    *,
    n_volumes: int = 12,
    geometry: SyntheticGeometry = GEOMETRY,
) -> dict[tuple[str, str], np.ndarray]:
    """The signal of each ``(label name, hemisphere)`` of a run (labels without prefixes).

    ``100 + 20 k + 7 h + (1 + k) sin(2π (1 + h) t / n_volumes + φ)`` for label index ``k``,
    hemisphere ``h`` (0 for L) and volume ``t``, with :func:`run_phase` ``φ``; float32.
    """
    _, names = annotation("L", geometry)
    table = signal_table(run_phase(subject, session, task, run), len(names), n_volumes)
    n = len(names)
    pairs = [(h, hemi, k, name) for h, hemi in enumerate(HEMIS) for k, name in enumerate(names)]
    return {(name, hemi): table[h * n + k] for h, hemi, k, name in pairs}


def native_registration(
    subject: str, session: str | None, task: str, run: str | None = None
) -> np.ndarray:
    """The 4×4 T1w RAS → boldref RAS point map of a native run (rotation ≤ 6° about each
    axis, shift ≤ 4 mm), from its entities."""
    f = 0.5 + (zlib.crc32(f"{subject}|{session}|{task}|{run}|xfm".encode()) % 1000) / 1000
    spec = TransformSpec(
        "native", (1, 1, 1), (1.0, 1.0, 1.0), (0.0, 0.0, 0.0),
        magnet_rotation_deg=(3.0 * f, -2.0 * f, 4.0 * f),
        magnet_translation=(2.0 * f, -1.5 * f, 1.0 + f),
    )  # fmt: skip
    return spec.magnet()


def to_template(points: np.ndarray) -> np.ndarray:
    """T1w points (n, 3) → template points: ``TEMPLATE_AFFINE @ (p + (0, 0, c x²))``."""
    p = np.array(points, dtype=np.float64)
    p[:, 2] += WARP_CURVATURE * p[:, 0] ** 2
    return p @ TEMPLATE_AFFINE[:3, :3].T + TEMPLATE_AFFINE[:3, 3]


def from_template(points: np.ndarray) -> np.ndarray:
    """Template points (n, 3) → T1w points: the exact inverse of :func:`to_template`."""
    inv = np.linalg.inv(TEMPLATE_AFFINE)
    r = np.asarray(points, dtype=np.float64) @ inv[:3, :3].T + inv[:3, 3]
    r[:, 2] -= WARP_CURVATURE * r[:, 0] ** 2
    return r


@lru_cache(maxsize=4)
def template_grid(geometry: SyntheticGeometry = GEOMETRY) -> Grid:
    """The grid of template-space runs: 2 mm around the warped surfaces (8 mm margin)."""
    pts = np.vstack([to_template(geometry.fiducial(h)) for h in ("lh", "rh")])
    return snap_grid(pts, 2.0, 8.0)


class Truth:
    """The fiducial vertices (T1w and template space) and their signal-table rows."""

    def __init__(self, geometry: SyntheticGeometry) -> None:
        from scipy.spatial import cKDTree

        def mid(move: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
            # the fiducial surface: midpoint of the (mapped) white and pial surfaces
            halves = [(move(geometry.white(h)) + move(geometry.pial(h))) / 2 for h in ("lh", "rh")]
            return np.vstack(halves)

        label_l, names = annotation("L", geometry)
        label_r, _ = annotation("R", geometry)
        self.n_labels = len(names)
        self.row = np.concatenate([label_l, label_r + self.n_labels])
        self.t1w = cKDTree(mid(lambda p: p))
        self.template = cKDTree(mid(to_template))

    def rows(self, points: np.ndarray, template: bool = False) -> np.ndarray:
        """The signal-table row of each point's nearest fiducial vertex (T1w points, or
        template points if ``template``)."""
        tree = self.template if template else self.t1w
        return self.row[tree.query(points)[1]]


@lru_cache(maxsize=4)
def truth(geometry: SyntheticGeometry = GEOMETRY) -> Truth:
    """The :class:`Truth` of ``geometry`` (built once)."""
    return Truth(geometry)


@lru_cache(maxsize=4)
def t1w_volume(geometry: SyntheticGeometry = GEOMETRY) -> np.ndarray:
    """The T1w image on :data:`ANAT_GRID`: 200 at voxel centres inside the grey-matter
    sheets, 0 elsewhere (uint8)."""
    from scipy.spatial import cKDTree

    fid = np.vstack([geometry.fiducial(h) for h in ("lh", "rh")])
    half = np.concatenate([geometry.thickness(h) for h in ("lh", "rh")]) / 2
    pts = ANAT_GRID.centres()
    dist, idx = cKDTree(fid[:, :2]).query(pts[:, :2])
    inside = (dist <= geometry.spacing / 2) & (np.abs(pts[:, 2] - fid[idx, 2]) <= half[idx])
    return np.where(inside, 200, 0).astype(np.uint8).reshape(ANAT_GRID.shape, order="F")
