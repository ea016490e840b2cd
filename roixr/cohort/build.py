"""Lazy masks of many subjects as one ``xarray.DataTree``, one node per subject."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import xarray as xr

from roixr.cohort.options import check_subjects, per_subject, subject_options
from roixr.io.subject import SubjectLike
from roixr.masks import roi_masks

__all__ = ["cohort_masks"]


def cohort_masks(subjects: Mapping[str, tuple[SubjectLike, str]], **options: Any) -> xr.DataTree:
    """Lazy masks of many subjects, one DataTree node per subject.

    Parameters
    ----------
    subjects : mapping
        ``{name: (subject, xfm)}`` or ``{name: (subject, xfm, source)}``; a subject is a
        :class:`roixr.Subject`, folder or name; ``xfm`` a transform name or a
        ``(reference_image, registration)`` pair; ``source`` the subject's own ROI source
        (then no shared ``source=``).
    **options
        Passed to :func:`roixr.roi_masks` (``rois``, ``sampler``, ``threshold``, ...).

    Returns
    -------
    xarray.DataTree
        Node ``/<name>`` holds that subject's ``roi_masks`` variable, in its own grid.
    """
    check_subjects(subjects)
    shared = per_subject(subjects, options)
    nodes = {
        f"/{name}": roi_masks(value[0], value[1], **subject_options(value, shared)).to_dataset()
        for name, value in subjects.items()
    }
    return xr.DataTree.from_dict(nodes)
