"""Finding the preprocessed BOLD runs of a derivatives folder (fMRIPrep, HCP) by file names.

:func:`find_runs` lists every preprocessed BOLD series of an fMRIPrep or HCP derivatives
folder, one row per series, with what roixr needs to compute its ROI time series: the
series, the image whose grid the masks must be in, the registration from the subject's
surfaces to that grid, the surfaces, the FreeSurfer directory and the T1w. It opens no
file: a few ``os.scandir`` calls per subject and session, then names only (10,000 runs,
67,500 files: 0.4 s here; pybids needed 631 s for 963 subjects, pybids#285). The names
are read in :mod:`roixr.cohort.runs_layouts`.

fMRIPrep's names, checked against its own test outputs (``.circleci/*_outputs.txt`` of
releases 20.2 to 25.2):

- native series: ``*_desc-preproc_bold.nii.gz`` (no ``space-``), in every version;
- native boldref: ``*_desc-coreg_boldref.nii.gz`` (≥ 23.2; never ``desc-hmc``, taken
  before distortion correction), ``*_boldref.nii.gz`` (≤ 23.1);
- native registration: ``*_from-boldref_to-T1w_mode-image_desc-coreg_xfm.txt`` (≥ 23.2),
  ``*_from-scanner_to-T1w_mode-image_xfm.txt`` or its inverse ``from-T1w_to-scanner``
  (≤ 23.1; never ``from-scanner_to-boldref``, the head-motion reference);
- other spaces: ``*_space-X[_res-N]_desc-preproc_bold.nii.gz`` and
  ``*_space-X[_res-N]_boldref.nii.gz``; the template warps are the subject's
  ``anat/sub-*_from-<template>_to-T1w_mode-image_xfm.h5`` (and the inverse);
- surfaces: ``anat/sub-*[_ses-*]_hemi-{L,R}_{white,pial}.surf.gii`` (≥ 23). fMRIPrep ≤ 22
  exported no ``white`` GIfTI, only ``smoothwm`` (FreeSurfer's lightly smoothed white
  surface, vertex for vertex the same mesh), ``pial``, ``midthickness`` and ``inflated``:
  ``white_L``/``white_R`` are the ``white`` files where they exist and the ``smoothwm``
  ones otherwise. Those older surfaces are in the scanner space of FreeSurfer's ``T1.mgz``,
  which is the T1w space when one T1w image went in (smriprep applies the fsnative → T1w
  transform to them since November 2023, nipreps/smriprep#384).

ITK files are named as resampling transforms: ``from-A_to-B`` resamples A into B, so as a
map of points it takes B's points to A's. ``from-<template>_to-T1w`` therefore maps
surface (T1w) points into the template, and is the file a template-space run records;
``from-boldref_to-T1w`` maps T1w points into the boldref, as roixr reads it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from roixr.cohort.runs_layouts import (
    NATIVE_NAMES,
    fmriprep_rows,
    fmriprep_subjects,
    hcp_rows,
    hcp_subjects,
    natural_key,
)
from roixr.errors import OptionError, SubjectNotFoundError

__all__ = ["COLUMNS", "ENTITIES", "find_runs"]

LayoutName = Literal["auto", "fmriprep", "hcp"]
#: The BIDS entities of a run, as columns (values without prefixes; None where absent).
ENTITIES = ("subject", "session", "task", "acquisition", "direction", "run", "echo", "space")
#: Every column of :func:`find_runs`, in order (a contract: extraction relies on it).
COLUMNS = (
    *ENTITIES,
    "bold",
    "reference",
    "registration",
    "registration_kind",
    "white_L",
    "white_R",
    "pial_L",
    "pial_R",
    "freesurfer",
    "t1w",
    "layout",
    "problem",
)
_SORT = ("subject", "session", "task", "acquisition", "run", "echo", "space", "direction")
_SERIES = {
    "fmriprep": "sub-*/[ses-*/]func/*_desc-preproc_bold.nii.gz",
    "hcp": "<subject>/MNINonLinear/Results/<run>/<run>.nii.gz",
}


def find_runs(
    path: str | os.PathLike[str],
    *,
    freesurfer: str | os.PathLike[str] | None = None,
    layout: LayoutName = "auto",
    space: str | Iterable[str | None] | None = None,
    subjects: str | Iterable[str] | None = None,
    sessions: str | Iterable[str] | None = None,
    tasks: str | Iterable[str] | None = None,
) -> pd.DataFrame:
    """List the preprocessed BOLD series of a derivatives folder, one row each.

    Parameters
    ----------
    path : path-like
        fMRIPrep's output folder (the one holding ``sub-*`` folders) or an HCP study folder
        (holding ``<subject>/MNINonLinear/Results``).
    freesurfer : path-like, optional
        A folder holding the subjects' FreeSurfer directories (``sub-XX`` for fMRIPrep,
        ``<subject>`` for HCP). By default ``sourcedata/freesurfer`` (fMRIPrep ≥ 21), then
        ``../freesurfer`` beside an ``fmriprep`` folder (the legacy layout), and
        ``<subject>/T1w/<subject>`` for HCP.
    layout : {"auto", "fmriprep", "hcp"}
        ``"auto"`` decides from the folders found.
    space : str or list, optional
        Keep only these spaces: ``"T1w"``, a template (``"MNI152NLin2009cAsym"``), or
        ``"boldref"`` (also ``None`` in a list) for native runs. Default: every space.
    subjects, sessions, tasks : str or list of str, optional
        Keep only these, with or without their prefixes (``"01"`` or ``"sub-01"``). A
        requested subject that does not exist is an error.

    Returns
    -------
    pandas.DataFrame
        One row per series, sorted by subject, session, task, acquisition, run, echo and
        space, with the object (str or None) columns of :data:`COLUMNS`: the entities
        ``subject``, ``session``, ``task``, ``acquisition``, ``direction``, ``run``,
        ``echo``, ``space`` (values without prefixes; ``space`` None for native runs);
        ``bold``; ``reference`` (the run's boldref in that space, else the series);
        ``registration`` (``"identity"`` or the file mapping surface points into the run's
        space, None if missing); ``registration_kind`` (``"identity"``, ``"affine"`` or
        ``"nonlinear"``); ``white_L``, ``white_R``, ``pial_L``, ``pial_R``;
        ``freesurfer``; ``t1w``; ``layout`` (``"fmriprep"`` or ``"hcp"``); ``problem``
        (None, or what is missing). Runs with a problem are listed, never dropped.

    Raises
    ------
    SubjectNotFoundError
        If ``path`` or ``freesurfer`` is not a folder, if it holds neither layout (or not
        the one asked for), if it holds no preprocessed series, or if a requested subject
        is not there.
    OptionError
        If ``layout`` or a filter has a bad value.

    Notes
    -----
    A ``problem`` is any of: no boldref for the run in its space (``reference`` is then
    the series itself), no registration (native runs: none of the names above; template
    runs: no warp, or only the ``from-T1w_to-<template>`` one, which maps the other way), a
    missing surface or hemisphere. A missing FreeSurfer directory is not a problem (only
    label sources need it): ``freesurfer`` is None. The anatomy of a session comes from
    its own ``anat/``, else the subject's, else the one other session that has one.

    HCP runs (``MNINonLinear/Results/<run>/<run>.nii.gz``) are in ``MNI152NLin6Asym`` with
    the ``MNINonLinear/Native`` surfaces, so their registration is ``"identity"``; the
    reference is ``<run>_SBRef.nii.gz`` when there is one, the T1w
    ``MNINonLinear/T1w_restore.nii.gz``; ``rfMRI_REST1_LR`` has task ``REST1`` (HCP's
    spelling, ``REST1_7T`` for 7T runs) and direction ``LR``.

    With pandas ≥ 3, ``DataFrame.iterrows`` turns None into NaN (it infers a string
    dtype per row); ``itertuples()``, ``.iloc`` and ``to_dict("records")`` keep None.

    Examples
    --------
    >>> import tempfile, roixr
    >>> root = roixr.datasets.fmriprep_like(tempfile.mkdtemp() + "/fmriprep", sessions=None)
    >>> runs = roixr.find_runs(root, space="T1w")
    >>> runs[["subject", "task", "space", "registration"]].iloc[0].tolist()
    ['01', 'nback', 'T1w', 'identity']
    """
    root = _check_folder(path, "path")
    fs_root = None if freesurfer is None else _check_folder(freesurfer, "freesurfer")
    query = _Query.make(space, subjects, sessions, tasks)
    kind = _layout(root, layout)
    if kind == "fmriprep":
        labels = _select(fmriprep_subjects(root), query.subjects, root)
        rows, n_series = fmriprep_rows(root, labels, fs_root, query.keeps_session)
    else:
        labels = _select(hcp_subjects(root), query.subjects, root)
        rows, n_series = hcp_rows(root, labels, fs_root)
    if n_series == 0:
        raise SubjectNotFoundError(
            f"no preprocessed BOLD series in the {len(labels)} {kind} subject folder(s) of "
            f"{str(root)!r} (looked for {_SERIES[kind]}).",
            fix="Pass the preprocessed derivatives folder (not the raw BIDS dataset, nor an "
            "anatomical-only run).",
            option="path",
        )
    return _frame([row for row in rows if query.keeps(row)])


# --- arguments ----------------------------------------------------------------------------


def _check_folder(path: Any, option: str) -> Path:
    try:
        folder = Path(os.fspath(path)).expanduser()
    except TypeError:
        raise OptionError(
            f"{option} must be a folder path, got {path!r:.80}.", option=option
        ) from None
    if not folder.is_dir():
        what = {
            "path": "fMRIPrep's output folder or an HCP study folder",
            "freesurfer": "a folder holding the subjects' FreeSurfer directories, or None",
        }[option]
        raise SubjectNotFoundError(
            f"{option} {str(folder)!r} is not an existing folder.",
            fix=f"Pass {what}.",
            option=option,
        )
    return folder.absolute()


def _items(value: Any) -> list[Any]:
    if isinstance(value, str):
        return [value]
    try:
        return list(value)
    except TypeError:
        return [value]


def _labels(value: Any, prefix: str, option: str) -> frozenset[str] | None:
    if value is None:
        return None
    items = _items(value)
    if not items or not all(isinstance(v, str) and v.removeprefix(prefix) for v in items):
        raise OptionError(
            f"{option} must be a label or a list of labels such as '01' or '{prefix}01', got "
            f"{value!r:.80}.",
            fix=f"Pass {option}=None to keep them all.",
            option=option,
        )
    return frozenset(v.removeprefix(prefix) for v in items)


def _spaces(value: Any) -> frozenset[str | None] | None:
    if value is None:
        return None
    items = _items(value)
    if not items or not all(v is None or (isinstance(v, str) and v) for v in items):
        raise OptionError(
            "space must be a space name ('T1w', 'MNI152NLin2009cAsym', 'boldref' for native "
            f"runs) or a list of them, got {value!r:.80}.",
            fix="Pass space=None to keep every space.",
            option="space",
        )
    return frozenset(None if v is None or v in NATIVE_NAMES else v for v in items)


@dataclass(frozen=True)
class _Query:
    """The filters of a call, normalised (labels without prefixes, native space None)."""

    spaces: frozenset[str | None] | None
    subjects: frozenset[str] | None
    sessions: frozenset[str] | None
    tasks: frozenset[str] | None

    @classmethod
    def make(cls, space: Any, subjects: Any, sessions: Any, tasks: Any) -> _Query:
        return cls(
            _spaces(space),
            _labels(subjects, "sub-", "subjects"),
            _labels(sessions, "ses-", "sessions"),
            _labels(tasks, "task-", "tasks"),
        )

    def keeps_session(self, session: str | None) -> bool:
        return self.sessions is None or session in self.sessions

    def keeps(self, row: dict[str, Any]) -> bool:
        return (
            self.keeps_session(row["session"])
            and (self.tasks is None or row["task"] in self.tasks)
            and (self.spaces is None or row["space"] in self.spaces)
        )


# --- layouts and subjects -----------------------------------------------------------------


def _layout(root: Path, layout: Any) -> str:
    if layout not in ("auto", "fmriprep", "hcp"):
        raise OptionError(
            f"layout must be 'auto', 'fmriprep' or 'hcp', got {layout!r:.80}.",
            fix="Pass layout='auto' to decide from the folder.",
            option="layout",
        )
    found = [
        name
        for name, finder in (("fmriprep", fmriprep_subjects), ("hcp", hcp_subjects))
        if layout in ("auto", name) and finder(root)
    ]
    if len(found) == 1:
        return found[0]
    if found:
        raise OptionError(
            f"{str(root)!r} holds both fMRIPrep subjects (sub-*) and HCP subjects "
            "(<subject>/MNINonLinear/Results).",
            fix="Pass layout='fmriprep' or layout='hcp'.",
            option="layout",
        )
    raise _no_layout(root, layout)


def _no_layout(root: Path, layout: str) -> SubjectNotFoundError:
    wanted = {
        "fmriprep": "fMRIPrep layout (sub-* folders)",
        "hcp": "HCP layout (<subject>/MNINonLinear/Results folders)",
    }
    looked = (
        f"no {wanted[layout]}"
        if layout in wanted
        else "neither an {} nor an {}".format(*wanted.values())
    )
    inside = [
        str(child)
        for child in sorted(p for p in root.iterdir() if p.is_dir())
        if fmriprep_subjects(child) or hcp_subjects(child)
    ]
    hint = f" {inside[0]!r} looks like one." if inside else ""
    return SubjectNotFoundError(
        f"found {looked} in {str(root)!r}.",
        fix="Pass fMRIPrep's output folder (holding sub-*/func or sub-*/ses-*/func) or an HCP "
        f"study folder (holding <subject>/MNINonLinear/Results).{hint}",
        option="path",
    )


def _select(found: list[str], wanted: frozenset[str] | None, root: Path) -> list[str]:
    if wanted is None:
        return found
    missing = sorted(wanted - set(found))
    if missing:
        shown = ", ".join(found[:10]) + (", ..." if len(found) > 10 else "")
        raise SubjectNotFoundError(
            f"subjects {missing} are not in {str(root)!r} (found {len(found)}: {shown}).",
            fix="Pass subjects found there, or subjects=None for all.",
            option="subjects",
        )
    return [label for label in found if label in wanted]


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The rows sorted (numbers by value), as object columns holding str or None."""

    def key(row: dict[str, Any]) -> tuple:
        return (*(natural_key(row[k]) for k in _SORT), row["bold"])

    data = [[row[c] for c in COLUMNS] for row in sorted(rows, key=key)]
    return pd.DataFrame(data, columns=list(COLUMNS), dtype=object)
