"""Fuzzing the formats roixr parses itself (issue 22): NIfTI headers and data as
:func:`roixr.open_nifti` and :func:`roixr.roi_timeseries` read them, and the SVG path and
transform grammar.

Mutated real files (written with nibabel; paths from pycortex's S1 and the synthetic
subject's overlays) must give a :class:`~roixr.errors.RoixrError` or a correct result,
never another exception, a hang or a silently wrong series:

- NIfTI: a series read from a mutated file equals what nibabel reads from it (so the
  unmutated series when the mutation changed nothing that matters), or, where nibabel
  cannot read the file, the unmutated series; its ROI means equal numpy's on it.
- SVG paths: a mutation that only respells the path (separators, number spellings, implicit
  command repeats) gives the unmutated polygons exactly; a character outside the grammar is
  an error; any other mutation gives an error or finite polygons (a mutation can make
  another valid path, whose polygons are its own) within a deadline.

A few seconds each by default; ``ROIXR_FUZZ_EXAMPLES=N`` runs N examples per test.
Crashes found are recorded as regression tests at the end of this file and in
``test_timeseries_inputs.py``.
"""

from __future__ import annotations

import gzip
import itertools
import logging
import math
import os
import re
import struct
import warnings
from datetime import timedelta
from pathlib import Path

import dask
import nibabel as nib
import numpy as np
import pytest
from helpers import AFFINE, SHAPE, make_masks
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from roixr.errors import RoixrError, SVGPathError
from roixr.io.svg.path import MAX_CURVE_SPAN, flatten_path, parse_path, parse_transform
from roixr.timeseries import open_nifti, roi_timeseries

EXAMPLES = int(os.environ.get("ROIXR_FUZZ_EXAMPLES", "0") or 0)


def fuzz(default: int, deadline: timedelta | None = None):
    """Hypothesis settings: ``default`` examples, or ``ROIXR_FUZZ_EXAMPLES``."""
    return settings(
        max_examples=EXAMPLES or default,
        deadline=deadline,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        database=None,  # examples are reproducible from their printed falsifying case
    )


# --- NIfTI ---------------------------------------------------------------------------------

N_TIME = 7
_DATA = np.random.default_rng(4).integers(-900, 900, (*SHAPE, N_TIME)).astype(np.int16)

# header fields (NIfTI-1, little-endian) and values that matter to a reader
_INTS = [-32768, -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 255, 352, 32767]
_FLOATS = [0.0, -1.0, 1.0, 0.5, 2.0, 351.0, 352.0, 353.0, 1e6, 1e30, 1e38, -1e38, 1e-30,
           math.nan, math.inf, -math.inf]  # fmt: skip
_DATATYPES = [0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 768, 1024, 1280, 1536, 1792, 2048,
              2304, 999]  # fmt: skip
FIELDS = {
    "sizeof_hdr": (0, "i", _INTS),
    "dim": (40, "h", _INTS),  # dim[0] ... dim[7]: offset + 2 * index
    "datatype": (70, "h", _DATATYPES),
    "bitpix": (72, "h", [0, 1, 8, 16, 32, 64, 128]),
    "pixdim": (76, "f", _FLOATS),  # pixdim[0] (qfac) ... pixdim[7]
    "vox_offset": (108, "f", _FLOATS),
    "scl_slope": (112, "f", _FLOATS),
    "scl_inter": (116, "f", _FLOATS),
    "xyzt_units": (123, "B", [0, 1, 2, 3, 8, 10, 16, 24, 255]),
    "toffset": (136, "f", _FLOATS),
    "qform_code": (252, "h", [-1, 0, 1, 2, 3, 4, 5]),
    "sform_code": (254, "h", [-1, 0, 1, 2, 3, 4, 5]),
    "quatern": (256, "f", _FLOATS),  # quatern_b ... qoffset_z
    "srow": (280, "f", _FLOATS),  # srow_x, srow_y, srow_z
    "magic": (344, "4s", [b"n+1\0", b"ni1\0", b"n+2\0", b"xxxx"]),
}
_COUNTS = {"dim": 8, "pixdim": 8, "quatern": 6, "srow": 12}


