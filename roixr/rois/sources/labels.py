"""ROIs from surface label files: FreeSurfer ``.annot`` and ``.label``, GIfTI ``.label.gii``,
CIFTI ``.dlabel.nii``.

Each file gives, per hemisphere, one integer label per vertex and a table ``{key: (name,
colour)}``. Background labels are not ROIs: the names ``unknown``, ``???``, ``Medial_Wall``
(any case), key 0, and vertices labelled -1.

Every reader checks a file against what it says about itself (the counts in its header,
its label table, the hemisphere it names) and against the subject (vertex counts): what
cannot be applied is refused, never dropped. FreeSurfer's ``.annot`` and ``.label`` are
parsed here (nibabel's readers skip the vertex numbers of an annotation and the count of a
label file); GIfTI and CIFTI are read with nibabel.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import scipy.sparse as sp

from roixr.errors import (
    EmptyRoiWarning,
    RoiSourceError,
    SubjectFileNotFoundError,
    VertexCountError,
)
from roixr.io.subject import Subject
from roixr.io.surfaces import hemisphere_of
from roixr.rois.table import RoiTable

__all__ = [
    "AnnotSource",
    "CiftiLabelSource",
    "GiftiLabelSource",
    "HemiLabels",
    "LabelFilesSource",
    "is_background",
    "read_annot",
    "read_cifti_labels",
    "read_gifti_labels",
    "read_label",
]

HEMIS = ("lh", "rh")
_SIDE = {"lh": "left", "rh": "right"}
_BACKGROUND = {"unknown", "???", "medial_wall", "medialwall", "medial wall"}


def is_background(key: int, name: str) -> bool:
    """Whether a label is background rather than an ROI."""
    return key == 0 or name.strip().lower() in _BACKGROUND


def _hex(rgb: Any, scale: float = 1.0) -> str:
    r, g, b = (round(float(c) * scale) if np.isfinite(c) else 0 for c in rgb[:3])
    return f"#{min(max(r, 0), 255):02x}{min(max(g, 0), 255):02x}{min(max(b, 0), 255):02x}"


@dataclass(frozen=True)
class HemiLabels:
    """One hemisphere's labels: a key per vertex and ``{key: (name, "#rrggbb")}``; the
    hemisphere the file says it is (None when it says nothing), and where that was read."""

    values: np.ndarray
    table: dict[int, tuple[str, str]]
    source: str
    hemisphere: str | None = None
    hemisphere_from: str = ""

    def rois(self) -> dict[str, list[int]]:
        """ROI name → its keys (background left out), in table order."""
        out: dict[str, list[int]] = {}
        for key, (name, _) in self.table.items():
            if not is_background(key, name):
                out.setdefault(name, []).append(key)
        return out


def _fail(path: Any, problem: str, fix: str) -> RoiSourceError:
    return RoiSourceError(f"{path} {problem}", fix=fix, option="source")


def _check_values(path: Any, values: np.ndarray, table: dict, what: str, fix: str) -> None:
    """Every vertex's key is in the table (key 0, background, may be left out of it)."""
    known = np.fromiter(table, dtype=np.int64, count=len(table))
    missing = ~np.isin(values, known) & (values != 0)
    if missing.any():
        keys = np.unique(values[missing])
        raise _fail(
            path,
            f"labels {int(missing.sum())} vertices with keys missing from its {what} "
            f"({keys[:5].tolist()}{'...' if keys.size > 5 else ''}; the first is vertex "
            f"{int(np.flatnonzero(missing)[0])}, labelled {int(values[missing][0])}). What "
            "they are cannot be told, so roixr refuses the file rather than drop them.",
            fix,
        )


