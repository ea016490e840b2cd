"""A cohort's subjects and options: checked, with each subject's own ROI source, and the
options that decide its masks as plain values (what a cohort store records)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from roixr.errors import OptionError
from roixr.io.subject import SubjectLike
from roixr.masks import roi_masks

__all__ = [
    "PER_SUBJECT",
    "canonical_source",
    "check_subjects",
    "cohort_options",
    "differences",
    "per_subject",
    "subject_options",
]

PER_SUBJECT = "per subject"
"""The ``source`` option of a cohort whose subjects name their own ROI source."""

_NAME = re.compile(r"^[A-Za-z0-9_\-][A-Za-z0-9_.\-]*$")


def check_subjects(subjects: Mapping[str, tuple[SubjectLike, str]]) -> None:
    if not isinstance(subjects, Mapping) or not subjects:
        raise OptionError(
            "subjects must be a non-empty mapping {name: (subject, xfm)}, got "
            f"{type(subjects).__name__}"
        )
    for name, value in subjects.items():
        if not isinstance(name, str) or not _NAME.match(name):
            raise OptionError(
                f"subject name {name!r} cannot name a group: use letters, digits, '_', '-', '.'"
            )
        if not (isinstance(value, tuple) and len(value) in (2, 3)):
            raise OptionError(
                f"subjects[{name!r}] must be a (subject, xfm) pair or a (subject, xfm, source) "
                f"triple, got {value!r:.80}"
            )


def per_subject(subjects: Mapping[str, tuple], options: Mapping[str, Any]) -> dict[str, Any]:
    """The options with ``source`` marked per subject when subjects name their own."""
    own = [name for name, value in subjects.items() if len(value) == 3]
    if not own:
        return dict(options)
    if options.get("source") is not None or options.get("overlay_file") is not None:
        raise OptionError(
            f"subjects {own[:5]} name their own ROI source, and a shared one is given too.",
            fix="Pass no shared source= (or overlay_file=), or name a source for every subject.",
            option="source",
        )
    return {**options, "source": PER_SUBJECT}


def subject_options(value: tuple, options: Mapping[str, Any]) -> dict[str, Any]:
    """A subject's roi_masks options: its own source when it names one."""
    out = dict(options)
    if out.get("source") == PER_SUBJECT:
        out["source"] = value[2] if len(value) == 3 else None
    return out


def canonical_source(source: Any) -> Any:
    if source is None or source == PER_SUBJECT:
        return source
    if isinstance(source, str | os.PathLike):
        p = Path(source)
        return str(p.resolve()) if p.exists() else str(source)
    if isinstance(source, Mapping):
        from dask.base import tokenize

        return f"mapping {tokenize(source)}"
    return str(getattr(source, "description", type(source).__name__))


def cohort_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """The options that decide a cohort's masks, with defaults filled in, as plain values.

    ``chunks`` is left out: it changes how the masks are computed, not what they are.

    Raises
    ------
    OptionError
        For an option :func:`roixr.roi_masks` does not take.
    """
    import inspect

    from roixr.sampling.registry import get_sampler

    params = inspect.signature(roi_masks).parameters
    allowed = [n for n in params if n not in ("subject", "xfm")]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise OptionError(
            f"unknown option(s) {unknown} for a cohort; the options are those of "
            f"roixr.roi_masks: {allowed}"
        )
    full = {n: options.get(n, params[n].default) for n in allowed if n != "chunks"}
    if isinstance(full["source"], tuple | list):
        full["source"] = [canonical_source(s) for s in full["source"]]
    rois = full["rois"]
    full["rois"] = [rois] if isinstance(rois, str) else (None if rois is None else list(rois))
    full["sampler"] = get_sampler(full["sampler"]).label
    for key in ("source", "overlay_file"):
        if not isinstance(full[key], list):
            full[key] = canonical_source(full[key])
    for key in ("allow_overlap", "fail_for_missing_rois", "exclude_empty_rois"):
        full[key] = bool(full[key])
    return full


def differences(stored: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    keys = sorted(set(stored) | set(wanted))
    return [
        f"{k}={wanted.get(k)!r} (the store has {stored.get(k)!r})"
        for k in keys
        if stored.get(k) != wanted.get(k)
    ]
