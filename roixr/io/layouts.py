"""Subject layouts: where a subject's surfaces, anatomy, transforms and labels live.

:class:`roixr.Subject` is one class; a layout tells it where its files are. Three layouts:

- :class:`PycortexLayout`: pycortex's filestore (``surfaces/wm_lh.gii``..., in scanner RAS);
- :class:`FreeSurferLayout`: a FreeSurfer subject directory (``surf/lh.white``..., in
  tkr-RAS of ``mri/orig.mgz``);
- :class:`SurfacesLayout`: ``(lh, rh)`` surface files in scanner RAS (fMRIPrep, HCP).

A layout is small and immutable: pickling a subject pickles its layout, never its surfaces.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from roixr.errors import SubjectFileNotFoundError, SubjectNotFoundError, TransformNotFoundError
from roixr.io.freesurfer import (
    read_any_surface,
    read_freesurfer_surface,
    read_patch,
    tkr_to_scanner,
)
from roixr.io.surfaces import Surface, read_surface
from roixr.io.transforms import Transform, identity_transform, read_transform

__all__ = ["FreeSurferLayout", "Layout", "PycortexLayout", "SurfacesLayout"]

_PYCORTEX_FILES = {"white": "wm", "pial": "pia", "flat": "flat", "inflated": "inflated"}
_FS_FILES = {"white": "white", "pial": "pial", "inflated": "inflated",
             "flat": "full.flat.patch.3d"}  # fmt: skip
HEMIS = ("lh", "rh")


def _spec_token(transforms: Mapping[str, Any]) -> str:
    """A content token of a transforms mapping (paths by name, arrays by value)."""
    h = hashlib.blake2b(digest_size=8)
    for key in sorted(transforms):
        h.update(key.encode())
        for part in _flatten(transforms[key]):
            if isinstance(part, np.ndarray):
                h.update(np.ascontiguousarray(part, dtype=float).tobytes())
            else:
                h.update(repr(part).encode())
    return h.hexdigest()


def _flatten(value: Any) -> list[Any]:
    if isinstance(value, (tuple, list)):
        return [p for v in value for p in _flatten(v)]
    if isinstance(value, (str, os.PathLike)):
        return [os.fspath(value)]
    if hasattr(value, "value") and hasattr(value, "invert"):  # a Registration
        return [*_flatten(value.value), value.invert]
    try:
        return [np.asarray(value, dtype=float)]
    except (TypeError, ValueError):
        return [repr(value)]


def _check_transforms(transforms: Mapping[str, Any] | None) -> dict[str, Any]:
    if transforms is None:
        return {}
    if not isinstance(transforms, Mapping):
        raise TransformNotFoundError(
            "transforms must map names to (reference_image, registration) pairs, got "
            f"{type(transforms).__name__}"
        )
    out = {}
    for name, pair in transforms.items():
        if not isinstance(name, str) or not name or name == "identity":
            raise TransformNotFoundError(
                f"transform names must be non-empty strings other than 'identity', got {name!r}"
            )
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise TransformNotFoundError(
                f"transforms[{name!r}] must be a (reference_image, registration) pair, got "
                f"{pair!r:.80}"
            )
        out[name] = tuple(pair)
    return out


@dataclass(frozen=True, eq=False)
class Layout:
    """What every layout gives a :class:`~roixr.Subject` (the base is never used as is)."""

    path: Path
    name: str
    transforms: Mapping[str, Any] = field(default_factory=dict)

    kind = "layout"

    @property
    def key(self) -> tuple:
        """Equality and hashing of subjects."""
        return (self.kind, str(self.path), self.name, _spec_token(self.transforms))

    # surfaces
    def has_surface(self, kind: str) -> bool:
        raise NotImplementedError

    def read_surface(self, kind: str, hemi: str) -> Surface:
        raise NotImplementedError

    def hemisphere_advice(self, kind: str) -> str:
        """What to do when a surface file holds the other hemisphere."""
        return "The file is misnamed or was copied over; put back each hemisphere's own file."

    # anatomy
    @property
    def anatomical(self) -> Path | None:
        """The anatomical image whose scanner RAS the transforms start from."""
        return None

    def surface_to_scanner(self) -> np.ndarray:
        """4×4: surface coordinates → the anatomical image's scanner RAS."""
        return np.eye(4)

    @property
    def label_dir(self) -> Path | None:
        """Where FreeSurfer annotations and labels are found by name."""
        return None

    # transforms
    def transform_names(self) -> list[str]:
        return sorted(self.transforms)

    def read_transform(self, name: str, subject_name: str) -> Transform:
        """A named transform (``identity`` included)."""
        if name == "identity":
            return self.identity(subject_name)
        if name in self.transforms:
            reference, registration = self.transforms[name]
            return self.pair(reference, registration, name=name)
        raise TransformNotFoundError(
            f"subject {subject_name!r} has no transform {name!r}. Available: "
            f"{[*self.transform_names(), 'identity']}. Name one, pass a (reference_image, "
            "registration) pair, or add it with transforms={name: (reference, registration)}."
        )

    def identity(self, subject_name: str) -> Transform:
        anat = self.anatomical
        if anat is None:
            raise TransformNotFoundError(
                f"subject {subject_name!r} has no anatomical image, so it has no 'identity' "
                "transform. Pass anatomical= to roixr.Subject.from_surfaces, or pass xfm as a "
                "(reference_image, 'identity') pair to sample in that image's grid."
            )
        return identity_transform(anat, self.surface_to_scanner())

    def pair(self, reference: Any, registration: Any, name: str | None = None) -> Transform:
        from roixr.io.transforms import registered_transform

        return registered_transform(
            reference,
            registration,
            surface_to_scanner=self.surface_to_scanner(),
            anatomical=self.anatomical,
            name=name,
        )