def _check_names(path: Any, table: dict[int, tuple[str, str]], what: str, fix: str) -> None:
    """No two ROI entries of a table share a name (one would silently absorb the other)."""
    seen: dict[str, int] = {}
    for key, (name, _) in table.items():
        if is_background(key, name):
            continue
        if name in seen:
            raise _fail(
                path,
                f"has two entries named {name!r} in its {what} (keys {seen[name]} and {key}); "
                "an ROI name must be one entry.",
                fix,
            )
        seen[name] = key


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

    def _checked(self, parts: tuple[HemiLabels, HemiLabels]) -> tuple[HemiLabels, HemiLabels]:
        """The pair checked against itself: each file the hemisphere it is passed as, and
        some vertex labelled with an ROI."""
        tags = [p.hemisphere for p in parts]
        swapped = tags == ["rh", "lh"]
        for hemi, part in zip(HEMIS, parts, strict=True):
            if part.hemisphere is not None and part.hemisphere != hemi:
                fix = "Pass the (lh, rh) pair left hemisphere first"
                if swapped:
                    fix += f": ({parts[1].source}, {parts[0].source})"
                raise _fail(
                    part.source,
                    f"is the {_SIDE[part.hemisphere]} hemisphere's file "
                    f"({part.hemisphere_from}) but was passed as the {_SIDE[hemi]} one"
                    + (" (the pair is swapped)" if swapped else "")
                    + "; roixr never swaps hemispheres silently.",
                    fix + ".",
                )
        if not any(np.isin(p.values, [k for ks in p.rois().values() for k in ks]).any()
                   for p in parts):  # fmt: skip
            raise RoiSourceError(
                f"{self.description} labels no vertex with an ROI: every vertex of both "
                "hemispheres is unlabelled or background (key 0, 'unknown', '???', "
                "'Medial_Wall'), so every mask would be empty.",
                fix="Check that the file holds the labels meant (not an empty template), or "
                "pass source= another file.",
                option="source",
            )
        return parts

    def labels(self, subject: Subject) -> tuple[HemiLabels, HemiLabels]:
        """Both hemispheres' labels, read once per source (and subject, for names)."""
        key = self._key(subject)
        with self._lock:
            cached = self._cache.get(key)
        if cached is None:
            cached = self._checked(self._read(subject))
            with self._lock:
                cached = self._cache.setdefault(key, cached)
        for hemi, part in zip(HEMIS, cached, strict=True):
            n = subject.n_vertices(hemi)  # type: ignore[arg-type]
            if part.values.shape[0] != n:
                raise VertexCountError(
                    f"{part.source} labels {part.values.shape[0]} vertices but subject "
                    f"{subject.name!r} has {n} in hemisphere {hemi}. The labels belong to "
                    "other surfaces (another subject, or a resampled mesh such as fsaverage "
                    "or fs_LR 32k):",
                    fix="pass labels made on this subject's surfaces.",
                    option="source",
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
        """Vertex membership of the named ROIs (an :class:`EmptyRoiWarning` for those that
        label no vertex)."""
        parts = []
        for part in self.labels(subject):
            rois = part.rois()
            rows, cols = [np.empty(0, np.int64)], [np.empty(0, np.int64)]
            for r, name in enumerate(names):
                keys = rois.get(name, [])
                idx = np.flatnonzero(np.isin(part.values, keys)) if keys else np.empty(0, int)
                rows.append(np.full(idx.size, r, dtype=np.int64))
                cols.append(idx.astype(np.int64))
            row, col = np.concatenate(rows), np.concatenate(cols)
            shape = (len(names), part.values.shape[0])
            parts.append(sp.csr_array((np.ones(row.size, dtype=bool), (row, col)), shape=shape))
        table = RoiTable.from_hemispheres(
            names, parts[0], parts[1],
            {n: c for n, c in self.colors(subject).items() if n in names},
        )  # fmt: skip
        _warn_empty(table, self.description)
        return table


def _warn_empty(table: RoiTable, description: str) -> None:
    for name, count in zip(table.names, table.counts(), strict=True):
        if not count:
            warnings.warn(
                f"ROI {name!r} of {description} labels no vertex; its masks are empty.",
                EmptyRoiWarning,
                stacklevel=4,
            )


def _pair(value: Any, what: str) -> tuple[Path, Path]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise RoiSourceError(
            f"{what} must be an (lh, rh) pair of files, got {value!r:.80}",
            fix="Pass the left hemisphere's file, then the right one's.",
            option="source",
        )
    lh, rh = (Path(p).expanduser() for p in value)
    for p in (lh, rh):
        if not p.is_file():
            raise SubjectFileNotFoundError(
                f"{what} file {p} does not exist.",
                fix="Pass existing (lh, rh) files.",
                option="source",
            )
    return lh, rh


def _unreadable(path: Path, kind: str, err: BaseException) -> RoiSourceError:
    return RoiSourceError(
        f"cannot read {path} as {kind} ({type(err).__name__}: {err}).",
        fix="Check the file, or pass source= another kind of ROI file.",
        option="source",
    )


# --- FreeSurfer annotations ---------------------------------------------------------------

_ANNOT_FIX = (
    "The file is truncated or corrupt: copy it again, or re-create it (mris_ca_label, "
    "mris_label2annot, nibabel.freesurfer.write_annot)."
)


class _Reader:
    """Bounds-checked big-endian reads of a FreeSurfer binary file."""

    def __init__(self, raw: bytes) -> None:
        self.raw, self.pos = raw, 0

    def ints(self, n: int, what: str) -> np.ndarray:
        end = self.pos + 4 * n
        if n < 0 or end > len(self.raw):
            raise ValueError(f"it ends inside {what} ({len(self.raw)} bytes; truncated?)")
        out = np.frombuffer(self.raw, ">i4", n, self.pos).astype(np.int64)
        self.pos = end
        return out

    def int(self, what: str) -> int:
        return int(self.ints(1, what)[0])

    def text(self, what: str) -> str:
        n = self.int(f"the length of {what}")
        if n < 0 or self.pos + n > len(self.raw):
            raise ValueError(f"{what} is said to be {n} bytes long, past the file's end")
        value = self.raw[self.pos : self.pos + n].split(b"\0", 1)[0]
        self.pos += n
        try:
            return value.decode()
        except UnicodeDecodeError:
            raise ValueError(f"{what} is not text: {value[:40]!r}") from None


def _parse_annot(raw: bytes) -> tuple[np.ndarray, dict[int, tuple[str, str]]]:
    """Vertex keys (-1 unlabelled) and ``{key: (name, colour)}`` of an annotation."""
    f = _Reader(raw)
    vnum = f.int("the vertex count")
    if vnum <= 0:
        raise ValueError(f"its header says {vnum} vertices")
    pairs = f.ints(2 * vnum, f"its {vnum} (vertex, value) pairs").reshape(vnum, 2)
    vno, packed = pairs[:, 0], pairs[:, 1]
    order = np.arange(vnum)
    if not np.array_equal(vno, order):
        seen = np.zeros(vnum, dtype=np.int64)
        inside = (vno >= 0) & (vno < vnum)
        np.add.at(seen, vno[inside], 1)
        if not inside.all() or (seen != 1).any():
            bad = int(np.flatnonzero(~inside | (seen[np.clip(vno, 0, vnum - 1)] != 1))[0])
            raise ValueError(
                f"its vertex numbers are not each of 0 to {vnum - 1} once (record {bad} names "
                f"vertex {int(vno[bad])})"
            )
        packed = packed[np.argsort(vno)]
    if f.int("the colour table's tag") != 1:
        raise ValueError("it has no colour table")
    entries: list[tuple[int, str, np.ndarray]] = []
    first = f.int("the colour table's header")
    if first > 0:  # the old format: entries numbered in order
        f.text("the colour table's file name")
        count = first
        for i in range(min(count, len(raw))):
            name = f.text(f"entry {i}'s name")
            entries.append((i, name, f.ints(4, f"entry {i}'s colour")))
    else:
        if first != -2:
            raise ValueError(f"unknown colour table version {-first}")
        f.int("the colour table's largest key")
        f.text("the colour table's file name")
        count = f.int("the colour table's entry count")
        for i in range(max(0, min(count, len(raw)))):
            key = f.int(f"entry {i}'s key")
            name = f.text(f"entry {i}'s name")
            entries.append((key, name, f.ints(4, f"entry {i}'s colour")))
    if count <= 0 or len(entries) != count:
        raise ValueError(f"its colour table says {count} entries")
    table: dict[int, tuple[str, str]] = {}
    colours: dict[int, list[int]] = {}
    for key, name, rgbt in entries:
        if key < 0 or key in table:
            raise ValueError(f"its colour table has key {key} {'twice' if key >= 0 else ''}")
        table[key] = (name, _hex(rgbt[:3]))
        colours.setdefault(int(rgbt[0] + rgbt[1] * 256 + rgbt[2] * 65536), []).append(key)
    values = np.full(vnum, -1, dtype=np.int64)
    labelled = (packed != 0) & (packed != -1)
    for colour in np.unique(packed[labelled]).tolist():
        keys = colours.get(colour, [])
        at = packed == colour
        if len(keys) != 1:
            rgb = (colour & 255, (colour >> 8) & 255, (colour >> 16) & 255)
            problem = "is in no entry of" if not keys else f"is shared by entries {keys} of"
            raise ValueError(
                f"{int(at.sum())} vertices (the first is {int(np.flatnonzero(at)[0])}) carry "
                f"the value {colour} (colour {rgb}), which {problem} its colour table"
            )
        values[at] = keys[0]
    return values, table


def read_annot(path: Path) -> HemiLabels:
    """One hemisphere's ``.annot``: labels are colour-table keys; -1 is unlabelled.

    Raises
    ------
    RoiSourceError
        If the file is truncated, its vertex numbers are not each vertex once, a vertex
        carries a value in no (or several) colour-table entries, or two ROI entries share a
        name.
    """
    try:
        values, table = _parse_annot(Path(path).read_bytes())
    except (ValueError, OSError) as err:
        raise _fail(path, f"is not a valid FreeSurfer annotation: {err}.", _ANNOT_FIX) from None
    _check_names(path, table, "colour table", _ANNOT_FIX)
    hemi, evidence = hemisphere_of(path)
    return HemiLabels(values, table, str(path), hemi, evidence)


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
                f"folder, and subject {subject.name!r} is not a FreeSurfer subject.",
                fix="Pass the (lh, rh) .annot files instead.",
                option="source",
            )
        paths = (folder / f"lh.{self.name}.annot", folder / f"rh.{self.name}.annot")
        if not all(p.is_file() for p in paths):
            found = sorted({p.name[3:-6] for p in folder.glob("?h.*.annot")})
            raise RoiSourceError(
                f"no annotation {self.name!r} in {folder} (looked for {paths[0].name} and "
                f"{paths[1].name}). Available: {found}.",
                fix="Check the spelling, or pass the (lh, rh) .annot files.",
                option="source",
            )
        return paths

    def _read(self, subject: Subject) -> tuple[HemiLabels, HemiLabels]:
        lh, rh = self._paths(subject)
        return read_annot(lh), read_annot(rh)


