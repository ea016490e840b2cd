"""The surface geometry every chunk kernel shares: white, pial, fiducial, the flat mesh.

:class:`Surfaces` holds a subject's surfaces as plain arrays, ready for sampling (with the
derived fiducial surface, thickness and k-d tree); reading surface files is
:mod:`roixr.io.surfaces`. Surfaces and ROI membership are separate inputs to the engine:
:class:`Surfaces` knows nothing of ROIs (see :class:`roixr.rois.RoiTable`).

Through a nonlinear registration (a transform with a ``warp``), the geometry is the
subject's white and pial vertices mapped into the reference's scanner RAS, and the
transform's ``coord`` (the reference's inverse affine) takes it to voxels: the kernels
are the same for every registration. The fiducial surface, thickness and tree are derived
from the mapped surfaces, so distances are measured in the reference's space.
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from roixr.io.subject import Subject
from roixr.io.transforms import Transform

if TYPE_CHECKING:  # scipy.spatial (~0.2 s to import) is loaded by the samplers that query
    from scipy.spatial import cKDTree

__all__ = ["Surfaces", "content_token", "surfaces_of"]


@dataclass(eq=False)
class Surfaces:
    """Both hemispheres' surfaces as plain arrays, left first.

    Attributes
    ----------
    white, pial : ndarray
        ``(n, 3)`` vertex coordinates (mm).
    triangles : ndarray
        ``(m, 3)`` int64 triangles of the merged mesh (right hemisphere renumbered).
    n_lh : int
        Number of left-hemisphere vertices.
    flat_mesh : ndarray
        ``(n,)`` bool: vertices used by the flatmap's triangles (all True without a flatmap).

    Notes
    -----
    The k-d tree of the fiducial surface is built on first use in each process and is not
    pickled, so shipping the surfaces to workers stays cheap.
    """

    white: np.ndarray
    pial: np.ndarray
    triangles: np.ndarray
    n_lh: int
    flat_mesh: np.ndarray
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def n_vertices(self) -> int:
        """Vertex count of both hemispheres."""
        return int(self.white.shape[0])

    @cached_property
    def token(self) -> str:
        """A cheap deterministic name for dask: a hash of the arrays."""
        return content_token(self.white, self.pial, self.triangles, self.n_lh, self.flat_mesh)

    @cached_property
    def fiducial(self) -> np.ndarray:
        """The midpoint of white and pial, computed as pycortex does (in the input dtype)."""
        return (self.white + self.pial) / 2

    @cached_property
    def thickness(self) -> np.ndarray:
        """Pial–white distance per vertex."""
        return np.sqrt(((self.pial - self.white) ** 2).sum(1))

    @property
    def tree(self) -> cKDTree:
        """k-d tree of the fiducial surface (built once per process, thread-safe)."""
        tree = self.__dict__.get("_tree")
        if tree is None:
            with self._lock:
                tree = self.__dict__.get("_tree")
                if tree is None:
                    from scipy.spatial import cKDTree

                    # unbalanced, uncompacted: half the build time, queries as fast
                    tree = cKDTree(self.fiducial, balanced_tree=False, compact_nodes=False)
                    self.__dict__["_tree"] = tree
        return tree

    def __getstate__(self) -> dict:
        keep = ("white", "pial", "triangles", "n_lh", "flat_mesh", "token")
        return {k: v for k, v in self.__dict__.items() if k in keep}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __dask_tokenize__(self) -> str:
        return self.token


_CACHE: weakref.WeakKeyDictionary[Subject, Surfaces] = weakref.WeakKeyDictionary()
_WARPED: weakref.WeakKeyDictionary[Subject, dict[str, Surfaces]] = weakref.WeakKeyDictionary()
_CACHE_LOCK = threading.Lock()


def surfaces_of(subject: Subject, transform: Transform | None = None) -> Surfaces:
    """The subject's :class:`Surfaces`, built once per subject object; with a transform
    that carries a ``warp`` (a nonlinear registration), the surfaces mapped through it,
    built once per subject and warp (keyed by the warp's token).

    Raises
    ------
    RegistrationError
        If the warp's displacement field cannot be read or inverted.

    Warns
    -----
    CoverageWarning
        If vertices lie outside a displacement field's grid.
    """
    with _CACHE_LOCK:
        cached = _CACHE.get(subject)
    if cached is None:
        white, pial = subject.merged_points("white"), subject.merged_points("pial")
        surfaces = Surfaces(
            white=white,
            pial=pial,
            triangles=subject.merged("white").polys,
            n_lh=subject.n_vertices("lh"),
            flat_mesh=subject.flat_mesh_vertices(),
        )
        with _CACHE_LOCK:
            cached = _CACHE.setdefault(subject, surfaces)
    warp = None if transform is None else transform.warp
    if warp is None:
        return cached
    key = warp.token
    with _CACHE_LOCK:
        mapped = _WARPED.get(subject, {}).get(key)
    if mapped is not None:
        return mapped
    n = cached.n_vertices
    points = warp.map(np.concatenate([cached.white, cached.pial]))  # one read of each field
    mapped = Surfaces(
        white=np.ascontiguousarray(points[:n]),
        pial=np.ascontiguousarray(points[n:]),
        triangles=cached.triangles,
        n_lh=cached.n_lh,
        flat_mesh=cached.flat_mesh,
    )
    mapped.__dict__["token"] = content_token(cached.token, key)  # cheap: no array hashed
    with _CACHE_LOCK:
        return _WARPED.setdefault(subject, {}).setdefault(key, mapped)


def content_token(*parts: object) -> str:
    """A content hash of arrays and plain values (no dask import: the drop-in avoids it)."""
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        if isinstance(part, np.ndarray):
            h.update(f"{part.dtype.str}{part.shape}".encode())
            h.update(np.ascontiguousarray(part).data.cast("B"))
        else:
            h.update(repr(part).encode())
        h.update(b"|")
    return h.hexdigest()
