"""``roixr.Subject``: a subject folder in pycortex's filestore layout, read lazily and once.

Nothing here ever writes into the subject's folder.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np

from roixr.errors import (
    OptionError,
    SubjectNotFoundError,
    SurfaceMismatchError,
    TransformNotFoundError,
)
from roixr.io.filestore import filestores
from roixr.io.layouts import FreeSurferLayout, Layout, PycortexLayout, SurfacesLayout
from roixr.io.surfaces import Surface
from roixr.io.transforms import Transform

__all__ = ["HEMISPHERES", "Subject", "SubjectLike", "XfmLike", "as_subject"]

Hemi = Literal["lh", "rh"]
HEMISPHERES: tuple[Hemi, Hemi] = ("lh", "rh")
_KINDS = ("white", "pial", "flat", "inflated")


class Subject:
    """A subject: its surfaces, anatomy and transforms.

    ``Subject(path)`` reads pycortex's filestore layout; :meth:`from_freesurfer` reads a
    FreeSurfer subject directory and :meth:`from_surfaces` ``(lh, rh)`` surface files in
    scanner RAS (fMRIPrep, HCP). Everything downstream works the same on all three.

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
        folder = Path(path).expanduser().resolve()
        if not folder.is_dir():
            raise SubjectNotFoundError(
                f"subject folder {folder} does not exist. Pass an existing subject folder, "
                "a roixr.Subject, or a name in a filestore (set ROIXR_FILESTORE)."
            )
        if not (folder / "surfaces").is_dir():
            hint = (
                " It looks like a FreeSurfer subject: use roixr.Subject.from_freesurfer."
                if (folder / "surf").is_dir()
                else ""
            )
            raise SubjectNotFoundError(
                f"{folder} is not a pycortex subject: it has no surfaces/ folder. Pass the "
                "subject's own folder (the one holding surfaces/, transforms/, overlays.svg)."
                + hint
            )
        self._setup(PycortexLayout(folder, folder.name))

    def _setup(self, layout: Layout) -> None:
        self._layout = layout
        self.path = layout.path
        self._lock = threading.RLock()
        self._surfaces: dict[tuple[str, str], Surface] = {}
        self._transforms: dict[str, Transform] = {}
        self._derived: dict[str, np.ndarray] = {}
        self._hemispheres_checked = False

    @classmethod
    def _from_layout(cls, layout: Layout) -> Subject:
        subject = cls.__new__(cls)
        subject._setup(layout)
        return subject

    @classmethod
    def from_freesurfer(
        cls,
        path: str | os.PathLike,
        *,
        transforms: Mapping[str, tuple[Any, Any]] | None = None,
        name: str | None = None,
    ) -> Subject:
        """A FreeSurfer subject directory (``$SUBJECTS_DIR/<subject>``).

        Reads ``surf/{lh,rh}.{white,pial}`` (in tkr-RAS), ``mri/orig.mgz`` (the tkr-RAS ↔
        scanner-RAS relation, and the ``identity`` transform's grid) and ``label/`` (for
        annotations named like ``"aparc"``).

        Parameters
        ----------
        path : path-like
            The subject's folder.
        transforms : mapping, optional
            ``{name: (reference_image, registration)}``: named functional grids (see
            :func:`roixr.roi_masks` for registrations).
        name : str, optional
            The subject's name; the folder's name by default.

        Raises
        ------
        SubjectNotFoundError
            If the folder or its ``surf/`` is missing.
        SubjectFileNotFoundError
            If ``mri/orig.mgz`` is missing.

        Examples
        --------
        >>> subj = roixr.Subject.from_freesurfer("bert")  # doctest: +SKIP
        >>> masks = roixr.roi_masks(subj, ("bold_ref.nii.gz", "register.lta"),
        ...                         source="aparc")  # doctest: +SKIP
        """
        return cls._from_layout(FreeSurferLayout.open(path, transforms, name))

    @classmethod
    def from_surfaces(
        cls,
        *,
        white: tuple[str | os.PathLike, str | os.PathLike],
        pial: tuple[str | os.PathLike, str | os.PathLike],
        transforms: Mapping[str, tuple[Any, Any]] | None = None,
        flat: tuple[str | os.PathLike, str | os.PathLike] | None = None,
        anatomical: str | os.PathLike | None = None,
        name: str | None = None,
        inflated: tuple[str | os.PathLike, str | os.PathLike] | None = None,
    ) -> Subject:
        """A subject from ``(lh, rh)`` surface files in scanner RAS (fMRIPrep, HCP).

        Parameters
        ----------
        white, pial : (lh, rh)
            GIfTI (``.surf.gii``) or FreeSurfer surface files, in the scanner RAS of the
            anatomical image (fMRIPrep's ``sub-*_hemi-L_white.surf.gii``, HCP's
            ``*.L.white.32k_fs_LR.surf.gii``).
        transforms : mapping, optional
            ``{name: (reference_image, registration)}``.
        flat : (lh, rh), optional
            Flatmaps; needed only by ROIs drawn in an overlays SVG.
        anatomical : path-like, optional
            The anatomical (T1w) image: the ``identity`` transform's grid, and the image FSL
            and tkregister registrations are relative to.
        name : str, optional
            The subject's name; guessed from the file names by default.
        inflated : (lh, rh), optional
            Inflated surfaces (not used by masks).
        """
        layout = SurfacesLayout.open(
            white=white, pial=pial, flat=flat, inflated=inflated, anatomical=anatomical,
            transforms=transforms, name=name,
        )  # fmt: skip
        return cls._from_layout(layout)

    @property
    def name(self) -> str:
        """The subject's name (its folder's name unless given)."""
        return self._layout.name

    @property
    def layout(self) -> Layout:
        """Where the subject's files are (pycortex, FreeSurfer or plain surfaces)."""
        return self._layout

    @property
    def anatomical(self) -> Path | None:
        """The anatomical image (``raw.nii.gz``, ``orig.mgz``, or ``anatomical=``)."""
        return self._layout.anatomical

    @property
    def surface_to_scanner(self) -> np.ndarray:
        """4×4: the surfaces' coordinates → the anatomical image's scanner RAS (identity
        except for FreeSurfer's tkr-RAS surfaces)."""
        return self._layout.surface_to_scanner()

    @property
    def label_dir(self) -> Path | None:
        """Where FreeSurfer annotations are found by name (``label/``), if any."""
        return self._layout.label_dir

    def __repr__(self) -> str:
        kind = "" if self._layout.kind == "pycortex" else f" ({self._layout.kind})"
        return f"<roixr.Subject {self.name!r}{kind} at {self.path}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Subject) and other._layout.key == self._layout.key

    def __hash__(self) -> int:
        return hash(self._layout.key)

    def __reduce__(self):  # pickle by path (or layout): caches are rebuilt where needed
        if isinstance(self._layout, PycortexLayout) and not self._layout.transforms:
            return (Subject, (self.path,))
        return (Subject._from_layout, (self._layout,))

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
            raise OptionError(f"hemi must be 'lh' or 'rh', got {hemi!r}")
        if kind not in (*_KINDS, "fiducial"):
            raise OptionError(
                f"unknown surface kind {kind!r}; use one of white, pial, fiducial, flat, inflated"
            )
        key = (kind, hemi)
        surf = self._surfaces.get(key)
        if surf is None:  # two threads may read the same file once each; both results agree
            surf = self._read_surface(kind, hemi)
            with self._lock:
                surf = self._surfaces.setdefault(key, surf)
            if kind == "white":
                self._check_hemispheres()
        return surf

    def _read_surface(self, kind: str, hemi: Hemi) -> Surface:
        if kind == "fiducial":
            white, pial = self.surface("white", hemi), self.surface("pial", hemi)
            return Surface((white.points + pial.points) / 2, white.polys, "fiducial")
        surf = self._layout.read_surface(kind, hemi)
        if surf.hemisphere is not None and surf.hemisphere != hemi:
            side = {"lh": "left", "rh": "right"}
            raise SurfaceMismatchError(
                f"{surf.source} is a {side[surf.hemisphere]}-hemisphere surface "
                f"({surf.hemisphere_from}) but was given as subject {self.name!r}'s {kind} "
                f"surface of the {side[hemi]} hemisphere ({hemi}); roixr never swaps "
                "hemispheres silently.",
                fix=self._layout.hemisphere_advice(kind),
            )
        if kind != "white":
            white = self.surface("white", hemi)
            if surf.n_vertices != white.n_vertices:
                raise SurfaceMismatchError(
                    f"{surf.source} has {surf.n_vertices} vertices but {white.source} has "
                    f"{white.n_vertices}; all surfaces of a hemisphere must share vertices. "
                    "Re-import the subject's surfaces from one FreeSurfer run."
                )
            if kind == "pial" and not _same_triangles(surf.polys, white.polys):
                raise SurfaceMismatchError(
                    f"{surf.source} and {white.source} have {surf.n_vertices} vertices each "
                    f"but other triangles ({len(surf.polys)} and {len(white.polys)}, not the "
                    "same vertex triples): they are different meshes, so vertex i of one is "
                    "not vertex i of the other.",
                    fix="Pass the white and pial surfaces of one FreeSurfer run (or of one "
                    "resampled mesh).",
                )
        return surf

    def _check_hemispheres(self) -> None:
        """The left white surface lies left of the right one (RAS: smaller x); checked once
        both are read."""
        with self._lock:
            lh, rh = self._surfaces.get(("white", "lh")), self._surfaces.get(("white", "rh"))
            if lh is None or rh is None or self._hemispheres_checked:
                return
            self._hemispheres_checked = True
        # in the anatomical image's scanner RAS (FreeSurfer's tkr-RAS of an unconformed
        # orig.mgz may be mirrored, and roixr places surfaces through that matrix)
        to_scanner = np.asarray(self.surface_to_scanner, dtype=np.float64)
        x_lh, x_rh = (
            float(
                to_scanner[0, :3] @ np.mean(s.points, axis=0, dtype=np.float64) + to_scanner[0, 3]
            )
            for s in (lh, rh)
        )
        if x_lh > x_rh:
            with self._lock:
                self._surfaces.pop(("white", "lh"), None)
                self._surfaces.pop(("white", "rh"), None)
                self._hemispheres_checked = False
            raise SurfaceMismatchError(
                f"subject {self.name!r}'s left white surface {lh.source} lies to the right of "
                f"its right one {rh.source} (mean x {x_lh:+.1f} mm and {x_rh:+.1f} mm in scanner "
                "RAS, where the left hemisphere has the smaller x). Either the (lh, rh) "
                "files are swapped, or the surfaces are not in RAS coordinates (LPS "
                "coordinates flip x); roixr never swaps hemispheres silently.",
                fix=self._layout.hemisphere_advice("white")
                + " Surfaces in LPS must be converted to RAS (negate x and y) first.",
            )

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
        """Names of the subject's transforms (``identity`` aside)."""
        return self._layout.transform_names()

    def transform(self, xfm: XfmLike) -> Transform:
        """A transform: by name, or from a ``(reference_image, registration)`` pair.

        Parameters
        ----------
        xfm : str, (reference_image, registration) or Transform
            A name (``"identity"`` is the anatomical image's grid); or a pair: the functional
            reference image (a path or a nibabel image, whose grid and affine the masks take)
            and its registration to the anatomy (a FreeSurfer ``.lta`` or ``register.dat``,
            an FSL ``.mat``, an ITK/ANTs ``.txt``/``.h5``, a 4×4 anatomical RAS → functional
            RAS array, ``"identity"``, or a :class:`~roixr.io.registration.Registration`
            with ``invert=``).

        Raises
        ------
        TransformNotFoundError, TransformError, RegistrationError
        """
        if isinstance(xfm, Transform):
            return xfm
        if isinstance(xfm, tuple):
            if len(xfm) != 2:
                raise TransformNotFoundError(
                    f"a transform pair is (reference_image, registration), got {len(xfm)} "
                    f"items: {xfm!r:.100}"
                )
            key = _pair_key(xfm)
            if key is None:
                return self._layout.pair(*xfm)
            with self._lock:
                if key not in self._transforms:
                    self._transforms[key] = self._layout.pair(*xfm)
                return self._transforms[key]
        if not isinstance(xfm, str) or not xfm:
            raise TransformNotFoundError(
                f"xfm={xfm!r} names no transform of subject {self.name!r}. Pass a transform "
                f"name (one of {[*self.transforms, 'identity']}) or a (reference_image, "
                "registration) pair, for example ('bold_ref.nii.gz', 'register.lta')."
            )
        with self._lock:
            if xfm not in self._transforms:
                self._transforms[xfm] = self._layout.read_transform(xfm, self.name)
            return self._transforms[xfm]

    def has_surface(self, kind: str) -> bool:
        """Whether the subject has a surface of this kind (``"flat"``, ...); a hemisphere's
        missing file is then an error when it is read."""
        return self._layout.has_surface(kind)

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


