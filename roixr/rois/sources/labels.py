"""ROIs from surface label files: FreeSurfer ``.annot`` and ``.label``, GIfTI ``.label.gii``,
CIFTI ``.dlabel.nii``, all read with nibabel.

Each file gives, per hemisphere, one integer label per vertex and a table ``{key: (name,
colour)}``. Background labels are not ROIs: the names ``unknown``, ``???``, ``Medial_Wall``
(any case), key 0, and vertices labelled -1.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import scipy.sparse as sp

from roixr.errors import RoiSourceError, SubjectFileNotFoundError, VertexCountError
from roixr.io.subject import Subject
from roixr.rois.table import RoiTable

__all__ = [
    "AnnotSource",
    "CiftiLabelSource",
    "GiftiLabelSource",
    "HemiLabels",
    "LabelFilesSource",
    "is_background",
]

HEMIS = ("lh", "rh")
_BACKGROUND = {"unknown", "???", "medial_wall", "medialwall", "medial wall"}


def is_background(key: int, name: str) -> bool:
    """Whether a label is background rather than an ROI."""
    return key == 0 or name.strip().lower() in _BACKGROUND


def _hex(rgb: Sequence[float], scale: float = 1.0) -> str:
    r, g, b = (round(float(c) * scale) for c in rgb[:3])
    return f"#{min(max(r, 0), 255):02x}{min(max(g, 0), 255):02x}{min(max(b, 0), 255):02x}"


@dataclass(frozen=True)
class HemiLabels:
    """One hemisphere's labels: a key per vertex and ``{key: (name, "#rrggbb")}``."""

    values: np.ndarray
    table: dict[int, tuple[str, str]]
    source: str

    def rois(self) -> dict[str, list[int]]:
        """ROI name → its keys (background left out), in table order."""
        out: dict[str, list[int]] = {}
        for key, (name, _) in self.table.items():
            if not is_background(key, name):
                out.setdefault(name, []).append(key)
        return out


class _LabelTableSource:
    """Shared machinery: per-hemisphere label arrays → names, colours and a RoiTable."""

    kind = "labels"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._cache: dict[Any, tuple[HemiLabels, HemiLabels]] = {}

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("_lock", "_cache")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()
        self._cache = {}

    @property
    def description(self) -> str:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.description!r})"

    def _key(self, subject: Subject) -> Any:
        return None

    def _read(self, subject: Subject) -> tuple[HemiLabels, HemiLabels]:
        raise NotImplementedError

    def labels(self, subject: Subject) -> tuple[HemiLabels, HemiLabels]:
        """Both hemispheres' labels, read once per source (and subject, for names)."""
        key = self._key(subject)
        with self._lock:
            cached = self._cache.get(key)
        if cached is None:
            cached = self._read(subject)
            with self._lock:
                cached = self._cache.setdefault(key, cached)
        for hemi, part in zip(HEMIS, cached, strict=True):
            n = subject.n_vertices(hemi)  # type: ignore[arg-type]
            if part.values.shape[0] != n:
                raise VertexCountError(
                    f"{part.source} labels {part.values.shape[0]} vertices but subject "
                    f"{subject.name!r} has {n} in hemisphere {hemi}. The labels belong to "
                    "other surfaces (another subject, or a resampled mesh such as fsaverage "
                    "or fs_LR 32k): pass labels made on this subject's surfaces."
                )
        return cached

    def names(self, subject: Subject) -> list[str]:
        """ROI names: the left hemisphere's table order, then names only on the right."""
        lh, rh = self.labels(subject)
        return list(dict.fromkeys([*lh.rois(), *rh.rois()]))

    def colors(self, subject: Subject) -> dict[str, str]:
        lh, rh = self.labels(subject)
        out: dict[str, str] = {}
        for part in (lh, rh):
            for key, (name, color) in part.table.items():
                if not is_background(key, name):
                    out.setdefault(name, color)
        return out

    def table(self, subject: Subject, names: Sequence[str]) -> RoiTable:
        """Vertex membership of the named ROIs."""
        parts = []
        for part in self.labels(subject):
            rois = part.rois()
            rows, cols = [], []
            for r, name in enumerate(names):
                keys = rois.get(name, [])
                idx = np.flatnonzero(np.isin(part.values, keys)) if keys else np.empty(0, int)
                rows.append(np.full(idx.size, r))
                cols.append(idx)
            row, col = np.concatenate(rows), np.concatenate(cols)
            shape = (len(names), part.values.shape[0])
            parts.append(sp.csr_array((np.ones(row.size, dtype=bool), (row, col)), shape=shape))
        colors = {n: c for n, c in self.colors(subject).items() if n in names}
        return RoiTable.from_hemispheres(names, parts[0], parts[1], colors)


