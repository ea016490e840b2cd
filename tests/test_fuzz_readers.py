"""Issue 22, fuzzing: mutated real files (the synthetic subject's ROIs and surfaces written
in every format, nilearn's fsaverage5 ``.gii.gz``) fed to each surface and label parser give
a roixr error or the unmutated result, never another exception.

Mutations: truncation (the result must be an error or *equal*); byte overwrites and bit
flips (an error, or a result that differs from the unmutated one in at most two records per
changed byte: none of these formats has a checksum over its vertex values, so a byte that
turns one valid value into another cannot be told, but it must never shift, drop or
misalign the rest); the other hemisphere's file and resized files (always an error).

A few seconds per test; ``ROIXR_FUZZ_EXAMPLES=2000`` runs more examples per test. Crashes
found are kept as regression tests at the end. Nothing is written into a subject folder:
the files are written into a temporary folder, and the test checks the subject's folder and
nilearn's data are unchanged.
"""

from __future__ import annotations

import os
import shutil
import warnings
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from conftest import snapshot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_reader_checks import fsaverage5_files, synthetic_world

import roixr
from roixr.errors import (
    EmptyRoiWarning,
    RoixrError,
    SurfaceMismatchError,
    VertexCountError,
)
from roixr.io.freesurfer import read_any_surface
from roixr.rois.sources.labels import (
    AnnotSource,
    CiftiLabelSource,
    GiftiLabelSource,
    LabelFilesSource,
)

EXAMPLES = int(os.environ.get("ROIXR_FUZZ_EXAMPLES", "25"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=False,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])  # fmt: skip