# --- GIfTI label files --------------------------------------------------------------------

_GIFTI_FIX = "Re-export it (wb_command -metric-label-import, or nibabel), or copy it again."
_NOT_LABELS = {"NIFTI_INTENT_POINTSET", "NIFTI_INTENT_TRIANGLE", "NIFTI_INTENT_VECTOR",
               "NIFTI_INTENT_TIME_SERIES"}  # fmt: skip


def _gifti_structure(img: Any) -> str | None:
    for meta in (*(d.meta for d in img.darrays), img.meta):
        value = meta.get("AnatomicalStructurePrimary") if meta is not None else None
        if value:
            return str(value)
    return None


def read_gifti_labels(path: Path, map_index: int | None = None) -> HemiLabels:
    """One hemisphere's ``.label.gii``: one of its label maps (the only one, or
    ``map_index``) and its label table.

    Raises
    ------
    RoiSourceError
        If it is not a GIfTI label file (a surface, float data, no label table), holds
        several maps and ``map_index`` is not given, or labels vertices with keys missing
        from its label table.
    """
    try:
        img = nib.load(str(path))
    except Exception as err:
        raise _unreadable(path, "a GIfTI label file", err) from None
    if not isinstance(img, nib.gifti.GiftiImage) or not img.darrays:
        raise _fail(path, f"is a {type(img).__name__} without data arrays, not a GIfTI label "
                    "file.", "Pass .label.gii files.")  # fmt: skip
    intents = [str(nib.nifti1.intent_codes.niistring[d.intent]) for d in img.darrays]
    if any(i in _NOT_LABELS for i in intents):
        raise _fail(path, f"holds {', '.join(sorted(set(intents)))} arrays: it is a surface "
                    "or a data file, not a label file.", "Pass .label.gii files.")  # fmt: skip
    n_maps = len(img.darrays)
    if map_index is None:
        if n_maps > 1:
            raise _fail(path, f"holds {n_maps} label maps; which one to use cannot be told.",
                        "Pass GiftiLabelSource((lh, rh), map_index=i).")  # fmt: skip
        map_index = 0
    if not 0 <= map_index < n_maps:
        raise _fail(path, f"holds {n_maps} label maps; there is no map_index={map_index}.",
                    f"Pass a map_index from 0 to {n_maps - 1}.")  # fmt: skip
    try:
        data = np.asarray(img.darrays[map_index].data)
    except Exception as err:
        raise _unreadable(path, "a GIfTI label file", err) from None
    if data.ndim == 2 and 1 in data.shape:
        data = data.ravel()
    if data.ndim != 1 or not np.issubdtype(data.dtype, np.integer):
        raise _fail(path, f"holds data of shape {data.shape} and dtype {data.dtype}, not one "
                    "integer label per vertex.", _GIFTI_FIX)  # fmt: skip
    labels = img.labeltable.labels if img.labeltable is not None else []
    if not labels:
        raise _fail(path, "has no LabelTable: its values cannot be named as ROIs (it may be "
                    "a data file saved as .label.gii).",
                    "Pass a GIfTI label file with its label table.")  # fmt: skip
    table: dict[int, tuple[str, str]] = {}
    for lab in labels:
        key = int(lab.key)
        if key in table:
            raise _fail(path, f"has key {key} twice in its LabelTable.", _GIFTI_FIX)
        rgba = [c if c is not None else 0.0 for c in (lab.red, lab.green, lab.blue)]
        table[key] = (str(lab.label or ""), _hex(rgba, 255.0))
    values = data.astype(np.int64)
    _check_values(path, values, table, "LabelTable", _GIFTI_FIX)
    _check_names(path, table, "LabelTable", _GIFTI_FIX)
    hemi, evidence = hemisphere_of(path, _gifti_structure(img))
    return HemiLabels(values, table, str(path), hemi, evidence)