def _pair(value: Any, what: str) -> tuple[Path, Path]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise RoiSourceError(f"{what} must be an (lh, rh) pair of files, got {value!r:.80}")
    lh, rh = (Path(p).expanduser() for p in value)
    for p in (lh, rh):
        if not p.is_file():
            raise SubjectFileNotFoundError(
                f"{what} file {p} does not exist. Pass existing (lh, rh) files."
            )
    return lh, rh


def _unreadable(path: Path, kind: str, err: BaseException) -> RoiSourceError:
    return RoiSourceError(
        f"cannot read {path} as {kind} ({type(err).__name__}: {err}).",
        fix="Check the file, or pass source= another kind of ROI file.",
        option="source",
    )


# --- FreeSurfer annotations ---------------------------------------------------------------


def read_annot(path: Path) -> HemiLabels:
    """One hemisphere's ``.annot`` (labels index its colour table; -1 is unlabelled)."""
    try:
        values, ctab, names = nib.freesurfer.read_annot(str(path))
    except Exception as err:
        raise _unreadable(path, "a FreeSurfer annotation", err) from None
    table = {
        i: (n.decode() if isinstance(n, bytes) else str(n), _hex(ctab[i, :3]))
        for i, n in enumerate(names)
    }
    return HemiLabels(np.asarray(values, dtype=np.int64), table, str(path))


class AnnotSource(_LabelTableSource):
    """ROIs of a FreeSurfer annotation: an ``(lh, rh)`` pair of ``.annot`` files, or a name
    (``"aparc"``, ``"aparc.a2009s"``) found in a FreeSurfer subject's ``label/`` folder.

    Index 0 of the colour table (FreeSurfer's ``unknown``) is background.
    """

    kind = "annot"

    def __init__(self, annot: str | tuple[Any, Any]) -> None:
        super().__init__()
        if isinstance(annot, str):
            self.name: str | None = annot
            self.files: tuple[Path, Path] | None = None
        else:
            self.name, self.files = None, _pair(annot, "annotation")

    @property
    def description(self) -> str:
        if self.files is not None:
            return f"annotation {self.files[0]}, {self.files[1]}"
        return f"annotation {self.name!r}"

    def _key(self, subject: Subject) -> Any:
        return None if self.files is not None else str(subject.label_dir)

    def _paths(self, subject: Subject) -> tuple[Path, Path]:
        if self.files is not None:
            return self.files
        folder = subject.label_dir
        if folder is None:
            raise RoiSourceError(
                f"annotation {self.name!r} is looked up in a FreeSurfer subject's label/ "
                f"folder, and subject {subject.name!r} is not a FreeSurfer subject. Pass the "
                "(lh, rh) .annot files instead."
            )
        paths = (folder / f"lh.{self.name}.annot", folder / f"rh.{self.name}.annot")
        if not all(p.is_file() for p in paths):
            found = sorted({p.name[3:-6] for p in folder.glob("?h.*.annot")})
            raise RoiSourceError(
                f"no annotation {self.name!r} in {folder} (looked for {paths[0].name} and "
                f"{paths[1].name}). Available: {found}. Check the spelling, or pass the "
                "(lh, rh) .annot files."
            )
        return paths

    def _read(self, subject: Subject) -> tuple[HemiLabels, HemiLabels]:
        lh, rh = self._paths(subject)
        return read_annot(lh), read_annot(rh)