@dataclass(frozen=True, eq=False)
class PycortexLayout(Layout):
    """pycortex's filestore layout."""

    kind = "pycortex"

    @property
    def key(self) -> tuple:
        return (self.kind, str(self.path))

    def has_surface(self, kind: str) -> bool:
        if kind in ("white", "pial", "fiducial"):
            return True
        folder = self.path / "surfaces"
        return any((folder / f"{_PYCORTEX_FILES[kind]}_{h}.gii").is_file() for h in HEMIS)

    def read_surface(self, kind: str, hemi: str) -> Surface:
        return read_surface(self.path / "surfaces" / f"{_PYCORTEX_FILES[kind]}_{hemi}.gii")

    @property
    def anatomical(self) -> Path:
        return self.path / "anatomicals" / "raw.nii.gz"

    def transform_names(self) -> list[str]:
        folder = self.path / "transforms"
        found = []
        if folder.is_dir():
            found = [p.name for p in folder.iterdir() if (p / "matrices.xfm").is_file()]
        return sorted({*found, *self.transforms})

    def read_transform(self, name: str, subject_name: str) -> Transform:
        if name == "identity" or name in self.transforms:
            return super().read_transform(name, subject_name)
        folder = self.path / "transforms" / name
        if not name or not folder.is_dir():
            raise TransformNotFoundError(
                f"subject {subject_name!r} has no transform {name!r} (no folder {folder}). "
                f"Available: {[*self.transform_names(), 'identity']}."
            )
        return read_transform(folder)


@dataclass(frozen=True, eq=False)
class FreeSurferLayout(Layout):
    """A FreeSurfer subject directory: ``surf/``, ``mri/orig.mgz``, ``label/``."""

    kind = "freesurfer"

    @classmethod
    def open(
        cls, path: str | os.PathLike, transforms: Mapping[str, Any] | None, name: str | None
    ) -> FreeSurferLayout:
        folder = Path(path).expanduser().resolve()
        if not folder.is_dir():
            raise SubjectNotFoundError(
                f"FreeSurfer subject folder {folder} does not exist. Pass the folder recon-all "
                "made ($SUBJECTS_DIR/<subject>)."
            )
        if not (folder / "surf").is_dir():
            raise SubjectNotFoundError(
                f"{folder} is not a FreeSurfer subject: it has no surf/ folder. Pass the "
                "subject's own folder ($SUBJECTS_DIR/<subject>, holding surf/, mri/, label/)."
            )
        layout = cls(folder, name or folder.name, _check_transforms(transforms))
        layout.surface_to_scanner()  # a missing or bad orig.mgz is an error now
        return layout

    def has_surface(self, kind: str) -> bool:
        if kind in ("white", "pial", "fiducial"):
            return True
        if kind not in _FS_FILES:
            return False
        return any((self.path / "surf" / f"{h}.{_FS_FILES[kind]}").is_file() for h in HEMIS)

    def read_surface(self, kind: str, hemi: str) -> Surface:
        if kind == "flat":  # the patch pycortex imports a flatmap from
            white = read_freesurfer_surface(self.path / "surf" / f"{hemi}.white")
            return read_patch(self.path / "surf" / f"{hemi}.{_FS_FILES[kind]}", white)
        return read_freesurfer_surface(self.path / "surf" / f"{hemi}.{_FS_FILES[kind]}")

    @property
    def anatomical(self) -> Path:
        return self.path / "mri" / "orig.mgz"

    def surface_to_scanner(self) -> np.ndarray:
        cached = self.__dict__.get("_s2s")
        if cached is None:
            cached = tkr_to_scanner(self.anatomical)[0]
            object.__setattr__(self, "_s2s", cached)
        return cached

    @property
    def label_dir(self) -> Path:
        return self.path / "label"

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_s2s"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)


