"""pycortex 1.4 as the oracle for roixr's mask functions, with an in-process and on-disk cache.

pycortex's ``get_roi_masks`` takes 20-60 s per call on S1 (it re-reads the overlays and
re-runs a KD-tree query every time, and builds mapper/mask caches inside the subject folder
on first use). Every call here is memoised in-process and pickled into a cache folder, so each
distinct call runs pycortex at most once per test session (or once ever, with a persistent
folder named by ``ROIXR_PYCORTEX_CACHE``).

Public helpers (``s1`` is the folder of a *copy* of S1, or the filestore holding it):

- :func:`pycortex_masks` — ``cortex.utils.get_roi_masks`` with its value (or exception),
  warnings, printed output and run time. During these runs pycortex's ``get_roi_verts``
  (30-45 s per call on S1) and ``get_vox_dist`` are memoised per exact argument tuple:
  pycortex computes each distinct call once and its warnings, output and exceptions are
  replayed, so ``get_roi_masks`` runs its own code on identical inputs in about a second.
- :func:`pycortex_roi_verts` — pycortex's ``get_roi_verts`` (the same memo).
- :func:`mapper_matrix` — pycortex's ``nearest`` / ``line_nearest`` mapper, both hemispheres
  stacked: a CSR ``(n_vertices, n_voxels)`` matrix, voxels in pycortex's ``(z, y, x)`` C order.
- :func:`line_nearest_fractions`, :func:`nearest_fractions` — per ROI, the fraction of a
  voxel's mapper weight that comes from the ROI's vertices (the oracle for roixr's
  ``cortical-liberal`` / ``cortical-conservative``).
- :func:`vox_nearest` — pycortex's ``get_vox_dist`` (distance to and index of the nearest
  fiducial vertex per voxel) and :func:`left_mask`, pycortex's hemisphere split of voxels.
- :func:`grid_margins` — how many mapper points fall outside the grid, and in the zone
  where pycortex's ``samplers.nearest`` clips them into the last voxel.

pycortex writes caches into the subject folder: point these helpers at a copy of S1.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import io
import json
import os
import pickle
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

__all__ = [
    "OracleResult",
    "grid_margins",
    "left_mask",
    "line_nearest_fractions",
    "mapper_fractions",
    "mapper_matrix",
    "nearest_fractions",
    "pycortex_masks",
    "pycortex_roi_verts",
    "set_cache_dir",
    "subject_dir",
    "vox_nearest",
]

SUBJECT = "S1"
CACHE_ENV = "ROIXR_PYCORTEX_CACHE"
_CACHE_VERSION = 2  # bump when the format of cached results changes

_memo: dict[str, Any] = {}
_fingerprints: dict[Path, str] = {}
_cache_dir: Path | None = None


@dataclasses.dataclass(frozen=True)
class OracleResult:
    """One pycortex ``get_roi_masks`` call.

    ``value`` is what pycortex returned (a dict of arrays, or ``(index_volume, labels)``),
    ``None`` if it raised; then ``error`` is ``(exception class name, str(exception))``.
    ``warnings`` holds ``(category name, message)`` for every warning raised during the call
    (recorded with the "always" filter), ``stdout`` what pycortex printed, ``seconds`` the
    wall time of the original run (with get_roi_verts / get_vox_dist possibly replayed from
    the memo, see below) and ``created`` the pycortex cache files it wrote into the subject
    folder (mask or mapper caches: the call was "cold").
    """

    value: Any
    error: tuple[str, str] | None
    warnings: tuple[tuple[str, str], ...]
    stdout: str
    seconds: float
    created: tuple[str, ...]

    def user_warnings(self) -> list[str]:
        """Messages of the ``UserWarning``s (pycortex's own ROI warnings)."""
        return [msg for cat, msg in self.warnings if cat == "UserWarning"]


# --------------------------------------------------------------------------- plumbing


def subject_dir(s1: str | os.PathLike) -> Path:
    """The S1 folder, given the folder itself or the filestore that holds it."""
    path = Path(s1).resolve()
    if not (path / "surfaces").is_dir() and (path / SUBJECT / "surfaces").is_dir():
        path = path / SUBJECT
    if not (path / "surfaces").is_dir() or path.name != SUBJECT:
        raise FileNotFoundError(f"{s1} is neither pycortex's S1 folder nor a filestore holding it")
    installed = Path(sys.prefix, "share", "pycortex", "db", SUBJECT).resolve()
    if path == installed:
        raise ValueError(
            f"{path} is the installed sample subject; pycortex writes caches into the "
            "subject folder, so run the oracle on a copy (roixr.datasets."
            "pycortex_sample_subject(copy_to=...))"
        )
    return path


def set_cache_dir(path: str | os.PathLike | None) -> None:
    """Where results are pickled (``None``: ``$ROIXR_PYCORTEX_CACHE``, else a folder next to
    the filestore of the subject copy)."""
    global _cache_dir
    _cache_dir = None if path is None else Path(path)


def _cache_folder(subject: Path) -> Path:
    if os.environ.get(CACHE_ENV):
        folder = Path(os.environ[CACHE_ENV])
    elif _cache_dir is not None:
        folder = _cache_dir
    else:
        folder = subject.parent.parent / f"{subject.parent.name}-pycortex-oracle"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _fingerprint(subject: Path) -> str:
    """A hash of the subject's input files (not of pycortex's caches), so copies share it."""
    if subject not in _fingerprints:
        h = hashlib.sha1()
        files = [subject / "overlays.svg", *sorted(subject.glob("surfaces/*.gii"))]
        files += sorted(subject.glob("transforms/*/matrices.xfm"))
        files += sorted(subject.glob("transforms/*/reference.nii.gz"))
        for f in files:
            h.update(str(f.relative_to(subject)).encode())
            h.update(f.read_bytes())
        _fingerprints[subject] = h.hexdigest()
    return _fingerprints[subject]


def _key(subject: Path, what: str, **params: Any) -> str:
    import cortex

    blob = json.dumps(
        {
            "what": what,
            "params": params,
            "pycortex": cortex.__version__,
            "subject": _fingerprint(subject),
            "v": _CACHE_VERSION,
        },
        sort_keys=True,
        default=repr,
    )
    return f"{what}-{hashlib.sha1(blob.encode()).hexdigest()[:20]}"


def _cached(subject: Path, key: str, compute):
    """``compute()`` memoised in-process and pickled on disk under ``key``; arrays in the
    result are fresh copies on every call."""
    if key not in _memo:
        file = _cache_folder(subject) / f"{key}.pkl"
        if file.exists():
            with open(file, "rb") as f:
                _memo[key] = pickle.load(f)
        else:
            packed = _pack(compute())
            fd, tmp = tempfile.mkstemp(dir=file.parent, suffix=".tmp")
            with os.fdopen(fd, "wb") as f:
                pickle.dump(packed, f, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, file)  # atomic: a reader never sees half a file
            _memo[key] = packed
    return _unpack(_memo[key])


@contextlib.contextmanager
def pycortex_at(subject: Path) -> Iterator[Any]:
    """Point pycortex's database at the subject's filestore for the block (and restore it);
    yields pycortex's database (``conftest`` runs pycortex's own ``get_roi_verts`` in it)."""
    import cortex.database as cdb

    saved = (cdb.db.filestore, cdb.db._subjects)
    cdb.db.filestore, cdb.db._subjects = str(subject.parent), None
    cdb.db.__dict__.pop("_memocache", None)
    try:
        yield cdb.db
    finally:
        cdb.db.filestore, cdb.db._subjects = saved
        cdb.db.__dict__.pop("_memocache", None)


def _pycortex_files(subject: Path) -> set[str]:
    """pycortex's cache files in a subject folder (mappers, voxel masks)."""
    found = {str(p.relative_to(subject)) for p in subject.glob("cache/*")}
    return found | {str(p.relative_to(subject)) for p in subject.glob("transforms/*/mask_*")}


_SPARSE = "__sparse_array__"


def _pack(value: Any) -> Any:
    """Store mostly-zero C-ordered arrays as (indices, values): a session's results take a
    few MB instead of 1 GB, in memory and on disk. Dicts, lists and tuples are walked."""
    if isinstance(value, np.ndarray):
        if value.size >= 1024 and value.flags.c_contiguous:
            idx = np.flatnonzero(value)
            if len(idx) <= value.size // 4:
                return {_SPARSE: (value.shape, value.dtype.str, idx, value.ravel()[idx])}
        return value
    if isinstance(value, dict):
        return {k: _pack(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_pack(v) for v in value)
    return value


def _unpack(value: Any) -> Any:
    """The inverse of :func:`_pack`, as fresh arrays (callers may modify them)."""
    if isinstance(value, np.ndarray):
        return value.copy(order="K")
    if isinstance(value, dict):
        if _SPARSE in value:
            shape, dtype, idx, vals = value[_SPARSE]
            out = np.zeros(shape, dtype=np.dtype(dtype))
            out.ravel()[idx] = vals
            return out
        return {k: _unpack(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_unpack(v) for v in value)
    return value


# --------------------------------------------------------------------------- pycortex helpers

# get_roi_masks spends ~95% of a warm call in get_roi_verts (35-45 s on S1: a Python loop
# testing `ii not in goodpts` against a numpy array) and a few seconds in get_vox_dist. Both are
# deterministic functions of the subject's files, so during oracle runs they are memoised per
# exact argument tuple: each distinct call is computed by pycortex itself once, and its
# warnings, printed output and exception are replayed on every later call.


def _file_hash(path: Any) -> str | None:
    """The content hash of an ``overlay_file`` argument, so cached results follow its content."""
    return None if path is None else hashlib.sha1(Path(path).read_bytes()).hexdigest()


def _recorded(subject: Path, name: str, fn, *args: Any, **kwargs: Any) -> Any:
    """``fn(*args, **kwargs)`` memoised under ``name`` and the arguments, replayed faithfully."""

    def run() -> dict[str, Any]:  # plain types only, so pickles load under any module name
        out = io.StringIO()
        value, error = None, None
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(out):
            warnings.simplefilter("always")
            try:
                value = fn(*args, **kwargs)
            except Exception as exc:
                error = exc
        return {
            "value": value,
            "error": error,
            "warnings": [(w.category, str(w.message)) for w in caught],
            "stdout": out.getvalue(),
        }

    params = {"args": _canonical(dict(enumerate(args))), "kwargs": _canonical(kwargs)}
    params["overlay"] = _file_hash(kwargs.get("overlay_file"))
    rec = _cached(subject, _key(subject, name, **params), run)
    sys.stdout.write(rec["stdout"])
    for category, message in rec["warnings"]:
        warnings.warn(message, category, stacklevel=2)
    if rec["error"] is not None:
        raise copy.copy(rec["error"])
    return rec["value"]


@contextlib.contextmanager
def _memoised_helpers(subject: Path) -> Iterator[None]:
    """Within the block, pycortex's get_roi_verts and get_vox_dist are memoised."""
    import cortex.utils as cu

    saved = cu.get_roi_verts, cu.get_vox_dist

    def get_roi_verts(subject_name, roi=None, mask=False, overlay_file=None):
        roi = [roi] if isinstance(roi, str) else (None if roi is None else list(roi))
        return _recorded(
            subject,
            "get_roi_verts",
            saved[0],
            subject_name,
            roi=roi,
            mask=mask,
            overlay_file=overlay_file,
        )

    def get_vox_dist(subject_name, xfmname, surface="fiducial", max_dist=np.inf):
        return _recorded(
            subject,
            "get_vox_dist",
            saved[1],
            subject_name,
            xfmname,
            surface=surface,
            max_dist=max_dist,
        )

    cu.get_roi_verts, cu.get_vox_dist = get_roi_verts, get_vox_dist
    try:
        yield
    finally:
        cu.get_roi_verts, cu.get_vox_dist = saved


def pycortex_roi_verts(
    s1: str | os.PathLike, roi: list[str] | None = None, mask: bool = False
) -> dict[str, np.ndarray]:
    """pycortex's ``get_roi_verts("S1", roi, mask)`` as it returns it (memoised, shared with
    the runs of :func:`pycortex_masks`; warnings and output are discarded)."""
    import cortex

    subject = subject_dir(s1)
    with (
        pycortex_at(subject),
        _memoised_helpers(subject),
        warnings.catch_warnings(),
        contextlib.redirect_stdout(io.StringIO()),
    ):
        warnings.simplefilter("ignore")
        return cortex.utils.get_roi_verts(SUBJECT, roi=roi, mask=mask)


# --------------------------------------------------------------------------- get_roi_masks


def _canonical(kwargs: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in sorted(kwargs.items()):
        if isinstance(v, list | tuple):
            v = list(v)
        elif isinstance(v, np.generic):
            v = v.item()
        elif isinstance(v, os.PathLike):
            v = os.fspath(v)
        out[k] = v
    return out


def pycortex_masks(s1: str | os.PathLike, xfm: str, **kwargs: Any) -> OracleResult:
    """``cortex.utils.get_roi_masks("S1", xfm, **kwargs)`` on the S1 copy at ``s1``.

    Memoised (in-process and on disk); exceptions are recorded, not raised. Each call
    returns fresh arrays. Note pycortex's ``roi_list`` order
    becomes a ``set``'s order with ``fail_for_missing_rois=False`` (it depends on
    ``PYTHONHASHSEED``), so the cached order is that of whichever run filled the cache.
    """
    subject = subject_dir(s1)
    params = _canonical(kwargs)

    def run() -> dict[str, Any]:
        import cortex

        before = _pycortex_files(subject)
        out = io.StringIO()
        value, error = None, None
        t0 = time.perf_counter()
        with (
            pycortex_at(subject),
            _memoised_helpers(subject),
            warnings.catch_warnings(record=True) as caught,
            contextlib.redirect_stdout(out),
        ):
            warnings.simplefilter("always")
            try:
                value = cortex.utils.get_roi_masks(SUBJECT, xfm, **kwargs)
            except Exception as exc:
                error = (type(exc).__name__, str(exc))
        seconds = time.perf_counter() - t0
        return {
            "value": value,
            "error": error,
            "warnings": tuple((w.category.__name__, str(w.message)) for w in caught),
            "stdout": out.getvalue(),
            "seconds": seconds,
            "created": tuple(sorted(_pycortex_files(subject) - before)),
        }

    overlay = _file_hash(kwargs.get("overlay_file"))
    key = _key(subject, "get_roi_masks", xfm=xfm, kwargs=params, overlay=overlay)
    return OracleResult(**_cached(subject, key, run))


# --------------------------------------------------------------------------- mappers


def mapper_matrix(
    s1: str | os.PathLike, xfm: str, kind: str
) -> tuple[sparse.csr_matrix, tuple[int, int, int]]:
    """pycortex's ``get_mapper("S1", xfm, kind)`` matrix, hemispheres stacked (left first):
    CSR ``(n_vertices, n_voxels)``, voxels in the reference's ``(z, y, x)`` C order; and
    that ``(z, y, x)`` shape."""
    subject = subject_dir(s1)

    def build() -> tuple[sparse.csr_matrix, tuple[int, int, int]]:
        import cortex

        with pycortex_at(subject), contextlib.redirect_stdout(io.StringIO()):
            mapper = cortex.get_mapper(SUBJECT, xfm, kind)
            stacked = sparse.vstack(mapper.masks).tocsr()
        stacked.sum_duplicates()
        return stacked, tuple(int(n) for n in mapper.shape)

    return _cached(subject, _key(subject, "mapper", xfm=xfm, kind=kind), build)


def _as_mask(verts: np.ndarray, n: int) -> np.ndarray:
    verts = np.asarray(verts)
    if verts.dtype == bool:
        if verts.shape != (n,):
            raise ValueError(f"a boolean vertex mask must have length {n}, got {verts.shape}")
        return verts.astype(np.float64)
    mask = np.zeros(n)
    mask[verts.astype(np.int64)] = 1.0
    return mask


def mapper_fractions(
    s1: str | os.PathLike, xfm: str, kind: str, roi_verts: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Per ROI, ``M[roi].sum(0) / M.sum(0)`` (0 where a voxel gets no weight) for pycortex's
    ``kind`` mapper ``M``, as float64 ``(z, y, x)`` arrays. ``roi_verts`` maps names to
    vertex indices (or boolean masks over all vertices, left hemisphere first)."""
    m, shape = mapper_matrix(s1, xfm, kind)
    total = np.asarray(m.sum(0)).ravel()
    has = total > 0
    mt = m.T.tocsr()
    out = {}
    for name, verts in roi_verts.items():
        part = mt @ _as_mask(verts, m.shape[0])
        frac = np.zeros_like(total)
        frac[has] = part[has] / total[has]
        out[name] = frac.reshape(shape)
    return out


def line_nearest_fractions(
    s1: str | os.PathLike, xfm: str, roi_verts: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """The oracle for ``cortical-liberal``: pycortex's ``line_nearest`` mapper (64
    white→pial samples per vertex, all vertices) normalised per voxel; see
    :func:`mapper_fractions`."""
    return mapper_fractions(s1, xfm, "line_nearest", roi_verts)


def nearest_fractions(
    s1: str | os.PathLike, xfm: str, roi_verts: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """The ``nearest`` mapper (fiducial vertices of the flat mesh) normalised per voxel; equal
    to pycortex's ``cortical-conservative`` output within 1e-9; see :func:`mapper_fractions`."""
    return mapper_fractions(s1, xfm, "nearest", roi_verts)


# --------------------------------------------------------------------------- voxels


def vox_nearest(s1: str | os.PathLike, xfm: str) -> tuple[np.ndarray, np.ndarray]:
    """pycortex's ``get_vox_dist("S1", xfm)``: per voxel (``(z, y, x)``), the distance to and
    the index of the nearest fiducial vertex (both hemispheres, left first)."""
    subject = subject_dir(s1)

    import cortex

    with pycortex_at(subject), _memoised_helpers(subject):
        dist, idx = cortex.utils.get_vox_dist(SUBJECT, xfm)
    return dist, idx


def left_mask(s1: str | os.PathLike, xfm: str) -> np.ndarray:
    """Voxels pycortex assigns to the left hemisphere (nearest fiducial vertex is a left one)."""
    subject = subject_dir(s1)

    def n_left() -> int:
        with pycortex_at(subject) as db:
            (_, lpolys), _ = db.get_surf(SUBJECT, "fiducial", merge=False, nudge=True)
        return len(np.unique(lpolys))

    n = _cached(subject, _key(subject, "n_left"), n_left)
    return vox_nearest(s1, xfm)[1] < n


# --------------------------------------------------------------------------- grid margins


def _nearest_sampler_classes(coords: np.ndarray, shape_zyx) -> tuple[np.ndarray, np.ndarray]:
    """For pycortex's ``samplers.nearest``: which points lie outside the grid (their rounded
    coordinate is not a voxel), and which of them pycortex nevertheless keeps and clips
    into the last voxel (a coordinate in ``[n - 0.5, n + 0.5)``)."""
    n = np.asarray(shape_zyx)[::-1]  # x, y, z sizes, as the sampler compares them
    finite = ~np.isnan(coords).all(1)
    kept = finite & ((coords > -0.5) & (coords < n + 0.5)).all(1)
    r = np.round(coords)
    outside = ~finite | ((r < 0) | (r > n - 1)).any(1)
    return outside, kept & outside


def grid_margins(s1: str | os.PathLike, xfm: str) -> dict[str, dict[str, int]]:
    """How many mapper points fall outside the grid, and in pycortex's clip zone.

    'nearest': the fiducial vertices of the flat mesh (those pycortex maps); 'line_nearest':
    the 64 white→pial samples of every vertex, computed exactly as pycortex's LineMapper
    does. Counts of points, and of vertices with such a point."""
    subject = subject_dir(s1)

    def run() -> dict[str, dict[str, int]]:
        with pycortex_at(subject) as db, contextlib.redirect_stdout(io.StringIO()):
            tf = db.get_xfm(SUBJECT, xfm, xfmtype="coord")
            fid = db.get_surf(SUBJECT, "fiducial", merge=False, nudge=False)
            flat = db.get_surf(SUBJECT, "flat", merge=False, nudge=False)
            pia = db.get_surf(SUBJECT, "pia", merge=False, nudge=False)
            wm = db.get_surf(SUBJECT, "wm", merge=False, nudge=False)
        out = {k: dict.fromkeys(("points", "outside", "clip_zone"), 0) for k in ("nearest",)}
        for (pts, _), (_, polys) in zip(fid, flat, strict=True):
            coords = tf(pts)[np.unique(polys)]
            outside, clip = _nearest_sampler_classes(coords, tf.shape)
            out["nearest"]["points"] += len(coords)
            out["nearest"]["outside"] += int(outside.sum())
            out["nearest"]["clip_zone"] += int(clip.sum())
        line = dict.fromkeys(("points", "outside", "clip_zone", "vertices", "vertices_outside"), 0)
        line["vertices_clip_zone"] = 0
        for (pia_pts, _), (wm_pts, _) in zip(pia, wm, strict=True):
            # LineMapper._cache passes xfm(wm) as `pia` and xfm(pia) as `wm`; same samples
            a, b = tf(wm_pts), tf(pia_pts)
            v_out = np.zeros(len(a), bool)
            v_clip = np.zeros(len(a), bool)
            for t in np.linspace(0, 1, 64 + 2)[1:-1]:
                outside, clip = _nearest_sampler_classes(a * t + b * (1 - t), tf.shape)
                line["outside"] += int(outside.sum())
                line["clip_zone"] += int(clip.sum())
                v_out |= outside
                v_clip |= clip
            line["points"] += 64 * len(a)
            line["vertices"] += len(a)
            line["vertices_outside"] += int(v_out.sum())
            line["vertices_clip_zone"] += int(v_clip.sum())
        out["line_nearest"] = line
        return out

    return _cached(subject, _key(subject, "grid_margins", xfm=xfm), run)
