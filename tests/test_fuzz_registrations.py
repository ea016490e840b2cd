"""Issue 22, fuzzing the registration parsers: real files written from a known matrix (LTA,
register.dat, FSL, ITK .txt and .h5, by each format's definition in ``fs_fixtures``),
mutated — truncated, bit-flipped, lines dropped, numbers turned into NaN/inf/huge values,
transform types changed — and read again.

The property: a ``RoixrError``, or a result equal to the unmutated one. Byte-level mutations
(bit flips, truncation, dropped lines) may also turn one valid number into another (a digit
flipped), which no reader can tell; for those a result that is not the unmutated one must
still pass every check a registration gets (a finite, invertible, bounded affine). Numbers
turned into NaN/inf/huge and types changed to ones roixr cannot apply are strictly "an error
or the same result". Never another exception.

``ROIXR_FUZZ_EXAMPLES`` sets the examples per test (default 30: a few seconds each).
Files are written in a temporary folder only.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pytest
from fs_fixtures import write_fsl, write_itk, write_itk_h5, write_lta, write_register_dat
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roixr.errors import RoixrError
from roixr.io.registration import Registration, point_mapping
from roixr.io.transforms import load_grid
from roixr.io.warps import check_affine

EXAMPLES = int(os.environ.get("ROIXR_FUZZ_EXAMPLES", "30"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=False,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])  # fmt: skip

A2F = np.array(
    [
        [0.9962, -0.0436, 0.0756, 3.2],
        [0.0419, 0.9987, 0.0262, -5.1],
        [-0.0766, -0.0229, 0.9968, 7.3],
        [0.0, 0.0, 0.0, 1.0],
    ]
)
WRITERS = {
    "lta": ("register.lta", lambda f, a, p: write_lta(A2F, f, a, p)),
    "register.dat": ("register.dat", lambda f, a, p: write_register_dat(A2F, f, a, p)),
    "fsl": ("func2anat.mat", lambda f, a, p: write_fsl(A2F, f, a, p)),
    "itk": ("sub-01_from-boldref_to-T1w_mode-image_xfm.txt", lambda f, a, p: write_itk(A2F, p)),
    "itk-h5": ("sub-01_from-boldref_to-T1w_mode-image_xfm.h5",
               lambda f, a, p: write_itk_h5(A2F, p)),
}  # fmt: skip
TEXT = ["lta", "register.dat", "fsl", "itk"]


@pytest.fixture(scope="module")
def originals(tmp_path_factory):
    """Each format's good file (bytes), the grids, and its unmutated result."""
    root = tmp_path_factory.mktemp("fuzzreg")
    func_aff = np.array([[3.0, 0, 0, -60], [0, 3, 0, -70], [0, 0, 3.3, -40], [0, 0, 0, 1]])
    func = root / "boldref.nii.gz"
    nib.Nifti1Image(np.ones((40, 48, 30), np.float32), func_aff).to_filename(str(func))
    anat_aff = np.array([[-2.0, 0, 0, 64], [0, 0, 2, -70], [0, -2, 0, 66], [0, 0, 0, 1]])
    anat = root / "orig.mgz"
    nib.MGHImage(np.zeros((64, 64, 64), np.uint8), anat_aff).to_filename(str(anat))
    ref, anat_grid = load_grid(func), load_grid(anat, "anatomical image")
    out = {}
    for fmt, (name, write) in WRITERS.items():
        path = write(func, anat, root / name)
        out[fmt] = (name, path.read_bytes(), point_mapping(Registration(path), ref, anat_grid))
    return out, ref, anat_grid


def outcome(originals, fmt: str, data: bytes, strict: bool) -> None:
    files, ref, anat = originals
    name, _, expected = files[fmt]
    folder = Path(tempfile.mkdtemp(prefix="roixr-fuzz-"))
    try:
        path = folder / name
        path.write_bytes(data)
        try:
            got = point_mapping(Registration(path), ref, anat)
        except RoixrError:
            return
        assert isinstance(got, np.ndarray), type(got)
        if np.allclose(got, expected, rtol=0, atol=1e-9):
            return
        assert not strict, f"a different result from a mutation that must fail:\n{got}"
        check_affine(got, "the result")  # a valid registration, never a garbled one
    finally:
        shutil.rmtree(folder)


def _flip(data: bytes, flips) -> bytes:
    out = bytearray(data)
    for pos, bit in flips:
        out[pos % len(out)] ^= 1 << bit
    return bytes(out)


@pytest.mark.parametrize("fmt", list(WRITERS))
@FUZZ
@given(flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 7)), min_size=1,
                      max_size=3))  # fmt: skip
def test_bit_flips(originals, fmt, flips):
    outcome(originals, fmt, _flip(originals[0][fmt][1], flips), strict=False)


