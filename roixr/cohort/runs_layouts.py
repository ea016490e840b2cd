"""What the file names of fMRIPrep and HCP derivatives say, for :func:`roixr.find_runs`.

Each layout lists its subjects (:func:`fmriprep_subjects`, :func:`hcp_subjects`) and turns
a subject's folders into rows (:func:`fmriprep_rows`, :func:`hcp_rows`): dicts keyed by
the columns of :data:`roixr.cohort.runs.COLUMNS`. Only folder listings are read.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "HCP_SPACE",
    "NATIVE_NAMES",
    "fmriprep_rows",
    "fmriprep_subjects",
    "hcp_rows",
    "hcp_subjects",
    "natural_key",
    "parse_name",
    "registration_kind",
    "surface_problem",
]

Row = dict[str, Any]
_HEMIS = ("L", "R")
_IDENTITY_SPACES = {"T1w", "anat"}
#: What ``space`` may say for native (boldref-space) runs; their rows say None.
NATIVE_NAMES = {"boldref", "native", "func"}
#: Entities that name an image of a run rather than the run (kept out of the run's key).
_IMAGE_ENTITIES = {"space", "res", "den", "cohort", "desc", "echo", "from", "to", "mode"}
#: The native registration, best first: (from, to, desc); a None desc matches any.
_NATIVE_XFMS = (
    ("boldref", "T1w", "coreg"),
    ("boldref", "T1w", None),
    ("scanner", "T1w", None),
    ("T1w", "scanner", None),
    ("T1w", "boldref", None),
)
#: The space of HCP's MNINonLinear volumes (FSL's MNI152, TemplateFlow's name).
HCP_SPACE = "MNI152NLin6Asym"
_HCP_RUN = re.compile(r"^(?:[A-Za-z]*fMRI)_(?P<rest>[A-Za-z0-9_]+)$")
_HCP_DIRECTIONS = {"LR", "RL", "AP", "PA"}


# --- shared -------------------------------------------------------------------------------


def parse_name(name: str) -> tuple[dict[str, str], str, str] | None:
    """A BIDS file name's entities, suffix and extension; None if it is not one.

    >>> parse_name("sub-01_task-rest_desc-preproc_bold.nii.gz")
    ({'sub': '01', 'task': 'rest', 'desc': 'preproc'}, 'bold', '.nii.gz')
    """
    stem, dot, ext = name.partition(".")
    parts = stem.split("_")
    if not dot or len(parts) < 2:
        return None
    entities = {}
    for part in parts[:-1]:
        key, dash, value = part.partition("-")
        if not dash or not key or not value:
            return None
        entities[key] = value
    return entities, parts[-1], "." + ext


TRANSFORM_EXTENSIONS = (".txt", ".h5", ".nii.gz", ".nii")
"""The transform files fMRIPrep writes (ITK text and HDF5, ITK displacement fields); their
JSON sidecars and anything else named ``*_xfm.*`` are not transforms."""


def _is_transform(suffix: str, ext: str, ents: dict[str, str]) -> bool:
    return suffix == "xfm" and ext in TRANSFORM_EXTENSIONS and "from" in ents and "to" in ents


def natural_key(value: str | None) -> tuple[int, int, str]:
    """Sort None first, then numbers by value ("2" before "10"), then text."""
    if value is None:
        return (0, 0, "")
    if value.isdigit():
        return (1, int(value), value)
    return (2, 0, value)


def registration_kind(registration: str | None) -> str | None:
    """``"identity"``, ``"nonlinear"`` (ITK composite ``.h5`` warps, warp images) or
    ``"affine"``, from the registration's name."""
    if registration is None:
        return None
    if registration == "identity":
        return "identity"
    if registration.endswith((".h5", ".nii.gz", ".nii")):
        return "nonlinear"
    return "affine"


def surface_problem(surfaces: dict[str, str | None]) -> str | None:
    """What is missing among ``white_L``, ``white_R``, ``pial_L``, ``pial_R``."""
    missing = [k for k, v in surfaces.items() if v is None]
    if not missing:
        return None
    if len(missing) == len(surfaces):
        return "no surfaces (white and pial of either hemisphere)"
    for hemi, kept in (("L", "R"), ("R", "L")):
        if set(missing) == {f"white_{hemi}", f"pial_{hemi}"}:
            return f"only one hemisphere: hemisphere {kept} has surfaces, {hemi} has none"
    return f"missing surfaces: {', '.join(missing)}"