class GiftiLabelSource(_LabelTableSource):
    """ROIs of an ``(lh, rh)`` pair of GIfTI label files (``.label.gii``); ``map_index``
    picks one of several label maps."""

    kind = "gifti"

    def __init__(self, files: tuple[Any, Any], map_index: int | None = None) -> None:
        super().__init__()
        self.files = _pair(files, "GIfTI label")
        self.map_index = map_index

    @property
    def description(self) -> str:
        return f"GIfTI labels {self.files[0]}, {self.files[1]}"

    def _read(self, subject: Subject) -> tuple[HemiLabels, HemiLabels]:
        return (read_gifti_labels(self.files[0], self.map_index),
                read_gifti_labels(self.files[1], self.map_index))  # fmt: skip


# --- CIFTI dense label files --------------------------------------------------------------

_CIFTI_STRUCTURES = {"lh": "CIFTI_STRUCTURE_CORTEX_LEFT", "rh": "CIFTI_STRUCTURE_CORTEX_RIGHT"}
_CIFTI_FIX = "Re-create it (wb_command -cifti-label-import), or copy it again."


def read_cifti_labels(path: Path, map_index: int = 0) -> tuple[HemiLabels, HemiLabels]:
    """Both hemispheres of a ``.dlabel.nii``; vertices absent from it (the medial wall) are
    unlabelled (-1).

    Raises
    ------
    RoiSourceError
        If it is not a dense label file with both cortices, ``map_index`` is not one of its
        maps, its brain models name vertices outside their surfaces (or one twice), or a
        value is not a whole number in its label table.
    """
    try:
        img = nib.load(str(path))
        if not isinstance(img, nib.Cifti2Image):
            raise TypeError(f"a {type(img).__name__}, not a CIFTI-2 file")
        label_axis, models = img.header.get_axis(0), img.header.get_axis(1)
        if not isinstance(label_axis, nib.cifti2.LabelAxis):
            raise TypeError("its first axis is not a label axis (a dense label file is)")
        if not isinstance(models, nib.cifti2.BrainModelAxis):
            raise TypeError("its second axis is not a brain-model axis")
    except Exception as err:
        raise _unreadable(path, "a CIFTI dense label file", err) from None
    n_maps = len(label_axis)
    if not 0 <= map_index < n_maps:
        raise _fail(path, f"holds {n_maps} label maps; there is no map_index={map_index}.",
                    f"Pass a map_index from 0 to {n_maps - 1}.")  # fmt: skip
    try:
        raw = np.asarray(img.dataobj[map_index])
        label_table = label_axis.label[map_index]
        table = {int(k): (str(name), _hex(rgba, 255.0)) for k, (name, rgba) in
                 label_table.items()}  # fmt: skip
        structures = {name: (sl, bm) for name, sl, bm in models.iter_structures()}
    except Exception as err:
        raise _unreadable(path, "a CIFTI dense label file", err) from None
    if raw.shape != (len(models),):
        raise _fail(path, f"holds {raw.shape} values for {len(models)} brain-model entries.",
                    _CIFTI_FIX)  # fmt: skip
    whole = np.isfinite(raw) & (raw == np.round(raw)) if raw.dtype.kind == "f" else None
    if whole is not None and not whole.all():
        raise _fail(path, f"holds {int((~whole).sum())} values that are not whole numbers "
                    f"(the first: {float(raw[~whole][0])!r}); labels are integer keys.",
                    _CIFTI_FIX)  # fmt: skip
    data = raw.astype(np.int64)
    _check_values(path, data, table, "label table", _CIFTI_FIX)
    _check_names(path, table, "label table", _CIFTI_FIX)
    parts = []
    for hemi in HEMIS:
        structure = _CIFTI_STRUCTURES[hemi]
        if structure not in structures:
            raise _fail(path, f"has no {structure}; roixr needs both cortices "
                        f"(it has {sorted(structures)}).", _CIFTI_FIX)  # fmt: skip
        sl, bm = structures[structure]
        n = models.nvertices.get(structure)
        if not isinstance(n, (int, np.integer)) or n <= 0:
            raise _fail(path, f"gives {structure} no surface vertex count "
                        f"(SurfaceNumberOfVertices={n!r}).", _CIFTI_FIX)  # fmt: skip
        n = int(n)
        vertex = np.asarray(bm.vertex, dtype=np.int64)
        if vertex.size and (vertex.min() < 0 or vertex.max() >= n):
            raise _fail(path, f"names vertex {int(vertex.max())} of {structure}, whose surface "
                        f"has {n} vertices.", _CIFTI_FIX)  # fmt: skip
        if np.unique(vertex).size != vertex.size:
            raise _fail(path, f"names some vertices of {structure} twice.", _CIFTI_FIX)
        values = np.full(n, -1, dtype=np.int64)
        values[vertex] = data[sl]
        parts.append(HemiLabels(values, table, f"{path} ({structure}, {n} vertices)", hemi,
                                f"its brain model {structure}"))  # fmt: skip
    return parts[0], parts[1]


