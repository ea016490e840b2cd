"""ROIs given as plain vertex sets: ``{name: {"L": vertices, "R": vertices}}``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from roixr.errors import OptionError
from roixr.io.subject import Subject
from roixr.rois.table import RoiTable

__all__ = ["MappingSource"]

_SIDES = {"L": "lh", "R": "rh"}


class MappingSource:
    """ROIs from vertex indices per hemisphere (each hemisphere numbered from 0).

    Parameters
    ----------
    rois : mapping
        ``{name: {"L": indices, "R": indices}}``; a hemisphere may be left out.
    """

    description = "vertex sets"

    def __init__(self, rois: Mapping[str, Mapping[str, Any]]) -> None:
        self.rois: dict[str, dict[str, np.ndarray]] = {}
        for name, sides in rois.items():
            if not isinstance(name, str) or not isinstance(sides, Mapping):
                raise OptionError(
                    f"a vertex-set source maps ROI names to {{'L': indices, 'R': indices}}; got "
                    f"{name!r}: {sides!r:.60}"
                )
            unknown = set(sides) - set(_SIDES)
            if unknown:
                raise OptionError(
                    f"ROI {name!r}: hemisphere keys must be 'L' and 'R', got {sorted(unknown)}"
                )
            self.rois[name] = {
                side: _indices(name, side, sides[side]) for side in _SIDES if side in sides
            }

    def names(self, subject: Subject) -> list[str]:
        """The ROI names, in the mapping's order."""
        return list(self.rois)

    def table(self, subject: Subject, names: Sequence[str]) -> RoiTable:
        """Membership of the named ROIs on the subject's vertices."""
        parts = []
        for side, hemi in _SIDES.items():
            n = subject.n_vertices(hemi)  # type: ignore[arg-type]
            rows, cols = [], []
            for r, name in enumerate(names):
                idx = self.rois[name].get(side, np.empty(0, np.int64))
                if idx.size and idx.max() >= n:
                    raise OptionError(
                        f"ROI {name!r} names vertex {int(idx.max())} of hemisphere {side}, "
                        f"which has {n} vertices in subject {subject.name!r}"
                    )
                rows.append(np.full(idx.size, r))
                cols.append(idx)
            row = np.concatenate(rows) if rows else np.empty(0, np.int64)
            col = np.concatenate(cols) if cols else np.empty(0, np.int64)
            data = np.ones(row.size, dtype=bool)
            parts.append(sp.csr_array((data, (row, col)), shape=(len(names), n)))
        return RoiTable.from_hemispheres(names, parts[0], parts[1])


def _indices(name: str, side: str, value: Any) -> np.ndarray:
    idx = np.asarray(value)
    if idx.dtype == bool:
        idx = np.flatnonzero(idx)
    if idx.ndim != 1 or (idx.size and not np.issubdtype(idx.dtype, np.integer)):
        raise OptionError(
            f"ROI {name!r} hemisphere {side}: vertices must be a 1-D array of integer indices "
            f"(or a boolean mask), got dtype {idx.dtype} and shape {idx.shape}"
        )
    if idx.size and idx.min() < 0:
        raise OptionError(f"ROI {name!r} hemisphere {side}: negative vertex index {idx.min()}")
    return np.unique(idx.astype(np.int64))
