"""What :func:`roixr.extract_cohort` makes of a runs table (:func:`roixr.find_runs`): its
rows checked and named, each subject's ROI source, and the runs grouped by the masks they
share (subject, reference grid, registration), from the images' headers only.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from roixr.cohort.series_store import ENTITIES
from roixr.errors import OptionError, RoiSourceError, RoixrError
from roixr.io.images import load_volume
from roixr.rois.protocol import RoiSource, as_source
from roixr.store.format import MASKS_GROUP

__all__ = ["PATHS", "Anatomy", "Run", "error_text", "plan_runs", "read_runs", "subject_source"]

PATHS = ("bold", "reference", "registration", "white_L", "white_R", "pial_L", "pial_R")
"""Columns of a runs table that every row needs (unless it has a ``problem``)."""

# --- the runs table ----------------------------------------------------------------------


def _value(v: Any) -> str | None:
    """A table cell as text, None where it is missing (None, NaN, pd.NA, "")."""
    if v is None or (isinstance(v, float) and v != v) or type(v).__name__ == "NAType":
        return None
    text = str(v)
    return text or None


def _path(v: Any) -> str | None:
    """A file named in the table, absolute (workers may run elsewhere than the client)."""
    text = _value(v)
    return text if text is None or text == "identity" else os.path.abspath(text)


@dataclass(frozen=True)
class Anatomy:
    """A subject as the runs table gives it: what its masks are made from."""

    name: str
    white: tuple[str, str]
    pial: tuple[str, str]
    t1w: str | None
    freesurfer: str | None


@dataclass
class Run:
    """A row of the runs table: its name in the store, entities, files and problem; then
    what :func:`plan_runs` reads of it (its length, its reference's grid, its masks)."""

    name: str
    entities: dict[str, str | None]
    bold: str | None
    reference: str | None
    registration: str | None
    anatomy: Anatomy | None
    problem: str | None
    n_volumes: int = 0
    group: str = ""
    grid: Any = field(default=None, repr=False)


def _name(entities: dict[str, str | None], bold: str | None) -> str:
    prefixes = {"subject": "sub", "session": "ses", "task": "task", "acquisition": "acq",
                "direction": "dir", "run": "run", "echo": "echo", "space": "space"}  # fmt: skip
    parts = [f"{prefixes[e]}-{entities[e]}" for e in ENTITIES if entities.get(e)]
    return "_".join(parts) if entities.get("subject") else _stem(bold)


def _stem(path: str | None) -> str:
    name = Path(path or "run").name
    for suffix in (".nii.gz", ".nii"):
        name = name.removesuffix(suffix)
    return name


def read_runs(runs: Any) -> list[Run]:
    """The rows of a runs table (:func:`roixr.find_runs`), with unique run names."""
    columns = getattr(runs, "columns", None)
    missing = [c for c in ("subject", *PATHS, "problem") if columns is None or c not in columns]
    if missing or len(runs) == 0:
        raise OptionError(
            "runs must be a non-empty pandas DataFrame as roixr.find_runs returns it, with "
            f"the columns subject, {', '.join(PATHS)} and problem; "
            + (f"missing: {missing}" if missing else "it has no rows")
            + "."
        )
    out = []
    for row in runs.to_dict("records"):
        entities = {e: _value(row.get(e)) for e in ENTITIES}
        cells = {c: _path(row.get(c)) for c in (*PATHS, "t1w", "freesurfer")}
        cells["problem"] = _value(row.get("problem"))
        problem = cells["problem"]
        needed = [c for c in PATHS if cells[c] is None]
        if problem is None and needed:
            problem = f"the runs table gives no {', '.join(needed)} for this run"
        anatomy = None
        if not needed:
            anatomy = Anatomy(
                f"sub-{entities['subject']}" if entities["subject"] else _stem(cells["bold"]),
                (str(cells["white_L"]), str(cells["white_R"])),
                (str(cells["pial_L"]), str(cells["pial_R"])),
                cells["t1w"],
                cells["freesurfer"],
            )
        out.append(Run(_name(entities, cells["bold"]), entities, cells["bold"],
                        cells["reference"], cells["registration"], anatomy, problem))  # fmt: skip
    seen = Counter(r.name for r in out)
    for r in out:
        if seen[r.name] > 1:  # entities do not tell them apart: the file names do
            r.name = _stem(r.bold)
    seen = Counter(r.name for r in out)
    twice = sorted({str(r.bold) for r in out if seen[r.name] > 1})
    if twice:
        raise OptionError(f"the runs table lists the series {twice[:5]} more than once.")
    return out


# --- per-subject ROI sources ------------------------------------------------------------


class _LabelDir:
    """A subject seen with a FreeSurfer ``label/`` folder its own layout lacks."""

    def __init__(self, subject: Any, label_dir: Path) -> None:
        self._subject, self.label_dir = subject, label_dir

    def __getattr__(self, name: str) -> Any:
        return getattr(self._subject, name)


class _FreeSurferLabels:
    """An annotation named like ``"aparc"``, looked up in a given FreeSurfer subject
    directory's ``label/`` folder by roixr's own annotation source."""

    def __init__(self, source: RoiSource, label_dir: Path) -> None:
        self.source, self.label_dir = source, label_dir

    @property
    def description(self) -> str:
        return f"{self.source.description} of {self.label_dir.parent}"

    def names(self, subject: Any) -> list[str]:
        return self.source.names(_LabelDir(subject, self.label_dir))  # type: ignore[arg-type]

    def table(self, subject: Any, names: Any) -> Any:
        return self.source.table(_LabelDir(subject, self.label_dir), names)  # type: ignore[arg-type]


def subject_source(source: Any, freesurfer: str | os.PathLike | None, subject: str = "") -> Any:
    """A run's ROI source: ``source`` itself, except that an annotation name (``"aparc"``,
    ``"aparc.a2009s"``) is looked up in the subject's FreeSurfer directory
    (``<freesurfer>/label/{lh,rh}.<name>.annot``), as for a FreeSurfer subject.

    Raises
    ------
    RoiSourceError
        For an annotation name and a subject without a FreeSurfer directory.
    """
    from roixr.rois.sources.labels import AnnotSource

    if source is None or not isinstance(source, str):
        return source
    resolved = as_source(source)
    if not isinstance(resolved, AnnotSource) or resolved.files is not None:
        return source  # not a name looked up in label/
    if freesurfer is None:
        raise RoiSourceError(
            f"the annotation {source!r} is looked up in the subject's FreeSurfer directory "
            f"(<freesurfer>/label), and the runs table gives none for subject {subject!r}.",
            fix="Pass roixr.find_runs freesurfer= the FreeSurfer SUBJECTS_DIR, or source= "
            "ROI files.",
            option="source",
        )
    return _FreeSurferLabels(resolved, Path(freesurfer) / "label")


def error_text(err: BaseException, what: str = "") -> str:
    """An error as a run's status records it: its class and message (``what`` says where,
    for errors that are not roixr's own)."""
    if isinstance(err, RoixrError):
        return f"{type(err).__name__}: {err}"
    return f"{type(err).__name__}{what}: {err}"


def _grid(path: str, cache: dict[str, Any]) -> Any:
    """A reference image's grid: shape and affine (rounded), read from its header once."""
    if path not in cache:
        img = load_volume(path)
        cache[path] = (tuple(img.shape[:3]), tuple(np.round(img.affine, 4).ravel().tolist()))
    return cache[path]


def plan_runs(rows: list[Run]) -> None:
    """Read headers (the series' lengths, the references' grids) and group the runs by
    (subject, grid, registration); a run that cannot be read gets its problem."""
    grids: dict[str, Any] = {}
    for r in rows:
        if r.problem is not None:
            continue
        try:
            img = load_volume(str(r.bold))
            r.n_volumes = int(img.shape[3]) if len(img.shape) > 3 else 1
            r.grid = _grid(str(r.reference), grids)
        except Exception as err:
            r.problem = f"cannot read the header of {r.bold} or {r.reference}: {error_text(err)}"
            continue
        reg = str(r.registration)
        if reg != "identity":
            reg = str(Path(reg).resolve())
        key = repr((r.anatomy, r.grid, reg))
        r.group = f"{MASKS_GROUP}/{hashlib.sha1(key.encode()).hexdigest()[:16]}"