# --- GIfTI label files --------------------------------------------------------------------


def read_gifti_labels(path: Path) -> HemiLabels:
    """One hemisphere's ``.label.gii`` (its first data array and label table)."""
    try:
        img = nib.load(str(path))
        if not isinstance(img, nib.gifti.GiftiImage) or not img.darrays:
            raise TypeError(f"a {type(img).__name__} without data arrays")
        values = np.asarray(img.darrays[0].data).ravel()
        if not np.issubdtype(values.dtype, np.integer):
            raise TypeError(f"data of dtype {values.dtype}, not integer labels")
        table = {
            int(lab.key): (str(lab.label or ""), _hex(lab.rgba or (0, 0, 0), 255.0))
            for lab in img.labeltable.labels
        }
    except Exception as err:
        raise _unreadable(path, "a GIfTI label file", err) from None
    return HemiLabels(values.astype(np.int64), table, str(path))


class GiftiLabelSource(_LabelTableSource):
    """ROIs of an ``(lh, rh)`` pair of GIfTI label files (``.label.gii``)."""

    kind = "gifti"

    def __init__(self, files: tuple[Any, Any]) -> None:
        super().__init__()
        self.files = _pair(files, "GIfTI label")

    @property
    def description(self) -> str:
        return f"GIfTI labels {self.files[0]}, {self.files[1]}"

    def _read(self, subject: Subject) -> tuple[HemiLabels, HemiLabels]:
        return read_gifti_labels(self.files[0]), read_gifti_labels(self.files[1])


# --- CIFTI dense label files --------------------------------------------------------------

_CIFTI_STRUCTURES = {"lh": "CIFTI_STRUCTURE_CORTEX_LEFT", "rh": "CIFTI_STRUCTURE_CORTEX_RIGHT"}


def read_cifti_labels(path: Path, map_index: int = 0) -> tuple[HemiLabels, HemiLabels]:
    """Both hemispheres of a ``.dlabel.nii``; vertices absent from it (the medial wall) are
    unlabelled (-1)."""
    try:
        img = nib.load(str(path))
        if not isinstance(img, nib.Cifti2Image):
            raise TypeError(f"a {type(img).__name__}, not a CIFTI-2 file")
        label_axis, models = img.header.get_axis(0), img.header.get_axis(1)
        if not isinstance(label_axis, nib.cifti2.LabelAxis):
            raise TypeError("its first axis is not a label axis (a dense label file is)")
        if not isinstance(models, nib.cifti2.BrainModelAxis):
            raise TypeError("its second axis is not a brain-model axis")
        data = np.asarray(img.dataobj[map_index]).astype(np.int64)
        table = {
            int(k): (str(name), _hex(rgba, 255.0))
            for k, (name, rgba) in label_axis.label[map_index].items()
        }
        parts = []
        for hemi in HEMIS:
            structure = _CIFTI_STRUCTURES[hemi]
            found = [(sl, bm) for name, sl, bm in models.iter_structures() if name == structure]
            if not found:
                raise ValueError(f"no {structure} in the file")
            sl, bm = found[0]
            values = np.full(int(models.nvertices[structure]), -1, dtype=np.int64)
            values[bm.vertex] = data[sl]
            parts.append(HemiLabels(values, table, f"{path} ({hemi})"))
    except Exception as err:
        raise _unreadable(path, "a CIFTI dense label file", err) from None
    return parts[0], parts[1]