class CiftiLabelSource(_LabelTableSource):
    """ROIs of a CIFTI dense label file (``.dlabel.nii``: both hemispheres, medial wall
    absent). ``map_index`` picks one of several label maps."""

    kind = "cifti"

    def __init__(self, path: str | os.PathLike, map_index: int = 0) -> None:
        super().__init__()
        self.path = Path(path).expanduser()
        if isinstance(map_index, bool) or not isinstance(map_index, (int, np.integer)):
            raise RoiSourceError(
                f"map_index must be a whole number, got {map_index!r}",
                fix="Pass the index of one of the file's label maps (0 for the first).",
                option="source",
            )
        self.map_index = int(map_index)
        if not self.path.is_file():
            raise SubjectFileNotFoundError(
                f"CIFTI label file {self.path} does not exist.",
                fix="Pass an existing .dlabel.nii file.",
                option="source",
            )

    @property
    def description(self) -> str:
        return f"CIFTI labels {self.path}"

    def _read(self, subject: Subject) -> tuple[HemiLabels, HemiLabels]:
        return read_cifti_labels(self.path, self.map_index)


# --- FreeSurfer .label files --------------------------------------------------------------

_LABEL_FIX = "Re-create it (mri_label2label, or FreeSurfer's tools), or copy it again."