@st.composite
def nifti_edits(draw, gz: bool):
    """1 to 3 edits: header fields set to telling values, bit flips (in the header mostly),
    truncation; for a gzipped file also flips and truncation of the compressed bytes."""
    kinds = ["field", "field", "flip", "truncate"] + (["zflip", "ztruncate"] if gz else [])
    edits = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(kinds))
        if kind == "field":
            name = draw(st.sampled_from(sorted(FIELDS)))
            offset, fmt, values = FIELDS[name]
            index = draw(st.integers(0, _COUNTS.get(name, 1) - 1))
            shorts = st.integers(-32768, 32767) if fmt == "h" else st.nothing()
            value = draw(st.sampled_from(values) | shorts)
            edits.append(("field", offset + index * struct.calcsize(fmt), fmt, value))
        elif kind in ("flip", "zflip"):
            where = st.integers(0, 351) | st.integers(0, 10**6) if kind == "flip" else (
                st.integers(0, 10**6))  # fmt: skip
            edits.append((kind, draw(where), draw(st.integers(0, 7))))
        else:
            edits.append((kind, draw(st.floats(0, 1))))
    return edits


def mutate(raw: bytes, edits, gz: bool) -> bytes:
    """The file's bytes after ``edits`` (``raw`` is the uncompressed file)."""
    content = bytearray(raw)
    for edit in edits:
        if edit[0] == "field":
            _, offset, fmt, value = edit
            if offset + struct.calcsize(fmt) <= len(content):  # not in a truncated header
                struct.pack_into("<" + fmt, content, offset, value)
        elif edit[0] == "flip" and content:
            content[edit[1] % len(content)] ^= 1 << edit[2]
        elif edit[0] == "truncate":
            content = content[: int(len(content) * edit[1])]
    blob = bytearray(gzip.compress(bytes(content), mtime=0) if gz else content)
    for edit in edits:
        if edit[0] == "zflip" and blob:
            blob[edit[1] % len(blob)] ^= 1 << edit[2]
        elif edit[0] == "ztruncate":
            blob = blob[: int(len(blob) * edit[1])]
    return bytes(blob)


BASES = {
    # name: (image, suffix)
    "int16 scaled .nii": ("int16", ".nii"),
    "int16 scaled .nii.gz": ("int16", ".nii.gz"),
    "float32 .nii": ("float32", ".nii"),
    "float32 .nii.gz": ("float32", ".nii.gz"),
}


def _base_image(kind: str) -> nib.Nifti1Image:
    if kind == "int16":
        img = nib.Nifti1Image(_DATA, np.asarray(AFFINE))
        img.header.set_slope_inter(0.5, 3.0)
    else:
        data = (_DATA / 7.0).astype(np.float32)
        data[0, 0, 0, 2] = np.nan  # a NaN voxel, left out of the means
        img = nib.Nifti1Image(data, np.asarray(AFFINE))
    img.header.set_zooms((2.0, 2.5, 3.0, 1.5))
    img.header.set_xyzt_units("mm", "sec")
    return img


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz-nifti")


@pytest.fixture(scope="module")
def quiet_nibabel():
    """nibabel logs the header fields it would repair; a fuzzer makes many."""
    logger = logging.getLogger("nibabel.global")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    yield
    logger.setLevel(level)


_names = itertools.count()