def _same_triangles(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two triangle arrays list the same vertex triples (in any order)."""
    if a.shape != b.shape:
        return False
    if np.array_equal(a, b):
        return True

    def canonical(t: np.ndarray) -> np.ndarray:
        t = np.sort(t, axis=1)
        return t[np.lexsort(t.T[::-1])]

    return bool(np.array_equal(canonical(a), canonical(b)))


SubjectLike = Subject | str | os.PathLike

#: What ``xfm`` takes: a name, a ``(reference_image, registration)`` pair, or a Transform.
XfmLike = str | tuple[Any, Any] | Transform


def _pair_key(pair: tuple[Any, Any]) -> str | None:
    """A cache key for a pair of paths (None for images or arrays, not cached)."""
    ref, reg = pair
    if isinstance(ref, (str, os.PathLike)) and isinstance(reg, (str, os.PathLike)):
        return f"pair:{os.fspath(ref)}|{os.fspath(reg)}"
    return None


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
    if subject is None or not isinstance(subject, (str, os.PathLike)):
        raise SubjectNotFoundError(
            f"subject={subject!r:.60} is not a subject. Pass a roixr.Subject (for example "
            "roixr.Subject.from_freesurfer(path)), a pycortex subject folder, or a subject "
            "name in a filestore (set ROIXR_FILESTORE)."
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