@pytest.fixture(scope="module")
def world(synth_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz-readers")
    out = synthetic_world(synth_dir, root / "world")
    out["before"] = snapshot(out["dir"])
    fs = fsaverage5_files()
    out["fsavg"] = {k: fs[k] for k in ("white_left", "white_right", "pial_left")}
    out["fsavg_before"] = {k: hash(p.read_bytes()) for k, p in out["fsavg"].items()}
    out["work"] = root / "mutated"
    out["work"].mkdir()
    return out


# --- what each parser gives, as comparable records ------------------------------------------


def _rois(source, subject) -> dict[tuple[str, str], frozenset[int]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", EmptyRoiWarning)
        names = source.names(subject)
        table = source.table(subject, names)
    out = {}
    for n in table.names:  # per hemisphere: a byte may rename one hemisphere's ROI
        v = table.verts(n)
        out[n, "lh"] = frozenset(v[v < table.n_lh].tolist())
        out[n, "rh"] = frozenset(v[v >= table.n_lh].tolist())
    return out


def _roi_diff(a: dict, b: dict) -> int:
    """Records changed: vertices gained or lost by an ROI of the same name, or (the smaller,
    when a byte renamed an ROI or moved a key) by the closest vertex set whatever its name,
    plus the names that differ."""
    common = a.keys() & b.keys()
    named = len(a.keys() ^ b.keys()) + sum(len(a[k] ^ b[k]) for k in common)
    full_a = {k: v for k, v in a.items() if v}
    full_b = {k: v for k, v in b.items() if v}
    left = list(full_b.values())
    unnamed = 0
    for v in sorted(full_a.values(), key=len, reverse=True):
        if not left:
            unnamed += len(v)
            continue
        best = min(range(len(left)), key=lambda i: len(v ^ left[i]))
        unnamed += len(v ^ left.pop(best))
    unnamed += sum(len(v) for v in left) + len(full_a.keys() ^ full_b.keys())
    return min(named, unnamed)


def _surface(path: Path):
    surf = read_any_surface(path)
    return surf


def _surface_diff(a, b) -> int:
    if a.points.shape != b.points.shape or a.polys.shape != b.polys.shape:
        return 10**9
    rows = (a.points != b.points).any(axis=1) & ~(np.isnan(a.points) & np.isnan(b.points)).any(1)
    assert a.hemisphere in (b.hemisphere, None), "a surface changed hemisphere silently"
    return int(rows.sum() + (a.polys != b.polys).any(axis=1).sum())


#: kind → (the file in the world, its name when mutated, parse(path, world) → records, diff)
def _targets(world) -> dict:
    subject = world["subject"]
    annot_lh, annot_rh = world["annot"]
    gifti_lh, gifti_rh = world["gifti"]
    v1 = next(p for p in world["labels"] if p.name == "lh.V1.label")
    return {
        "annot": (annot_lh, "lh.rois.annot",
                  lambda p: _rois(AnnotSource((p, annot_rh)), subject), _roi_diff),
        "label": (v1, "lh.V1.label", lambda p: _rois(LabelFilesSource([p]), subject),
                  _roi_diff),
        "gifti-label": (gifti_lh, gifti_lh.name,
                        lambda p: _rois(GiftiLabelSource((p, gifti_rh)), subject), _roi_diff),
        "cifti": (world["cifti"], "rois.dlabel.nii",
                  lambda p: _rois(CiftiLabelSource(p), subject), _roi_diff),
        "gifti-surface": (world["dir"] / "surfaces" / "wm_lh.gii", "wm_lh.gii", _surface,
                          _surface_diff),
        "gifti-gz-surface": (world["fsavg"]["white_left"], "white_left.gii.gz", _surface,
                             _surface_diff),
        "freesurfer-surface": (world["surf"] / "lh.white", "lh.white", _surface,
                               _surface_diff),
    }  # fmt: skip


KINDS = ["annot", "label", "gifti-label", "cifti", "gifti-surface", "gifti-gz-surface",
         "freesurfer-surface"]  # fmt: skip
_cache: dict = {}


def _target(world, kind):
    key = (id(world), kind)
    if key not in _cache:
        original, name, parse, diff = _targets(world)[kind]
        _cache[key] = (original.read_bytes(), name, parse, diff, parse(original))
    return _cache[key]


def _check(world, kind, data: bytes, allowed: int) -> str:
    """Parse mutated bytes: a roixr error, or a result within ``allowed`` records of the
    unmutated one. Returns what happened, for hypothesis' statistics."""
    _, name, parse, diff, expected = _target(world, kind)
    folder = world["work"] / kind
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_bytes(data)
    try:
        got = parse(path)
    except RoixrError:
        return "error"
    d = diff(got, expected)
    assert d <= allowed, f"{kind}: a result {d} records away from the unmutated one"
    return "equal" if d == 0 else "within"


# --- byte mutations ----------------------------------------------------------------------------

_edits = st.lists(st.tuples(st.integers(0, 10**8), st.integers(0, 255)), min_size=1, max_size=4)
_flips = st.lists(st.tuples(st.integers(0, 10**8), st.integers(0, 7)), min_size=1, max_size=4)


def _overwrite(data: bytes, edits) -> tuple[bytes, int]:
    out = bytearray(data)
    changed = set()
    for pos, byte in edits:
        out[pos % len(out)] = byte
        changed.add(pos % len(out))
    return bytes(out), len(changed)


def _flip(data: bytes, flips) -> tuple[bytes, int]:
    out = bytearray(data)
    changed = set()
    for pos, bit in flips:
        out[pos % len(out)] ^= 1 << bit
        changed.add(pos % len(out))
    return bytes(out), len(changed)


@pytest.mark.parametrize("kind", KINDS)
@FUZZ
@given(edits=_edits)
def test_overwritten_bytes(world, kind, edits):
    data, n = _overwrite(_target(world, kind)[0], edits)
    _check(world, kind, data, 2 * n)


@pytest.mark.parametrize("kind", KINDS)
@FUZZ
@given(flips=_flips)
def test_flipped_bits(world, kind, flips):
    data, n = _flip(_target(world, kind)[0], flips)
    _check(world, kind, data, 2 * n)


@pytest.mark.parametrize("kind", KINDS)
@FUZZ
@given(cut=st.floats(0, 1, exclude_max=True))
def test_truncated(world, kind, cut):
    raw = _target(world, kind)[0]
    _check(world, kind, raw[: int(len(raw) * cut)], 0)


@pytest.mark.parametrize("kind", KINDS)
@FUZZ
@given(k=st.integers(1, 64), seed=st.integers(0, 2**16))
def test_truncated_near_the_end(world, kind, k, seed):
    """The last bytes, where a shorter file is most likely to still parse."""
    raw = _target(world, kind)[0]
    _check(world, kind, raw[: max(0, len(raw) - k)], 0)


# --- the other hemisphere's files, and resized files ---------------------------------------------


@FUZZ
@given(which=st.sampled_from(["annot", "gifti", "label-vertex"]), order=st.booleans())
def test_wrong_hemisphere_labels(world, which, order):
    subject = world["subject"]
    with pytest.raises(RoixrError):
        if which == "annot":
            lh, rh = world["annot"]
            _rois(AnnotSource((rh, lh) if order else (rh, rh)), subject)
        elif which == "gifti":
            lh, rh = world["gifti"]
            _rois(GiftiLabelSource((rh, lh) if order else (lh, lh)), subject)
        else:  # a right label renamed lh. naming a vertex the left lacks
            n = world["n"]["lh"]
            path = world["work"] / "lh.far.label"
            path.write_text(f"#\n2\n1 0 0 0 0\n{n + int(order)} 0 0 0 0\n")
            _rois(LabelFilesSource([path]), subject)


@FUZZ
@given(which=st.sampled_from(["white", "pial", "fsavg"]), swap=st.booleans())
def test_wrong_hemisphere_surfaces(world, which, swap):
    s = world["surf"]
    if which == "fsavg":
        fs = world["fsavg"]
        pair = (fs["white_right"], fs["white_left"]) if swap else (fs["white_right"],) * 2
        subj = roixr.Subject.from_surfaces(white=pair, pial=pair)
    else:
        pairs = {"white": (s / "lh.white", s / "rh.white"), "pial": (s / "lh.pial", s / "rh.pial")}
        pairs[which] = pairs[which][::-1] if swap else (pairs[which][1],) * 2
        subj = roixr.Subject.from_surfaces(white=pairs["white"], pial=pairs["pial"])
    with pytest.raises(SurfaceMismatchError, match="hemisphere"):
        subj.n_vertices()
        subj.surface("pial", "lh")
        subj.surface("pial", "rh")


@FUZZ
@given(kind=st.sampled_from(["annot", "gifti-label", "cifti", "pial"]),
       delta=st.integers(-50, 50).filter(bool))  # fmt: skip
def test_resized(world, kind, delta):
    """Files written by nibabel for a mesh with ``delta`` more (or fewer) vertices."""
    n = world["n"]["lh"]
    m = n + delta
    folder = world["work"] / f"resized-{kind}"
    folder.mkdir(exist_ok=True)
    subject = world["subject"]
    values = np.zeros(m, np.int32)
    values[: min(m, 40)] = 1
    if kind == "annot":
        path = folder / "lh.r.annot"
        ctab = np.array([(25, 5, 25, 0, 0), (200, 10, 10, 0, 0)])
        nib.freesurfer.write_annot(str(path), values, ctab, ["unknown", "A"], fill_ctab=True)
        with pytest.raises(VertexCountError, match=f"labels {m} vertices"):
            _rois(AnnotSource((path, world["annot"][1])), subject)
    elif kind == "gifti-label":
        table = nib.gifti.GiftiLabelTable()
        for key, name in ((0, "???"), (1, "A")):
            label = nib.gifti.GiftiLabel(key, 1.0, 0.0, 0.0, 1.0)
            label.label = name
            table.labels.append(label)
        img = nib.gifti.GiftiImage(labeltable=table)
        img.add_gifti_data_array(nib.gifti.GiftiDataArray(values, "NIFTI_INTENT_LABEL",
                                                          "NIFTI_TYPE_INT32"))  # fmt: skip
        path = folder / "lh.r.label.gii"
        nib.save(img, str(path))
        with pytest.raises(VertexCountError, match=f"labels {m} vertices"):
            _rois(GiftiLabelSource((path, world["gifti"][1])), subject)
    elif kind == "cifti":
        n_rh = world["n"]["rh"]
        models = nib.cifti2.BrainModelAxis.from_surface(
            np.arange(m), m, "CortexLeft"
        ) + nib.cifti2.BrainModelAxis.from_surface(np.arange(n_rh), n_rh, "CortexRight")
        axis = nib.cifti2.LabelAxis(["a"], [{0: ("???", (0, 0, 0, 0)), 1: ("A", (1, 0, 0, 1))}])
        path = folder / "r.dlabel.nii"
        data = np.r_[values, np.ones(n_rh, np.int32)][None]
        header = nib.cifti2.Cifti2Header.from_axes((axis, models))
        nib.Cifti2Image(data, header).to_filename(str(path))  # fmt: skip
        with pytest.raises(VertexCountError, match=f"labels {m} vertices"):
            _rois(CiftiLabelSource(path), subject)
    else:
        white = read_any_surface(world["surf"] / "lh.white")
        points = np.resize(white.points, (m, 3))
        polys = white.polys[(white.polys < m).all(axis=1)]
        path = folder / "lh.pial"
        nib.freesurfer.write_geometry(str(path), points, polys)
        subj = roixr.Subject.from_surfaces(white=(world["surf"] / "lh.white",
                                                  world["surf"] / "rh.white"),
                                           pial=(path, world["surf"] / "rh.pial"))  # fmt: skip
        with pytest.raises(SurfaceMismatchError, match=f"has {m} vertices"):
            subj.surface("pial", "lh")


# --- regression tests: what the fuzzers found ----------------------------------------------------


def test_nothing_written_into_subject_folders(world):
    """Run last in this module: the subject copy and nilearn's files are as they were."""
    assert snapshot(world["dir"]) == world["before"]
    for key, path in world["fsavg"].items():
        assert hash(path.read_bytes()) == world["fsavg_before"][key]


def test_unmutated_files_parse(world):
    for kind in KINDS:
        raw, *_ = _target(world, kind)
        assert _check(world, kind, raw, 0) == "equal"


def test_shutil_copy_is_not_a_mutation(world, tmp_path):
    """The parsers read by content: a copy elsewhere gives the same records."""
    original, name, parse, _ = _targets(world)["annot"]
    shutil.copy(original, tmp_path / name)
    assert parse(tmp_path / name) == parse(original)


def test_found_cifti_without_a_vertex_count(world):
    """Found by test_overwritten_bytes[cifti] (500 examples): a space written into
    ``SurfaceNumberOfVertices`` left nibabel's count None, and ``int(None)`` raised a
    TypeError; now a RoiSourceError naming the structure."""
    raw = _target(world, "cifti")[0]
    data, _ = _overwrite(raw, [(1461, 32)])
    assert b"SurfaceNumberOfVertices" in raw
    assert _check(world, "cifti", data, 2) == "error"
    at = raw.index(b'SurfaceNumberOfVertices="') + len(b'SurfaceNumberOfVertices="')
    garbled = raw[:at] + b"x" + raw[at + 1 :]
    assert _check(world, "cifti", garbled, 0) == "error"


def test_found_one_hemisphere_renamed(world):
    """Found by test_flipped_bits[gifti-label]: one bit turns the left file's 'V1' into
    'W1'. The file then says so (W1 on the left, V1 on the right), so the result is that
    rename and nothing else: two records."""
    raw = _target(world, "gifti-label")[0]
    data, _ = _flip(raw, [(18636, 0)])
    assert b">W1<" in data
    assert _check(world, "gifti-label", data, 2) == "within"