@pytest.mark.parametrize("fmt", list(WRITERS))
@FUZZ
@given(fraction=st.floats(0.0, 1.0, exclude_max=True))
def test_truncated(originals, fmt, fraction):
    data = originals[0][fmt][1]
    outcome(originals, fmt, data[: int(len(data) * fraction)], strict=False)


@pytest.mark.parametrize("fmt", TEXT)
@FUZZ
@given(drop=st.lists(st.integers(0, 40), min_size=1, max_size=3, unique=True))
def test_lines_dropped(originals, fmt, drop):
    lines = originals[0][fmt][1].decode().splitlines(keepends=True)
    kept = "".join(ln for i, ln in enumerate(lines) if i % max(len(lines), 1) not in drop)
    outcome(originals, fmt, kept.encode(), strict=False)


NUMBER = re.compile(rb"(?<![\w.])[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.])")
BAD_NUMBERS = [b"nan", b"NaN", b"inf", b"-inf", b"1e308", b"-1e308", b"1e400", b"1e200",
               b"123456789012", b"-9e99"]  # fmt: skip


@pytest.mark.parametrize("fmt", TEXT)
@FUZZ
@given(which=st.integers(0, 10**6), value=st.sampled_from(BAD_NUMBERS))
def test_numbers_made_bad(originals, fmt, which, value):
    """A number turned into NaN, inf or a huge value: an error, or (a number the reader does
    not use: an LTA's sigma, register.dat's intensity) the same result."""
    data = originals[0][fmt][1]
    spans = [m.span() for m in NUMBER.finditer(data)]
    a, b = spans[which % len(spans)]
    outcome(originals, fmt, data[:a] + value + data[b:], strict=True)


LTA_TYPES = [b"2", b"3", b"7", b"10", b"11", b"12", b"14", b"15", b"21", b"-1", b"abc", b""]
ITK_TYPES = [b"Euler3DTransform_double_3_3", b"BSplineTransform_double_3_3",
             b"AffineTransform_double_2_2", b"Rigid3DTransform_double_3_3",
             b"DisplacementFieldTransform_double_3_3", b"CompositeTransform_double_3",
             b"IdentityTransform_double_3", b"ScaleTransform_double_3_3", b"x"]  # fmt: skip


@pytest.mark.parametrize("fmt", ["lta", "itk", "itk-h5"])
@FUZZ
@given(index=st.integers(0, 100))
def test_types_changed(originals, fmt, index):
    """A transform type roixr cannot apply is refused, never read as another."""
    files = originals[0]
    data = files[fmt][1]
    if fmt == "lta":
        new = LTA_TYPES[index % len(LTA_TYPES)]
        data = re.sub(rb"type\s+=\s+0", b"type      = " + new, data, count=1)
    elif fmt == "itk":
        new = ITK_TYPES[index % len(ITK_TYPES)]
        data = data.replace(b"AffineTransform_double_3_3", new)
    else:
        new = ITK_TYPES[index % len(ITK_TYPES)]
        folder = Path(tempfile.mkdtemp(prefix="roixr-fuzz-"))
        try:
            path = folder / "x.h5"
            path.write_bytes(data)
            with h5py.File(path, "r+") as f:
                entry = f["TransformGroup"]["1"]
                del entry["TransformType"]
                entry["TransformType"] = np.array([new], dtype=h5py.string_dtype("ascii"))
            data = path.read_bytes()
        finally:
            shutil.rmtree(folder)
    outcome(originals, fmt, data, strict=True)


# --- crashes the fuzzers found, kept as regression tests ---------------------------------


def test_regression_lta_type_garbage_read_as_minus_one(originals):
    """``type = abc`` was read by nitransforms as -1 (numpy's fill value): now the type line
    is parsed by roixr, so garbage is 'cannot read', not a strange type."""
    data = re.sub(rb"type\s+=\s+0", b"type      = abc", originals[0]["lta"][1], count=1)
    with pytest.raises(RoixrError, match="cannot read"):
        outcome_raise(originals, "lta", data)


def test_regression_fsl_five_columns_wrapped(originals):
    """A row of five numbers was wrapped by nitransforms' parse into a garbled matrix."""
    lines = originals[0]["fsl"][1].decode().splitlines()
    lines[0] += " 0"
    with pytest.raises(RoixrError, match=r"4 rows of \[5, 4, 4, 4\] numbers"):
        outcome_raise(originals, "fsl", "\n".join(lines).encode())


def outcome_raise(originals, fmt: str, data: bytes):
    files, ref, anat = originals
    folder = Path(tempfile.mkdtemp(prefix="roixr-fuzz-"))
    try:
        path = folder / files[fmt][0]
        path.write_bytes(data)
        return point_mapping(Registration(path), ref, anat)
    finally:
        shutil.rmtree(folder)