def _means(values: np.ndarray, masks) -> np.ndarray:
    """numpy's ROI means (roi, hemisphere, time): NaN voxels left out."""
    m = np.asarray(masks.values, bool)
    out = np.full((m.shape[0], m.shape[1], values.shape[-1]), np.nan)
    flat = values.reshape(-1, values.shape[-1], order="C").astype(np.float64)
    for r, h in np.ndindex(*m.shape[:2]):
        chosen = flat[m[r, h].reshape(-1)]
        if chosen.size:
            with warnings.catch_warnings(), np.errstate(invalid="ignore"):
                warnings.simplefilter("ignore", RuntimeWarning)
                out[r, h] = np.nanmean(chosen, axis=0)
    return out


def _nibabel(path: Path):
    """(data as float32, affine) as nibabel reads the file, or None if it cannot."""
    try:
        img = nib.load(path)
        with np.errstate(all="ignore"):
            data = np.asarray(img.get_fdata(), np.float32)
        return data, np.asarray(img.affine, float)
    except Exception:
        return None


def check_nifti(path: Path, masks, original) -> str:
    """Open, read and reduce a (mutated) file; the outcome's kind."""
    try:
        bold = open_nifti(path, chunks=3)
        values = bold.values
        ts = roi_timeseries(bold, masks).values
    except RoixrError:
        return "error"
    reference = _nibabel(path) or original  # nibabel fails: the unmutated series
    data, affine = reference
    assert values.shape == data.shape, (values.shape, data.shape)
    finite = np.abs(data[np.isfinite(data)])
    scale = float(finite.max()) if finite.size else 1.0  # float32 scaling rounds at its ulp
    np.testing.assert_allclose(values, data, rtol=1e-6, atol=1e-6 * scale, equal_nan=True)
    np.testing.assert_allclose(bold.attrs["affine"], affine, rtol=1e-12, atol=1e-9)
    assert np.isfinite(bold.attrs["affine"]).all()
    if "time" in bold.dims:  # a mutated dim[0] can make it 3D
        assert np.isfinite(bold.time.values).all()
        tr = bold.attrs["tr"]
        assert tr is None or (np.isfinite(tr) and tr > 0)
    series = values if values.ndim == 4 else values[..., None]  # a mutated dim[0]: 3D
    expected = _means(series, masks)
    with np.errstate(all="ignore"):
        np.testing.assert_allclose(ts, expected if values.ndim == 4 else expected[..., 0],
                                   rtol=1e-4, atol=1e-3, equal_nan=True)  # fmt: skip
    return "same" if np.array_equal(values, original[0], equal_nan=True) else "other"


@pytest.mark.parametrize("base", sorted(BASES))
@fuzz(100)
@given(data=st.data())
def test_mutated_nifti_gives_a_roixr_error_or_what_nibabel_reads(
    workdir, quiet_nibabel, base, data
):
    kind, suffix = BASES[base]
    gz = suffix.endswith(".gz")
    img = _base_image(kind)
    clean = workdir / f"clean-{kind}.nii"
    if not clean.exists():
        nib.save(img, clean)
    raw = clean.read_bytes()
    original = (np.asarray(nib.load(clean).get_fdata(), np.float32), np.asarray(AFFINE))
    masks = make_masks()
    edits = data.draw(nifti_edits(gz), label="edits")
    path = workdir / f"m{next(_names)}{suffix}"  # a new name: no stream is ever reused
    path.write_bytes(mutate(raw, edits, gz))
    try:
        with warnings.catch_warnings(), dask.config.set(scheduler="sync"):
            warnings.simplefilter("ignore")
            event(check_nifti(path, masks, original))  # --hypothesis-show-statistics
    finally:
        path.unlink()


def test_unmutated_bases_read_correctly(workdir, quiet_nibabel):
    masks = make_masks()
    for kind, suffix in BASES.values():
        path = workdir / f"base-{kind}{suffix}"
        nib.save(_base_image(kind), path)
        original = (np.asarray(nib.load(path).get_fdata(), np.float32), np.asarray(AFFINE))
        with dask.config.set(scheduler="sync"):
            assert check_nifti(path, masks, original) == "same"


# --- SVG paths -----------------------------------------------------------------------------

