"""What a cohort store holds: each subject's fate (complete, failed, unfinished), and
removing subjects. The keys it reads are those of :mod:`roixr.store.format`."""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import zarr

from roixr.errors import IncompleteCohortWarning, IncompleteStoreError, OptionError
from roixr.store.format import ERROR, check_kind, group_attrs, subject_status

__all__ = [
    "check_cohort",
    "cohort_status",
    "drop_subjects",
    "left_out",
    "unfinished",
]


def cohort_status(store: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """Each subject of a cohort store: ``{"status": "complete" | "failed" | "unfinished",
    "error": text or None}``, sorted by name.

    Raises the errors of :func:`open_cohort` for a path that is not a cohort store.
    """
    path = Path(store)
    check_cohort(path)
    root = zarr.open_group(str(path), mode="r")
    out = {}
    for name in sorted(n for n, _ in root.groups()):
        attrs = group_attrs(path, name)
        out[name] = {"status": subject_status(attrs), "error": attrs.get(ERROR)}
    return out


def unfinished(store: str | os.PathLike) -> list[str]:
    """Subject groups of a cohort store whose write did not finish (failed ones included)."""
    return [n for n, s in cohort_status(store).items() if s["status"] != "complete"]


def drop_subjects(store: str | os.PathLike, names: Iterable[str]) -> None:
    """Remove subjects (complete, failed or unfinished) from a cohort store.

    Raises
    ------
    OptionError
        Naming subjects the store does not hold (nothing is removed).
    """
    path = Path(store)
    held = cohort_status(path)
    names = [names] if isinstance(names, str) else list(names)
    missing = sorted(set(names) - set(held))
    if missing:
        raise OptionError(
            f"the cohort store {path} holds no subject(s) {missing}; it holds {sorted(held)}"
        )
    for name in names:
        shutil.rmtree(path / name)


def check_cohort(path: Path, *, opener: str = "roixr.open_cohort", writing: bool = False) -> None:
    """Raise unless ``path`` is a roixr cohort store (:func:`roixr.store.format.check_kind`)."""
    check_kind(path, want="cohort", opener=opener, writing=writing)


def left_out(
    problem: str, bad: dict[str, dict[str, Any]], *, fix: str, option: str, strict: bool
) -> None:
    """Say which members of a store (subjects, runs) are not opened, and why: a warning,
    or with ``strict`` an :class:`~roixr.errors.IncompleteStoreError`.

    ``problem`` begins the message (with their number); the members and their status
    follow, then ``fix``.
    """
    shown = ", ".join(f"{n} ({s['status']})" for n, s in list(bad.items())[:20])
    more = f" and {len(bad) - 20} more" if len(bad) > 20 else ""
    text = f"{problem}: {shown}{more}."
    if strict:
        raise IncompleteStoreError(text, fix=fix, option=option)
    warnings.warn(f"{text} {fix} Only the complete ones are opened.", IncompleteCohortWarning,
                  stacklevel=3)  # fmt: skip