class CiftiLabelSource(_LabelTableSource):
    """ROIs of a CIFTI dense label file (``.dlabel.nii``: both hemispheres, medial wall
    absent). ``map_index`` picks one of several label maps."""

    kind = "cifti"

    def __init__(self, path: str | os.PathLike, map_index: int = 0) -> None:
        super().__init__()
        self.path = Path(path).expanduser()
        self.map_index = map_index
        if not self.path.is_file():
            raise SubjectFileNotFoundError(f"CIFTI label file {self.path} does not exist.")

    @property
    def description(self) -> str:
        return f"CIFTI labels {self.path}"

    def _read(self, subject: Subject) -> tuple[HemiLabels, HemiLabels]:
        return read_cifti_labels(self.path, self.map_index)


# --- FreeSurfer .label files --------------------------------------------------------------


def label_name(path: Path) -> tuple[str, str]:
    """``(hemi, name)`` of ``lh.V1.label``; raises when the hemisphere is not in the name."""
    base = path.name
    if base.lower().endswith(".label"):
        base = base[: -len(".label")]
    for hemi in HEMIS:
        if base.startswith(hemi + "."):
            return hemi, base[3:]
    raise RoiSourceError(
        f"cannot tell the hemisphere of {path}: FreeSurfer label files are named "
        "lh.<name>.label or rh.<name>.label. Rename it."
    )


class LabelFilesSource:
    """ROIs from FreeSurfer ``.label`` files: the ROI name is the file name without the
    ``lh.``/``rh.`` prefix and ``.label`` suffix; both hemispheres' files of a name make one
    ROI. ROIs may overlap."""

    kind = "label"

    def __init__(self, files: Sequence[str | os.PathLike]) -> None:
        self.files: dict[str, dict[str, Path]] = {}
        for f in files:
            path = Path(f).expanduser()
            if not path.is_file():
                raise SubjectFileNotFoundError(f"label file {path} does not exist.")
            hemi, name = label_name(path)
            if hemi in self.files.setdefault(name, {}):
                raise RoiSourceError(
                    f"two {hemi} label files for ROI {name!r}: {self.files[name][hemi]} and "
                    f"{path}. Pass one file per hemisphere and name."
                )
            self.files[name][hemi] = path

    @property
    def description(self) -> str:
        folders = sorted({str(p.parent) for s in self.files.values() for p in s.values()})
        return f"label files ({len(self.files)} ROIs) in {', '.join(folders)}"

    def __repr__(self) -> str:
        return f"LabelFilesSource({sorted(self.files)})"

    def names(self, subject: Subject) -> list[str]:
        """The ROI names, in the order of the files given."""
        return list(self.files)

    def table(self, subject: Subject, names: Sequence[str]) -> RoiTable:
        """Vertex membership of the named ROIs."""
        parts = []
        for hemi in HEMIS:
            n = subject.n_vertices(hemi)  # type: ignore[arg-type]
            rows, cols = [], []
            for r, name in enumerate(names):
                path = self.files[name].get(hemi)
                if path is None:
                    continue
                try:
                    idx = np.asarray(nib.freesurfer.read_label(str(path)), dtype=np.int64)
                except Exception as err:
                    raise _unreadable(path, "a FreeSurfer label file", err) from None
                if idx.size and (idx.min() < 0 or idx.max() >= n):
                    raise VertexCountError(
                        f"{path} names vertex {int(idx.max())} but subject {subject.name!r} "
                        f"has {n} vertices in hemisphere {hemi}. The label was made on other "
                        "surfaces; pass labels of this subject."
                    )
                rows.append(np.full(idx.size, r))
                cols.append(idx)
            row = np.concatenate(rows) if rows else np.empty(0, np.int64)
            col = np.concatenate(cols) if cols else np.empty(0, np.int64)
            parts.append(
                sp.csr_array((np.ones(row.size, bool), (row, col)), shape=(len(names), n))
            )
        return RoiTable.from_hemispheres(names, parts[0], parts[1])