# hand-written paths as editors write them, with every command of the grammar
HANDMADE = [
    "M 10,10 H 90 V 90 H 10 Z",
    "m 10 10 h 80 v 80 h -80 z m 20 20 l 10 0 l 0 10 z",
    "M100,200 C100,100 250,100 250,200 S400,300 400,200 Q450,150 500,200 T600,200 Z",
    "M 300 300 A 50 80 30 1 0 400 350 a 25 25 -30 0 1 50 -25 L 300 300 Z",
    "M 80 80 A 45 45 0 0 0 125 125 L 125 80 Z M 230 80 A 45 45 0 1 0 275 125 L 275 80 Z",
    "m 5,5 c 10,-5 20,5 30,0 s 10,10 0,20 q -10,10 -20,0 t -10,-20 z",
    "M0,0L10,0 10,10 0,10z M20,20l5,0 0,5 -5,0z",
]
_TOKEN = re.compile(r"[A-Za-z]|[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def _real_paths() -> list[str]:
    from roixr.datasets.sample import pycortex_sample_subject
    from roixr.io.svg.overlays import read_overlays

    s1 = read_overlays(pycortex_sample_subject() / "overlays.svg")
    paths = sorted((d for shape in s1.rois.values() for d, _ in shape.paths), key=len)[:6]
    return paths


@pytest.fixture(scope="module")
def real_paths(synth_dir) -> list[str]:
    from roixr.io.svg.overlays import read_overlays

    synth = read_overlays(synth_dir / "overlays.svg")
    paths = [d for shape in synth.rois.values() for d, _ in shape.paths]
    return _real_paths() + paths + HANDMADE


def polygons(d: str) -> list[list[list[float]]]:
    return [p.tolist() for p in flatten_path(d)]


def _spell_number(text: str, style: int) -> str:
    """The same number, spelt another way (it parses to the same float)."""
    sign, body = ("-", text[1:]) if text[0] in "+-" and text[0] == "-" else ("", text.lstrip("+"))
    mantissa, _, exp = body.lower().partition("e")
    exponent = int(exp) if exp else 0
    whole, _, frac = mantissa.partition(".")
    digits = (whole + frac).lstrip("0") or "0"
    point = exponent - len(frac)  # value = int(whole + frac) * 10**point
    if style == 0:
        return sign + (digits if point == 0 else f"{digits}e{point}")
    if style == 1 and not sign:
        return "+" + body
    if style == 2 and whole in ("0", "") and frac:
        return sign + "." + frac + (f"e{exp}" if exp else "")
    if style == 3:
        return sign + body + ("" if "." in mantissa or exp else ".")
    return text


def _tokens(d: str) -> list[tuple[str, bool]]:
    """A valid path's commands and numbers, each number marked if it is an arc flag."""
    out, cmd, i = [], "", 0
    for tok in _TOKEN.findall(d):
        if tok.isalpha():
            cmd, i = tok, 0
            out.append((tok, False))
        else:
            out.append((tok, cmd in "Aa" and i % 7 in (3, 4)))
            i += 1
    return out


@st.composite
def respellings(draw, d: str) -> str:
    """``d`` written another way within the SVG grammar: separators (none where the next
    number's sign or an arc flag ends the previous one), number spellings, and the command
    letters of implicit repeats dropped (never a moveto's: its repeats are linetos)."""
    out: list[tuple[str, bool]] = []
    last = None
    for tok, flag in _tokens(d):
        if tok.isalpha():
            if tok == last and tok not in "MmZz" and draw(st.booleans()):
                continue  # an implicit repeat
            out.append((tok, False))
            last = tok
        else:
            out.append((tok if flag else _spell_number(tok, draw(st.integers(0, 4))), flag))
    text = draw(st.sampled_from(["", " ", "\n", " \t "]))
    prev: tuple[str, bool] | None = None
    for tok, flag in out:
        if prev is None:
            sep = ""
        elif prev[0].isalpha() or tok.isalpha():
            sep = draw(st.sampled_from(["", " ", "\n", "  "]))
        else:
            glued = tok[0] in "+-" or prev[1] or ("." in prev[0] and tok[0] == ".")
            seps = [" ", ",", " , ", "\n", "\t", ", "] + ([""] if glued else [])
            sep = draw(st.sampled_from(seps))
        text += sep + tok
        prev = (tok, flag)
    return text + draw(st.sampled_from(["", " ", "\n"]))


@fuzz(150, deadline=timedelta(seconds=10))
@given(data=st.data())
def test_respelt_paths_equal_the_unmutated_ones(real_paths, data):
    d = data.draw(st.sampled_from(real_paths), label="path")
    respelt = data.draw(respellings(d), label="respelt")
    assert polygons(respelt) == polygons(d)


_OUTSIDE = st.sampled_from([*"xXyYbBnNkK#;:()[]{}%$@!?&*/\\|'\"`~^_=<>",
                            "\u00a0", "\u2212", "１", "٣", "\x00", "é", "\u200b"])  # fmt: skip


@fuzz(150, deadline=timedelta(seconds=10))
@given(data=st.data())
def test_characters_outside_the_grammar_are_errors(real_paths, data):
    d = data.draw(st.sampled_from(real_paths), label="path")
    where = data.draw(st.integers(0, len(d)), label="where")
    char = data.draw(_OUTSIDE, label="char")
    replace = data.draw(st.booleans(), label="replace")
    mutated = d[:where] + char + d[where + replace :]
    if not mutated[where:].strip(" \t\n\r\f,") and not mutated[:where].strip():
        return
    with pytest.raises(SVGPathError):
        flatten_path(mutated)


_PATHISH = st.sampled_from([*"MLHVCSQTAZmlhvcsqtaz0123456789.-+eE ,\n", "1e308", "1e-308",
                            "9" * 400])  # fmt: skip


@st.composite
def path_edits(draw, d: str) -> str:
    """``d`` with 1 to 4 random edits: a character or a grammar token inserted, replaced or
    deleted, a stretch duplicated, the text cut."""
    text = d
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["insert", "replace", "delete", "duplicate", "cut"]))
        i = draw(st.integers(0, len(text)))
        if kind == "insert":
            text = text[:i] + draw(_PATHISH) + text[i:]
        elif kind == "replace":
            text = text[:i] + draw(_PATHISH) + text[i + 1 :]
        elif kind == "delete":
            text = text[:i] + text[i + draw(st.integers(1, 8)) :]
        elif kind == "duplicate":
            j = draw(st.integers(i, min(len(text), i + 40)))
            text = text[:j] + text[i:j] + text[j:]
        else:
            text = text[:i]
    return text