def _dirs(folder: str | Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as it:
            return sorted((e for e in it if e.is_dir()), key=lambda e: e.name)
    except OSError:
        return []


def _files(folder: str | Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(folder) as it:
            return sorted((e for e in it if not e.is_dir()), key=lambda e: e.name)
    except OSError:
        return []


def _first_dir(candidates: Iterable[Path]) -> str | None:
    return next((str(c) for c in candidates if c.is_dir()), None)


# --- fMRIPrep -----------------------------------------------------------------------------


def fmriprep_subjects(root: Path) -> list[str]:
    """The labels of the ``sub-*`` folders of ``root``, sorted."""
    return [e.name[4:] for e in _dirs(root) if e.name.startswith("sub-") and len(e.name) > 4]


def _key(entities: dict[str, str], drop: set[str]) -> tuple:
    return tuple(sorted((k, v) for k, v in entities.items() if k not in drop))


@dataclass
class _Func:
    """A func/ folder: its series, boldrefs (by run key and space) and registrations."""

    bolds: list[tuple[dict[str, str], str]] = field(default_factory=list)
    boldrefs: dict[tuple, dict[str | None, str]] = field(default_factory=dict)
    xfms: dict[tuple, dict[tuple[str, str, str | None], str]] = field(default_factory=dict)

    @classmethod
    def read(cls, folder: str) -> _Func:
        func = cls()
        for entry in _files(folder):
            parsed = parse_name(entry.name)
            if parsed is None:
                continue
            ents, suffix, ext = parsed
            if suffix == "bold" and ext == ".nii.gz" and ents.get("desc") == "preproc":
                func.bolds.append((ents, entry.path))
            elif suffix == "boldref" and ext == ".nii.gz":
                refs = func.boldrefs.setdefault(_key(ents, {"desc"}), {})
                refs.setdefault(ents.get("desc"), entry.path)
            elif _is_transform(suffix, ext, ents):
                xfm = (ents["from"], ents["to"], ents.get("desc"))
                func.xfms.setdefault(_key(ents, _IMAGE_ENTITIES), {}).setdefault(xfm, entry.path)
        return func


@dataclass
class _Anat:
    """An anat/ folder: surfaces by (kind, hemi), the T1w, registrations by (from, to)."""

    surfaces: dict[tuple[str, str], str] = field(default_factory=dict)
    t1w: str | None = None
    xfms: dict[tuple[str, str], str] = field(default_factory=dict)

    @classmethod
    def read(cls, folder: str) -> _Anat:
        anat = cls()
        for entry in _files(folder):
            parsed = parse_name(entry.name)
            if parsed is None:
                continue
            ents, suffix, ext = parsed
            if ext == ".surf.gii" and "hemi" in ents and set(ents) <= {"sub", "ses", "hemi"}:
                anat.surfaces.setdefault((suffix, ents["hemi"]), entry.path)
            elif suffix == "T1w" and ext == ".nii.gz" and ents.get("desc") == "preproc":
                if "space" not in ents and anat.t1w is None:
                    anat.t1w = entry.path
            elif _is_transform(suffix, ext, ents):
                anat.xfms.setdefault((ents["from"], ents["to"]), entry.path)
        return anat


class _AnatChoice:
    """A session's anatomy: each file from the first anat/ folder that has it."""

    def __init__(self, anats: dict[str | None, _Anat], session: str | None) -> None:
        # its own anat/, the subject's, else the one other session's: fMRIPrep writes the
        # anatomy of a subject with a single T1w into that T1w's session
        order = [anats[k] for k in (session, None) if k in anats]
        others = [a for k, a in anats.items() if k not in (session, None)]
        self.order = order + (others if len(others) == 1 else [])

    def _get(self, pick: Callable[[_Anat], str | None]) -> str | None:
        return next((v for v in map(pick, self.order) if v is not None), None)

    def surfaces(self) -> dict[str, str | None]:
        out = {}
        for kind, names in (("white", ("white", "smoothwm")), ("pial", ("pial",))):
            for hemi in _HEMIS:
                pick = _surface_picker(names, hemi)
                out[f"{kind}_{hemi}"] = self._get(pick)
        return out

    def t1w(self) -> str | None:
        return self._get(lambda a: a.t1w)

    def xfm(self, src: str, dst: str) -> str | None:
        return self._get(lambda a: a.xfms.get((src, dst)))


def _surface_picker(names: tuple[str, ...], hemi: str) -> Callable[[_Anat], str | None]:
    # white: fMRIPrep ≥ 23 writes *_white.surf.gii; ≤ 22 wrote only *_smoothwm.surf.gii
    def pick(anat: _Anat) -> str | None:
        return next((anat.surfaces[(n, hemi)] for n in names if (n, hemi) in anat.surfaces), None)

    return pick


def fmriprep_rows(
    root: Path,
    subjects: list[str],
    freesurfer: Path | None,
    keep_session: Callable[[str | None], bool],
) -> tuple[list[Row], int]:
    """The rows of ``subjects`` (sessions kept by ``keep_session``), and how many series
    were seen."""
    rows: list[Row] = []
    n_series = 0
    for label in subjects:
        anats, funcs = _subject_folders(root / f"sub-{label}", keep_session)
        common = {
            "subject": label,
            "freesurfer": _fmriprep_freesurfer(root, label, freesurfer),
            "layout": "fmriprep",
        }
        for session, folder in funcs.items():
            func = _Func.read(folder)
            n_series += len(func.bolds)
            choice = _AnatChoice(anats, session)
            for ents, bold in func.bolds:
                rows.append({**common, **_fmriprep_row(ents, bold, func, choice, label)})
    return rows, n_series


def _subject_folders(
    folder: Path, keep_session: Callable[[str | None], bool]
) -> tuple[dict[str | None, _Anat], dict[str | None, str]]:
    """A subject's anat/ folders (all of them) and func/ folders (of the kept sessions),
    by session (None for the subject level)."""
    anats: dict[str | None, _Anat] = {}
    funcs: dict[str | None, str] = {}
    top = _dirs(folder)
    levels: list[tuple[str | None, dict[str, str]]] = [(None, {e.name: e.path for e in top})]
    levels += [
        (e.name[4:], {c.name: c.path for c in _dirs(e.path)})
        for e in top
        if e.name.startswith("ses-")
    ]
    for session, children in levels:
        if "anat" in children:
            anats[session] = _Anat.read(children["anat"])
        if "func" in children and keep_session(session):
            funcs[session] = children["func"]
    return anats, funcs


def _fmriprep_freesurfer(root: Path, label: str, given: Path | None) -> str | None:
    candidates = [root / "sourcedata" / "freesurfer" / f"sub-{label}"]
    if root.name == "fmriprep":  # fMRIPrep ≤ 20's legacy layout: <out>/freesurfer
        candidates.append(root.parent / "freesurfer" / f"sub-{label}")
    if given is not None:
        candidates.insert(0, given / f"sub-{label}")
    return _first_dir(candidates)


def _fmriprep_row(
    ents: dict[str, str], bold: str, func: _Func, anat: _AnatChoice, label: str
) -> Row:
    space = ents.get("space")
    space = None if space in NATIVE_NAMES else space
    surfaces = anat.surfaces()
    refs = func.boldrefs.get(_key(ents, {"desc", "echo"}), {})
    reference = refs.get("coreg") or refs.get(None)  # never desc-hmc: before distortion fix
    problems = [] if reference else [f"no boldref for this run in space {space or 'boldref'}"]
    if space is None:
        xfm, problem = _native_registration(func.xfms.get(_key(ents, _IMAGE_ENTITIES), {}))
    elif space in _IDENTITY_SPACES:
        xfm, problem = "identity", None
    else:
        xfm, problem = _template_registration(anat, space, ents.get("cohort"), label)
    problems += [p for p in (problem, surface_problem(surfaces)) if p]
    return {
        "session": ents.get("ses"),
        "task": ents.get("task"),
        "acquisition": ents.get("acq"),
        "direction": ents.get("dir"),
        "run": ents.get("run"),
        "echo": ents.get("echo"),
        "space": space,
        "bold": bold,
        "reference": reference or bold,
        "registration": xfm,
        "registration_kind": registration_kind(xfm),
        **surfaces,
        "t1w": anat.t1w(),
        "problem": "; ".join(problems) or None,
    }


def _native_registration(
    xfms: dict[tuple[str, str, str | None], str],
) -> tuple[str | None, str | None]:
    for src, dst, desc in _NATIVE_XFMS:
        found = [
            path
            for (a, b, d), path in xfms.items()
            if (a, b) == (src, dst) and (desc is None or d == desc)
        ]
        if found:
            return sorted(found)[0], None
    return None, (
        "no registration to T1w for this run (looked for *_from-boldref_to-T1w_mode-image_"
        "desc-coreg_xfm.txt, *_from-scanner_to-T1w_mode-image_xfm.txt and *_from-T1w_to-"
        "scanner_mode-image_xfm.txt)"
    )


def _template_registration(
    anat: _AnatChoice, space: str, cohort: str | None, label: str
) -> tuple[str | None, str | None]:
    template = f"{space}+{cohort}" if cohort else space
    forward = anat.xfm(template, "T1w")  # resamples the template into T1w: T1w → template points
    if forward is not None:
        return forward, None
    wanted = f"sub-{label}_from-{template}_to-T1w_mode-image_xfm.h5"
    backward = anat.xfm("T1w", template)
    if backward is not None:
        return backward, (
            f"only {Path(backward).name} (template points → T1w points) is there; {wanted}, "
            f"which maps T1w points into {template}, is missing"
        )
    return None, f"no transform between T1w and {template} (looked for anat/{wanted})"


# --- HCP ----------------------------------------------------------------------------------


def hcp_subjects(root: Path) -> list[str]:
    """The subject folders of an HCP study folder (those holding MNINonLinear/Results)."""
    return [e.name for e in _dirs(root) if os.path.isdir(Path(e.path, "MNINonLinear", "Results"))]


def hcp_rows(root: Path, subjects: list[str], freesurfer: Path | None) -> tuple[list[Row], int]:
    """The rows of HCP ``subjects``, and how many series were seen.

    A run folder ``MNINonLinear/Results/<run>`` counts when it holds ``<run>.nii.gz``.
    """
    rows: list[Row] = []
    for label in subjects:
        folder = root / label
        surfaces = _hcp_surfaces(folder / "MNINonLinear" / "Native", label)
        problem = surface_problem(surfaces)
        given = [] if freesurfer is None else [freesurfer / label]
        common = {
            "subject": label,
            **surfaces,
            "freesurfer": _first_dir([*given, folder / "T1w" / label]),
            "t1w": _hcp_t1w(folder / "MNINonLinear"),
            "layout": "hcp",
            "problem": problem and f"{problem} (looked in MNINonLinear/Native)",
        }
        for run in _dirs(folder / "MNINonLinear" / "Results"):
            names = {e.name: e.path for e in _files(run.path)}
            if f"{run.name}.nii.gz" in names:
                rows.append({**common, **_hcp_run(run.name, names)})
    return rows, len(rows)


def _hcp_surfaces(native: Path, label: str) -> dict[str, str | None]:
    names = {e.name: e.path for e in _files(native)}
    return {
        f"{kind}_{hemi}": names.get(f"{label}.{hemi}.{kind}.native.surf.gii")
        for kind in ("white", "pial")
        for hemi in _HEMIS
    }


def _hcp_t1w(mni: Path) -> str | None:
    for name in ("T1w_restore.nii.gz", "T1w.nii.gz"):  # in the space of the Native surfaces
        if (mni / name).is_file():
            return str(mni / name)
    return None


def _hcp_run(name: str, files: dict[str, str]) -> Row:
    """``rfMRI_REST1_LR``: task ``REST1`` (HCP's spelling, 7T runs ``REST1_7T``), direction
    ``LR``; a folder name of another form is kept whole as the task."""
    task, direction = name, None
    match = _HCP_RUN.match(name)
    if match:
        tokens = match.group("rest").split("_")
        if len(tokens) > 1 and tokens[-1] in _HCP_DIRECTIONS:
            direction, tokens = tokens[-1], tokens[:-1]
        task = "_".join(tokens)
    bold = files[f"{name}.nii.gz"]
    return {
        "session": None,
        "task": task,
        "acquisition": None,
        "direction": direction,
        "run": None,
        "echo": None,
        "space": HCP_SPACE,
        "bold": bold,
        "reference": files.get(f"{name}_SBRef.nii.gz", bold),
        "registration": "identity",  # MNINonLinear/Native surfaces share the runs' space
        "registration_kind": "identity",
    }
