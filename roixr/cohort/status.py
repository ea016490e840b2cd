"""What a cohort store holds: each subject's fate (complete, failed, unfinished), and
removing subjects. The keys it reads are those of :mod:`roixr.store.format`."""

from __future__ import annotations

import json
import shutil
import time
import uuid
import warnings
from collections.abc import Iterable
from typing import Any

from roixr.errors import IncompleteCohortWarning, IncompleteStoreError, OptionError
from roixr.store.format import (
    DROPPED,
    ERROR,
    INDEX,
    SUBJECTS,
    check_kind,
    cohort_members,
    group_attrs,
    index_documents,
    merge_index,
    read_index,
    subject_status,
)
from roixr.store.location import Location, StoreLike, as_location, join

__all__ = [
    "IndexWriter",
    "check_cohort",
    "cohort_status",
    "drop_subjects",
    "left_out",
    "unfinished",
]


def cohort_status(
    store: StoreLike, *, storage_options: dict[str, Any] | None = None
) -> dict[str, dict[str, Any]]:
    """Each subject of a cohort store: ``{"status": "complete" | "failed" | "unfinished",
    "error": text or None}``, sorted by name.

    ``store`` is a path or an fsspec URL (with ``storage_options``, as
    :func:`roixr.write_cohort`). Raises the errors of :func:`open_cohort` for a path that is
    not a cohort store.
    """
    path = as_location(store, storage_options)
    check_cohort(path)
    index = read_index(path)
    out = {}
    if index is None:  # layout 1 (or an index cut short): each subject's group says
        for name in cohort_members(path):  # a group a user added (a "qc") is not a subject
            attrs = group_attrs(path, name)
            out[name] = {"status": subject_status(attrs), "error": attrs.get(ERROR)}
        return out
    for name in sorted(index):
        entry = index[name]
        if entry.get("status") in ("complete", "failed"):
            out[name] = {"status": entry["status"], "error": entry.get("error")}
        else:  # pending in the index: its own group may be complete since
            attrs = group_attrs(path, name)
            out[name] = {"status": subject_status(attrs), "error": attrs.get(ERROR)}
    return out


class IndexWriter:
    """A writing client's document of a layout-2 cohort's index
    (:mod:`roixr.store.format`): it starts as the merge of the documents there, which its
    first :meth:`flush` replaces; then it records the subjects this client handles."""

    def __init__(self, path: Location) -> None:
        self.path = path
        self.key = join(INDEX, f"{uuid.uuid4().hex}.json")
        docs = index_documents(path)
        self.merged = [key for key, _ in docs]
        self.entries = merge_index(docs)

    def set(self, name: str, status: str, error: str | None = None) -> None:
        """Record a subject's status: ``"complete"``, ``"failed"``, ``"pending"`` or
        ``"dropped"``."""
        self.entries[name] = {"status": status, "error": error, "at": time.time()}

    def flush(self) -> None:
        """Write this client's document whole; the first time, remove those it merged."""
        doc = {SUBJECTS: self.entries}
        self.path.write_bytes(self.key, json.dumps(doc, allow_nan=False).encode())
        for key in self.merged:
            if key != self.key:
                self.path.remove(key)
        self.merged = []


def unfinished(store: StoreLike, *, storage_options: dict[str, Any] | None = None) -> list[str]:
    """Subject groups of a cohort store whose write did not finish (failed ones included)."""
    status = cohort_status(store, storage_options=storage_options)
    return [n for n, s in status.items() if s["status"] != "complete"]


def drop_subjects(
    store: StoreLike, names: Iterable[str], *, storage_options: dict[str, Any] | None = None
) -> None:
    """Remove subjects (complete, failed or unfinished) from a cohort store (a path, or a
    URL with ``storage_options``).

    Raises
    ------
    OptionError
        Naming subjects the store does not hold (nothing is removed).
    """
    path = as_location(store, storage_options)
    held = cohort_status(path)
    names = [names] if isinstance(names, str) else list(names)
    missing = sorted(set(names) - set(held))
    if missing:
        raise OptionError(
            f"the cohort store {path} holds no subject(s) {missing}; it holds {sorted(held)}"
        )
    index = IndexWriter(path) if read_index(path) is not None else None
    for name in names:
        if path.path is not None:
            shutil.rmtree(path.path / name, ignore_errors=True)
        else:
            path.remove(name)
        if index is not None:
            index.set(name, DROPPED)
    if index is not None:
        index.flush()


def check_cohort(
    path: StoreLike, *, opener: str = "roixr.open_cohort", writing: bool = False
) -> None:
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