def _well_formed(result: list[np.ndarray]) -> None:
    for poly in result:
        assert poly.ndim == 2 and poly.shape[1] == 2 and poly.dtype == np.float64
        assert np.isfinite(poly).all()


@fuzz(300, deadline=timedelta(seconds=10))
@given(data=st.data())
def test_mutated_paths_give_an_error_or_finite_polygons(real_paths, data):
    d = data.draw(st.sampled_from(real_paths), label="path")
    mutated = data.draw(path_edits(d), label="mutated")
    matrix = data.draw(st.sampled_from([None, "scale(2)", "matrix(0 1 -1 0 5 5)",
                                        "scale(1e5)"]), label="transform")  # fmt: skip
    try:
        result = flatten_path(mutated, None if matrix is None else parse_transform(matrix))
    except SVGPathError:
        event("error")
        return
    event("polygons")
    _well_formed(result)
    # the parse is what its absolute, explicit spelling parses to
    parts = []
    for points, codes in parse_path(mutated):
        for (x, y), code in zip(points.tolist(), codes, strict=True):
            parts.append(f"{code}{x!r},{y!r}")
    again = [(p.tolist(), c) for p, c in parse_path(_explicit(" ".join(parts)))]
    assert again == [(p.tolist(), c) for p, c in parse_path(mutated)]