def read_label(path: Path) -> np.ndarray:
    """The vertices of a FreeSurfer ``.label`` file (a comment line, a count, then one ``vno
    x y z value`` line per vertex), its count checked against its lines.

    Raises
    ------
    RoiSourceError
        If the count is missing or differs from the lines, a line is not five numbers, a
        vertex number is not a whole number >= 0, or a vertex is listed twice.
    """
    try:
        text = Path(path).read_bytes().decode()
    except UnicodeDecodeError as err:
        raise _fail(path, f"is not a text file ({err}), so not a FreeSurfer label file.",
                    _LABEL_FIX) from None  # fmt: skip
    lines = text.splitlines()
    try:
        count = int(lines[1].strip()) if len(lines) > 1 else None
    except ValueError:
        count = None
    if count is None or count < 0:
        raise _fail(path, "has no vertex count on its second line (a label file is a comment "
                    "line, a count, then one 'vertex x y z value' line per vertex).",
                    _LABEL_FIX)  # fmt: skip
    rows = [line for line in lines[2:] if line.strip()]
    if len(rows) != count:
        raise _fail(path, f"says it has {count} vertices but lists {len(rows)}: it is "
                    f"{'truncated' if len(rows) < count else 'longer than its count'}.",
                    _LABEL_FIX)  # fmt: skip
    fields = [row.split() for row in rows]
    for i, f in enumerate(fields):
        if len(f) != 5:
            raise _fail(path, f"line {i + 3} holds {len(f)} fields, not 5 (vertex x y z "
                        f"value): {rows[i]!r:.80}", _LABEL_FIX)  # fmt: skip
    try:
        vno = np.array([int(f[0]) for f in fields], dtype=np.int64)
        np.array([f[1:] for f in fields], dtype=np.float64).reshape(count, 4)
    except (ValueError, OverflowError):
        bad = next(i for i, f in enumerate(fields) if not _numbers(f))
        raise _fail(path, f"line {bad + 3} is not a whole vertex number and four numbers: "
                    f"{rows[bad]!r:.80}", _LABEL_FIX) from None  # fmt: skip
    if (vno < 0).any():
        at = int(np.flatnonzero(vno < 0)[0])
        raise _fail(path, f"lists the negative vertex {int(vno[at])} (line {at + 3}).",
                    _LABEL_FIX)  # fmt: skip
    unique, counts = np.unique(vno, return_counts=True)
    if (counts > 1).any():
        dup = int(unique[counts > 1][0])
        raise _fail(path, f"lists vertex {dup} {int(counts[counts > 1][0])} times "
                    f"({int((counts > 1).sum())} vertices repeated): it is corrupt, or "
                    "several labels were concatenated.", _LABEL_FIX)  # fmt: skip
    return vno


