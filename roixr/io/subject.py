"""``roixr.Subject``: a subject folder in pycortex's filestore layout, read lazily and once.

Nothing here ever writes into the subject's folder.
"""

from __future__ import annotations

import os
import threading
from functools import cached_property
from pathlib import Path
from typing import Literal

import numpy as np

from roixr.errors import (
    SubjectNotFoundError,
    SurfaceMismatchError,
    TransformNotFoundError,
)
from roixr.io.filestore import filestores
from roixr.io.surfaces import Surface, read_surface
from roixr.io.transforms import Transform, identity_transform, read_transform

__all__ = ["HEMISPHERES", "Subject", "SubjectLike", "as_subject"]

Hemi = Literal["lh", "rh"]
HEMISPHERES: tuple[Hemi, Hemi] = ("lh", "rh")
_FILE_KINDS = {"white": "wm", "pial": "pia", "flat": "flat", "inflated": "inflated"}


class Subject:
    """A subject in pycortex's filestore layout.

    Parameters
    ----------
    path : path-like
        The subject's folder, holding ``surfaces/``, ``transforms/``, ``overlays.svg`` and
        ``anatomicals/``.

    Notes
    -----
    Files are read on first use and cached on the instance; a ``Subject`` is safe to share
    between threads. Use :func:`as_subject` to accept a name, a folder or a ``Subject``.

    Examples
    --------
    >>> import tempfile, roixr
    >>> path = roixr.datasets.synthetic_subject(tempfile.mkdtemp() + "/synth")
    >>> subj = roixr.Subject(path)
    >>> subj.name, sorted(subj.transforms)[:1]
    ('synth', ['fullhead'])
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path).expanduser().resolve()
        if not self.path.is_dir():
            raise SubjectNotFoundError(
                f"subject folder {self.path} does not exist. Pass an existing subject folder, "
                "a roixr.Subject, or a name in a filestore (set ROIXR_FILESTORE)."
            )
        if not (self.path / "surfaces").is_dir():
            raise SubjectNotFoundError(
                f"{self.path} is not a pycortex subject: it has no surfaces/ folder. Pass the "
                "subject's own folder (the one holding surfaces/, transforms/, overlays.svg)."
            )
        self._lock = threading.RLock()
        self._surfaces: dict[tuple[str, str], Surface] = {}
        self._transforms: dict[str, Transform] = {}
        self._derived: dict[str, np.ndarray] = {}

    @property
    def name(self) -> str:
        """The subject's name (its folder's name)."""
        return self.path.name

    def __repr__(self) -> str:
        return f"<roixr.Subject {self.name!r} at {self.path}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Subject) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    def __reduce__(self):  # pickle by path: caches are rebuilt where needed
        return (Subject, (self.path,))

    # -- surfaces ---------------------------------------------------------------------
    def surface(self, kind: str, hemi: Hemi) -> Surface:
        """One hemisphere's surface.

        Parameters
        ----------
        kind : {"white", "pial", "fiducial", "flat", "inflated"}
            ``fiducial`` is the midpoint of white and pial, as in pycortex.
        hemi : {"lh", "rh"}

        Returns
        -------
        Surface
        """
        if hemi not in HEMISPHERES:
            raise ValueError(f"hemi must be 'lh' or 'rh', got {hemi!r}")
        if kind not in (*_FILE_KINDS, "fiducial"):
            raise ValueError(
                f"unknown surface kind {kind!r}; use one of white, pial, fiducial, flat, inflated"
            )
        key = (kind, hemi)
        surf = self._surfaces.get(key)
        if surf is None:  # two threads may read the same file once each; both results agree
            surf = self._read_surface(kind, hemi)
            with self._lock:
                surf = self._surfaces.setdefault(key, surf)
        return surf

    def _read_surface(self, kind: str, hemi: Hemi) -> Surface:
        if kind == "fiducial":
            white, pial = self.surface("white", hemi), self.surface("pial", hemi)
            return Surface((white.points + pial.points) / 2, white.polys, "fiducial")
        surf = read_surface(self.path / "surfaces" / f"{_FILE_KINDS[kind]}_{hemi}.gii")
        if kind != "white":
            white = self.surface("white", hemi)
            if surf.n_vertices != white.n_vertices:
                raise SurfaceMismatchError(
                    f"{surf.source} has {surf.n_vertices} vertices but {white.source} has "
                    f"{white.n_vertices}; all surfaces of a hemisphere must share vertices. "
                    "Re-import the subject's surfaces from one FreeSurfer run."
                )
        return surf

    def preload(self, kinds: tuple[str, ...] = ("white", "pial", "flat")) -> Subject:
        """Read several surfaces at once, in threads (decompression and parsing release the GIL).

        Returns the subject, so calls chain.
        """
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=4) as pool:
            # white first: the others check their vertex counts against it
            list(pool.map(lambda h: self.surface("white", h), HEMISPHERES))
            kinds = tuple(k for k in kinds if k != "white" and self.has_surface(k))
            jobs = [(k, h) for k in kinds for h in HEMISPHERES]
            list(pool.map(lambda kh: self.surface(*kh), jobs))
        return self

    def n_vertices(self, hemi: Hemi | None = None) -> int:
        """Vertex count of one hemisphere, or of both when ``hemi`` is None."""
        if hemi is None:
            return sum(self.n_vertices(h) for h in HEMISPHERES)
        return self.surface("white", hemi).n_vertices

    # -- transforms -------------------------------------------------------------------
    @property
    def transforms(self) -> list[str]:
        """Names of the subject's transforms (folders under ``transforms/``)."""
        folder = self.path / "transforms"
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if (p / "matrices.xfm").is_file())

    def transform(self, name: str) -> Transform:
        """A transform by name; ``"identity"`` is the grid of ``anatomicals/raw.nii.gz``."""
        with self._lock:
            if name not in self._transforms:
                self._transforms[name] = self._read_transform(name)
            return self._transforms[name]

    def _read_transform(self, name: str) -> Transform:
        if name == "identity":
            return identity_transform(self.path / "anatomicals" / "raw.nii.gz")
        folder = self.path / "transforms" / name
        if not isinstance(name, str) or not name or not folder.is_dir():
            raise TransformNotFoundError(
                f"subject {self.name!r} has no transform {name!r} (no folder {folder}). "
                f"Available: {[*self.transforms, 'identity']}."
            )
        return read_transform(folder)

    def has_surface(self, kind: str) -> bool:
        """Whether the subject has a surface of this kind (``"flat"``, ...); a hemisphere's
        missing file is then an error when it is read."""
        if kind in ("white", "pial", "fiducial"):
            return True
        folder = self.path / "surfaces"
        return any((folder / f"{_FILE_KINDS[kind]}_{h}.gii").is_file() for h in HEMISPHERES)

    def flat_mesh_vertices(self) -> np.ndarray:
        """Bool ``(n,)``: vertices used by the flatmap's triangles (the others were cut out of
        the flatmap). Every vertex when the subject has no flatmap."""
        with self._lock:
            cached = self._derived.get("flat_mesh")
        if cached is not None:
            return cached
        good = np.zeros(self.n_vertices(), dtype=bool)
        if not self.has_surface("flat"):
            good[:] = True
        else:
            for hemi, part in self.hemisphere_slices.items():
                good[part][self.surface("flat", hemi).polys.ravel()] = True
        with self._lock:
            return self._derived.setdefault("flat_mesh", good)

    # -- derived geometry, shared by the layers above -----------------------------------
    @cached_property
    def hemisphere_slices(self) -> dict[Hemi, slice]:
        """Where each hemisphere's vertices sit in the merged (lh then rh) numbering."""
        n_lh = self.n_vertices("lh")
        return {"lh": slice(0, n_lh), "rh": slice(n_lh, n_lh + self.n_vertices("rh"))}

    def merged(self, kind: str) -> Surface:
        """Both hemispheres merged, right after left, triangles renumbered (as pycortex)."""
        key = (kind, "both")
        if key not in self._surfaces:
            merged = self._merge(kind)
            with self._lock:
                self._surfaces.setdefault(key, merged)
        return self._surfaces[key]

    def merged_points(self, kind: str) -> np.ndarray:
        """Vertex coordinates of both hemispheres, right after left (the triangles of
        :meth:`merged` are not built)."""
        key = f"points-{kind}"
        with self._lock:
            cached = self._derived.get(key)
        if cached is not None:
            return cached
        points = np.concatenate([self.surface(kind, h).points for h in HEMISPHERES])
        with self._lock:
            return self._derived.setdefault(key, points)

    def _merge(self, kind: str) -> Surface:
        lh, rh = self.surface(kind, "lh"), self.surface(kind, "rh")
        return Surface(
            np.concatenate([lh.points, rh.points]),
            np.concatenate([lh.polys, rh.polys + lh.n_vertices]),
            kind,
        )


SubjectLike = Subject | str | os.PathLike


def as_subject(subject: SubjectLike) -> Subject:
    """Accept a :class:`Subject`, a subject folder, or a subject name.

    Names are looked up in ``ROIXR_FILESTORE`` (``os.pathsep``-separated folders), then in
    pycortex's configured filestore when pycortex is installed.

    Raises
    ------
    SubjectNotFoundError
        If nothing matches; the message lists where roixr looked.
    """
    if isinstance(subject, Subject):
        return subject
    if not isinstance(subject, (str, os.PathLike)):
        raise TypeError(
            f"subject must be a roixr.Subject, a folder or a name, got {type(subject).__name__}"
        )
    path = Path(subject).expanduser()
    if path.is_dir() or os.sep in str(subject) or (os.altsep and os.altsep in str(subject)):
        return Subject(path)
    stores = filestores()
    for store in stores:
        if (store / str(subject) / "surfaces").is_dir():
            return Subject(store / str(subject))
    looked = ", ".join(str(s) for s in stores) or "no filestore (ROIXR_FILESTORE is unset)"
    raise SubjectNotFoundError(
        f"no subject named {str(subject)!r} in {looked}. Pass the subject's folder, or set "
        "ROIXR_FILESTORE to the folder that holds it."
    )