def _explicit(text: str) -> str:
    """``M x,y L x,y C x,y C x,y C x,y`` written as commands with their full arity."""
    out, pending = [], []
    for tok in text.split():
        code, xy = tok[0], tok[1:]
        if code == "C":
            pending.append(xy)
            if len(pending) == 3:
                out.append("C " + " ".join(pending))
                pending = []
        else:
            out.append(f"{code} {xy}")
    return " ".join(out)


_NUMBERS = st.sampled_from(["0", "1", "-1", "2.5", "1e308", "1e-308", "-1e308", "90", "180",
                            "45", "1e5", ".5", "3"])  # fmt: skip


@fuzz(200, deadline=timedelta(seconds=5))
@given(
    parts=st.lists(
        st.tuples(st.sampled_from(["matrix", "translate", "scale", "rotate", "skewX", "skewY",
                                   "shear", ""]),
                  st.lists(_NUMBERS, max_size=7), st.sampled_from([" ", ",", ", ", ""])),
        min_size=1, max_size=3,
    )
)  # fmt: skip
def test_mutated_transforms_give_an_error_or_a_finite_invertible_matrix(parts):
    text = " ".join(f"{name}({sep.join(args)})" for name, args, sep in parts)
    try:
        m = parse_transform(text)
    except SVGPathError:
        return
    assert np.isfinite(m).all() and abs(np.linalg.det(m[:2, :2])) > 0


# --- regressions found by these fuzzers ------------------------------------------------------


@pytest.mark.parametrize(
    ("d", "match"),
    [
        # OverflowError (radii squared) and ValueError (NaN to int) in the arc conversion
        ("M0 0 A1e200 1e200 0 1 1 10 0", r"spans 1e\+200 units"),
        ("M0 0 A1 1 0 1 1 1e308 0", r"spans .* units"),
        ("M 1e308 1e308 A 1 1 0 0 0 -1e308 -1e308", r"spans inf units|overflow"),
        ("M0 0 A1e155 1e155 0 1 1 10 0", r"overflows"),
        # relative moves adding up beyond floats: inf coordinates, silently
        ("m1e308 0 l1e308 0 l0 1 z", r"coordinates overflow at its 'l' command"),
        ("M0 0 Q 1e308 1e308 -1e308 -1e308", r"control point .* overflows"),
        # a curve 1e20 wide: AGG's subdivision to 2**32 points (hours)
        ("M0 0 C0 1e20 1e20 1e20 1e20 0", r"spans 1e\+20 units"),
        ("M0 0 S1e308 0 -1e308 0 S1e308 0 -1e308 0", r"overflows"),
        # other scripts' digits, which float() takes and SVG does not
        ("M0 0 L１ 1", r"expected a number"),
    ],
)
def test_found_by_fuzzing(d, match):
    with pytest.raises(SVGPathError, match=match):
        flatten_path(d)


def test_small_radii_are_scaled_up_not_overflowed():
    """Radii too small for the chord by 1e200 are scaled up to a half circle (SVG F.6.6);
    squaring them overflowed."""
    (tiny,) = flatten_path("M0 0 A1e-200 1e-200 0 1 1 10 0 Z")
    (half,) = flatten_path("M0 0 A5 5 0 1 1 10 0 Z")
    np.testing.assert_allclose(tiny, half, atol=1e-9)


def test_the_largest_curve_flattened_is_quick():
    import time

    start = time.perf_counter()
    (ring,) = flatten_path(f"M0 0 C0 {MAX_CURVE_SPAN:g} {MAX_CURVE_SPAN:g} {MAX_CURVE_SPAN:g} "
                           f"{MAX_CURVE_SPAN:g} 0")  # fmt: skip
    assert time.perf_counter() - start < 2 and np.isfinite(ring).all()