def _numbers(f: list[str]) -> bool:
    try:
        int(f[0])
        [float(v) for v in f[1:]]
    except (ValueError, OverflowError):
        return False
    return True


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
        "lh.<name>.label or rh.<name>.label.",
        fix="Rename it.",
        option="source",
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
                raise SubjectFileNotFoundError(
                    f"label file {path} does not exist.",
                    fix="Pass existing lh.<name>.label / rh.<name>.label files.",
                    option="source",
                )
            hemi, name = label_name(path)
            if hemi in self.files.setdefault(name, {}):
                raise RoiSourceError(
                    f"two {hemi} label files for ROI {name!r}: {self.files[name][hemi]} and "
                    f"{path}.",
                    fix="Pass one file per hemisphere and name.",
                    option="source",
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
        """Vertex membership of the named ROIs (an :class:`EmptyRoiWarning` for those that
        list no vertex)."""
        parts = []
        for hemi in HEMIS:
            n = subject.n_vertices(hemi)  # type: ignore[arg-type]
            rows, cols = [np.empty(0, np.int64)], [np.empty(0, np.int64)]
            for r, name in enumerate(names):
                path = self.files[name].get(hemi)
                if path is None:
                    continue
                idx = read_label(path)
                if idx.size and idx.max() >= n:
                    beyond = int((idx >= n).sum())
                    raise VertexCountError(
                        f"{path} names vertex {int(idx.max())} ({beyond} of its {idx.size} "
                        f"vertices are beyond the surface) but subject {subject.name!r} has "
                        f"{n} vertices in hemisphere {hemi}. The label was made on other "
                        "surfaces (another subject, or a resampled mesh);",
                        fix="pass labels of this subject.",
                        option="source",
                    )
                rows.append(np.full(idx.size, r, dtype=np.int64))
                cols.append(idx)
            row, col = np.concatenate(rows), np.concatenate(cols)
            parts.append(
                sp.csr_array((np.ones(row.size, bool), (row, col)), shape=(len(names), n))
            )
        table = RoiTable.from_hemispheres(names, parts[0], parts[1])
        _warn_empty(table, self.description)
        return table