@dataclass(frozen=True, eq=False)
class SurfacesLayout(Layout):
    """``(lh, rh)`` surface files in scanner RAS: fMRIPrep, HCP, or any GIfTI/FreeSurfer
    surfaces."""

    files: Mapping[str, tuple[Path, Path]] = field(default_factory=dict)
    anatomical_file: Path | None = None

    kind = "surfaces"

    @property
    def key(self) -> tuple:
        files = tuple((k, str(a), str(b)) for k, (a, b) in sorted(self.files.items()))
        return (self.kind, files, str(self.anatomical_file), self.name,
                _spec_token(self.transforms))  # fmt: skip

    @classmethod
    def open(
        cls,
        *,
        white: Any,
        pial: Any,
        flat: Any,
        inflated: Any,
        anatomical: Any,
        transforms: Mapping[str, Any] | None,
        name: str | None,
    ) -> SurfacesLayout:
        files = {}
        for kind, pair in (("white", white), ("pial", pial), ("flat", flat),
                           ("inflated", inflated)):  # fmt: skip
            if pair is None and kind in ("flat", "inflated"):
                continue
            if not isinstance(pair, (tuple, list)) or len(pair) != 2:
                raise SubjectNotFoundError(
                    f"{kind}= must be an (lh, rh) pair of surface files, got {pair!r:.80}"
                )
            lh, rh = (Path(p).expanduser().resolve() for p in pair)
            for p in (lh, rh):
                if not p.is_file():
                    raise SubjectFileNotFoundError(
                        f"{kind} surface {p} does not exist. Pass existing GIfTI (.surf.gii) "
                        "or FreeSurfer surface files, left hemisphere first."
                    )
            files[kind] = (lh, rh)
        anat = None
        if anatomical is not None:
            anat = Path(anatomical).expanduser().resolve()
            if not anat.is_file():
                raise SubjectFileNotFoundError(
                    f"anatomical image {anat} does not exist. Pass the T1w image the surfaces "
                    "were made from (fMRIPrep: sub-*_desc-preproc_T1w.nii.gz), or leave it out."
                )
        lh_white = files["white"][0]
        return cls(lh_white.parent, name or _guess_name(lh_white), _check_transforms(transforms),
                   files, anat)  # fmt: skip

    def has_surface(self, kind: str) -> bool:
        return kind in ("white", "pial", "fiducial") or kind in self.files

    def hemisphere_advice(self, kind: str) -> str:
        files = self.files.get(kind)
        if files is None:
            return super().hemisphere_advice(kind)
        return (
            f"Pass {kind}=(lh, rh), left hemisphere first: {kind}=('{files[1].name}', "
            f"'{files[0].name}') if the two are swapped."
        )

    def read_surface(self, kind: str, hemi: str) -> Surface:
        if kind not in self.files:
            raise SubjectFileNotFoundError(
                f"subject {self.name!r} has no {kind} surface; pass {kind}=(lh, rh) to "
                "roixr.Subject.from_surfaces."
            )
        return read_any_surface(self.files[kind][HEMIS.index(hemi)])

    @property
    def anatomical(self) -> Path | None:
        return self.anatomical_file


def _guess_name(path: Path) -> str:
    """``sub-01`` from BIDS names, ``100307`` from HCP names, else the folder's name."""
    stem = path.name
    if stem.startswith("sub-"):
        return stem.split("_")[0]
    head = stem.split(".")[0]
    if head.isdigit():  # HCP: 100307.L.white.32k_fs_LR.surf.gii
        return head
    return path.parent.name or "subject"
