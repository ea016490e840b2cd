"""Issue 22, registrations: every reader checks what it reads before using it (finite,
affine, non-singular matrices checked BEFORE anything inverts them; transform types it cannot
apply refused, naming the file and the fix), and the plan's sanity check warns when the
surfaces miss the reference grid or sit on its background (numbers and likely cause), with
no warning on S1's and the synthetic subject's good transforms.

The files are written from known matrices by each format's definition (``fs_fixtures``),
then spoiled one way each; every bad input is a ``RegistrationError`` (or, for the images,
a ``TransformError``) with the file's name in its message and a fix, never a numpy or
nitransforms exception.
"""

from __future__ import annotations

import gzip
import warnings
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pytest
from fs_fixtures import write_fsl, write_itk, write_itk_h5, write_lta, write_register_dat

import roixr
from roixr.errors import CoverageWarning, RegistrationError, RoixrError, TransformError
from roixr.io.registration import Registration, point_mapping
from roixr.io.transforms import load_grid
from roixr.io.warps import PointMap
from roixr.sampling.plan import make_plan

pytestmark = pytest.mark.filterwarnings("ignore::roixr.errors.EmptyRoiWarning")

LPS = np.diag([-1.0, -1.0, 1.0, 1.0])


def rigid(deg=(4.0, -3.0, 2.0), shift=(3.0, -5.0, 7.0)) -> np.ndarray:
    ax, ay, az = np.deg2rad(deg)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    m = np.eye(4)
    m[:3, :3], m[:3, 3] = rz @ ry @ rx, shift
    return m


A2F = rigid()  # anatomical scanner RAS → functional scanner RAS


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    """A functional reference (NIfTI, 3 mm, oblique) and an anatomical (MGH, LIA, 2 mm)."""
    root = tmp_path_factory.mktemp("regchecks")
    func_aff = rigid((0.0, 0.0, 8.0), (-60.0, -70.0, -40.0)) @ np.diag([3.0, 3.0, 3.3, 1.0])
    func = root / "boldref.nii.gz"
    nib.Nifti1Image(np.ones((40, 48, 30), np.float32), func_aff).to_filename(str(func))
    anat_aff = np.array([[-2.0, 0, 0, 64], [0, 0, 2, -70], [0, -2, 0, 66], [0, 0, 0, 1]])
    anat = root / "orig.mgz"
    nib.MGHImage(np.zeros((64, 64, 64), np.uint8), anat_aff).to_filename(str(anat))
    return root, func, anat


def grids(images):
    _, func, anat = images
    return load_grid(func), load_grid(anat, "anatomical image")


GOOD = {
    "lta": lambda func, anat, p: write_lta(A2F, func, anat, p),
    "register.dat": lambda func, anat, p: write_register_dat(A2F, func, anat, p),
    "fsl": lambda func, anat, p: write_fsl(A2F, func, anat, p),
    "itk": lambda func, anat, p: write_itk(A2F, p),
    "itk-h5": lambda func, anat, p: write_itk_h5(A2F, p),
}
NAMES = {
    "lta": "register.lta",
    "register.dat": "register.dat",
    "fsl": "func2anat.mat",
    "itk": "sub-01_from-boldref_to-T1w_mode-image_xfm.txt",
    "itk-h5": "sub-01_from-boldref_to-T1w_mode-image_xfm.h5",
}


def write_good(images, fmt: str, folder: Path) -> Path:
    _, func, anat = images
    folder.mkdir(parents=True, exist_ok=True)
    return GOOD[fmt](func, anat, folder / NAMES[fmt])


@pytest.mark.parametrize("fmt", list(GOOD))
def test_good_files_give_the_matrix(images, fmt, tmp_path):
    ref, anat = grids(images)
    path = write_good(images, fmt, tmp_path)
    got = point_mapping(Registration(path), ref, anat)
    tol = 1e-5 if fmt == "register.dat" else 1e-9
    np.testing.assert_allclose(got, A2F, atol=tol)


# --- text edits ---------------------------------------------------------------------------


def lta_matrix_lines(text: str) -> tuple[list[str], int]:
    lines = text.splitlines()
    return lines, lines.index("1 4 4") + 1


def set_row(text: str, first: int, row: int, values: str) -> str:
    lines = text.splitlines()
    lines[first + row] = values
    return "\n".join(lines) + "\n"


def lta_edit(row: int | None = None, values: str = "", replace: tuple[str, str] | None = None):
    def edit(text: str) -> str:
        if replace is not None:
            return text.replace(*replace, 1)
        _, first = lta_matrix_lines(text)
        return set_row(text, first, row, values)

    return edit


def dat_row(row: int, values: str):
    return lambda text: set_row(text, 4, row, values)


def line_edit(index: int, values: str):
    return lambda text: set_row(text, 0, index, values)


def itk_params(values: str):
    def edit(text: str) -> str:
        return "\n".join(
            f"Parameters: {values}" if ln.startswith("Parameters:") else ln
            for ln in text.splitlines()
        )

    return edit


def itk_replace(old: str, new: str):
    return lambda text: text.replace(old, new)


TEXT_CASES = [
    # LTA
    ("lta", "singular", lta_edit(0, "0 0 0 0"), r"singular or nearly so"),
    ("lta", "NaN", lta_edit(1, "0 nan 0 1"), r"non-finite values .* \(1, 1\)"),
    ("lta", "inf", lta_edit(2, "inf 0 1 0"), r"non-finite values"),
    ("lta", "huge", lta_edit(0, "1e300 0 0 0"), r"holds the value 1e\+300"),
    ("lta", "projective", lta_edit(3, "0.1 0 0 1"), r"last row .* not an affine"),
    (
        "lta",
        "type 2",
        lta_edit(replace=("type      = 0", "type      = 2")),
        r"type 2 \(LINEAR_PHYSVOX_TO_PHYSVOX\).*0 \(LINEAR_VOX_TO_VOX\)",
    ),
    (
        "lta",
        "type 21 (tkr)",
        lta_edit(replace=("type      = 0", "type      = 21")),
        r"type 21 \(LINEAR_CORONAL_RAS_TO_CORONAL_RAS",
    ),
    (
        "lta",
        "type 11 (morph)",
        lta_edit(replace=("type      = 0", "type      = 11")),
        r"type 11 \(MORPH_3D_TYPE\)",
    ),
    (
        "lta",
        "type 7",
        lta_edit(replace=("type      = 0", "type      = 7")),
        r"type 7 \(not a FreeSurfer transform type\)",
    ),
    (
        "lta",
        "type abc",
        lta_edit(replace=("type      = 0", "type      = abc")),
        r"cannot read .* as a FreeSurfer LTA",
    ),
    (
        "lta",
        "nxforms 2",
        lta_edit(replace=("nxforms   = 1", "nxforms   = 2")),
        r"cannot read .* as a FreeSurfer LTA",
    ),
    ("lta", "row of 3", lta_edit(1, "0 1 0"), r"cannot read .*register\.lta as a FreeSurfer LTA"),
    (
        "lta",
        "no volume info",
        lta_edit(replace=("valid = 1", "valid = 0")),
        r"VOX2VOX LTA without volume info",
    ),
    (
        "lta",
        "zero voxel size",
        lta_edit(replace=("voxelsize = ", "voxelsize = 0 0 0 #")),
        r"src volume info of .* singular",
    ),
    ("lta", "truncated", lambda t: t[: len(t) // 3], r"cannot read .* as a FreeSurfer LTA"),
    ("lta", "empty", lambda t: "", r"cannot read .* as a FreeSurfer LTA"),
    # register.dat (rows 4..7 the matrix)
    ("register.dat", "singular", dat_row(1, "0 0 0 0"), r"singular or nearly so"),
    ("register.dat", "NaN", dat_row(0, "nan 0 0 0"), r"non-finite values .* \(0, 0\)"),
    ("register.dat", "inf", dat_row(2, "0 0 -inf 0"), r"non-finite values"),
    ("register.dat", "huge", dat_row(0, "1 0 0 1e12"), r"holds the value 1e\+12"),
    ("register.dat", "projective", dat_row(3, "0 0 1 1"), r"not an affine"),
    (
        "register.dat",
        "wrong resolution",
        line_edit(1, "2.000000"),
        r"made for a functional image with 2 mm voxels .* has 3 mm",
    ),
    ("register.dat", "zero resolution", line_edit(2, "0"), r"voxel size 3 × 0 mm, not positive"),
    ("register.dat", "NaN resolution", line_edit(1, "nan"), r"not positive numbers"),
    ("register.dat", "row of 5", dat_row(0, "1 0 0 0 0"), r"cannot read .*\[5, 4, 4, 4\]"),
    (
        "register.dat",
        "three rows",
        lambda t: "\n".join(t.splitlines()[:7]),
        r"cannot read .* as a tkregister register.dat",
    ),
    ("register.dat", "empty", lambda t: "", r"cannot read .* register.dat"),
    # FSL
    ("fsl", "singular", line_edit(0, "0 0 0 0"), r"singular or nearly so"),
    ("fsl", "NaN", line_edit(0, "nan 0 0 0"), r"non-finite values"),
    ("fsl", "inf", line_edit(1, "0 inf 0 0"), r"non-finite values"),
    ("fsl", "huge", line_edit(2, "0 0 1 1e9"), r"holds the value 1e\+09"),
    ("fsl", "projective", line_edit(3, "0 0 0 2"), r"not an affine"),
    ("fsl", "nearly singular", line_edit(0, "1e-9 0 0 0"), r"condition number 1\.0\de\+09"),
    ("fsl", "three rows", lambda t: "\n".join(t.splitlines()[:3]), r"cannot read .* FSL"),
    ("fsl", "five columns", line_edit(0, "1 0 0 0 0"), r"cannot read .* FSL.*\[5, 4, 4, 4\]"),
    ("fsl", "words", lambda t: "this is\nnot a\nmatrix at\nall really\n", r"cannot read .* FSL"),
    ("fsl", "empty", lambda t: "", r"cannot read .* FSL"),
    # ITK text
    ("itk", "singular", itk_params("0 0 0 0 0 0 0 0 0 1 2 3"), r"singular or nearly so"),
    ("itk", "NaN", itk_params("1 0 0 0 nan 0 0 0 1 0 0 0"), r"non-finite values"),
    ("itk", "inf", itk_params("1 0 0 0 1 0 0 0 1 inf 0 0"), r"non-finite values"),
    ("itk", "huge", itk_params("1 0 0 0 1 0 0 0 1 1e200 0 0"), r"holds the value"),
    ("itk", "11 parameters", itk_params("1 0 0 0 1 0 0 0 1 0 0"), r"cannot read .* ITK"),
    (
        "itk",
        "Euler",
        itk_replace("AffineTransform_double_3_3", "Euler3DTransform_double_3_3"),
        r"holds an ITK Euler3DTransform_double_3_3",
    ),
    (
        "itk",
        "BSpline",
        itk_replace("AffineTransform_double_3_3", "BSplineTransform_double_3_3"),
        r"holds an ITK BSplineTransform",
    ),
    (
        "itk",
        "two transforms",
        lambda t: t + t.replace("#Transform 0", "#Transform 1"),
        r"holds 2 transforms",
    ),
    (
        "itk",
        "NaN centre",
        lambda t: t.replace("FixedParameters: 10", "FixedParameters: nan"),
        r"centre of rotation \[nan",
    ),
    ("itk", "no FixedParameters", lambda t: "\n".join(t.splitlines()[:4]), r"cannot read"),
    ("itk", "empty", lambda t: "", r"cannot read .* ITK"),
]


@pytest.mark.parametrize(("fmt", "what", "edit", "match"), TEXT_CASES,
                         ids=[f"{c[0]}-{c[1]}" for c in TEXT_CASES])  # fmt: skip
def test_bad_text_registration(images, tmp_path, fmt, what, edit, match):
    ref, anat = grids(images)
    path = write_good(images, fmt, tmp_path)
    path.write_text(edit(path.read_text()))
    with pytest.raises(RegistrationError, match=match) as err:
        point_mapping(Registration(path), ref, anat)
    assert str(path) in str(err.value), "the message names the file"
    assert err.value.fix or "convert" in str(err.value) or "Pass" in str(err.value)


@pytest.mark.parametrize("fmt", ["register.dat", "fsl", "itk"])
def test_singular_matrix_taken_inverted_is_refused_before_inverting(images, tmp_path, fmt):
    """invert=True on a singular matrix: a RegistrationError, never numpy's LinAlgError."""
    ref, anat = grids(images)
    path = write_good(images, fmt, tmp_path)
    edit = {"register.dat": dat_row(0, "0 0 0 0"), "fsl": line_edit(0, "0 0 0 0"),
            "itk": itk_params("0 0 0 0 0 0 0 0 0 0 0 0")}[fmt]  # fmt: skip
    path.write_text(edit(path.read_text()))
    with pytest.raises(RegistrationError, match="singular"):
        point_mapping(Registration(path, invert=True), ref, anat)


def test_singular_lta_is_a_registration_error(images, tmp_path):
    """The issue's example: a singular LTA gave LinAlgError (inverted before checked)."""
    ref, anat = grids(images)
    path = write_good(images, "lta", tmp_path)
    text = path.read_text()
    _, first = lta_matrix_lines(text)
    for row in range(3):
        text = set_row(text, first, row, "1 1 1 0")
    path.write_text(text)
    with pytest.raises(RegistrationError, match=r"register\.lta is singular"):
        point_mapping(Registration(path), ref, anat)


def test_register_dat_and_fsl_need_the_anatomical(images, tmp_path):
    ref, _ = grids(images)
    for fmt in ("register.dat", "fsl"):
        path = write_good(images, fmt, tmp_path / fmt)
        with pytest.raises(RegistrationError, match="has none.*anatomical="):
            point_mapping(Registration(path), ref, None)


# --- ITK .h5 ------------------------------------------------------------------------------


def h5_edit(path: Path, how: str) -> None:
    with h5py.File(path, "r+") as f:
        group = f["TransformGroup"]
        entry = group["1"]
        params = entry["TransformParameters"]
        kind = np.array([how.split(":", 1)[-1].encode()], dtype=h5py.string_dtype("ascii"))
        if how == "singular":
            params[...] = np.zeros(12)
        elif how == "nan":
            params[4] = np.nan
        elif how == "huge":
            params[9] = 1e30
        elif how == "11 parameters":
            del entry["TransformParameters"]
            entry["TransformParameters"] = np.ones(11)
        elif how.startswith("type:"):
            del entry["TransformType"]
            entry["TransformType"] = kind
        elif how == "nested composite":
            group.create_group("2")["TransformType"] = np.array(
                [b"CompositeTransform_double_3"], dtype=h5py.string_dtype("ascii")
            )
        elif how == "no composite":
            del group["0"]
            group.copy(group["1"], "2")
        elif how == "no TransformGroup":
            del f["TransformGroup"]
        elif how == "empty composite":
            del group["1"]
        elif how == "no TransformType":
            del entry["TransformType"]
        elif how == "nan centre":
            entry["TransformFixedParameters"][0] = np.nan


H5_CASES = [
    ("singular", r"singular or nearly so"),
    ("nan", r"cannot read .* \(ValueError: .*need 12 finite numbers"),
    ("huge", r"holds the value 1e\+30"),
    ("11 parameters", r"cannot read .*11 Parameters"),
    ("type:BSplineTransform_double_3_3", r"holds an ITK BSplineTransform_double_3_3 .*entry 1"),
    ("type:AffineTransform_double_2_2", r"AffineTransform_double_2_2 .*not a 3D transform"),
    ("type:TimeVaryingVelocityFieldTransform_double_3_3", r"holds an ITK TimeVarying"),
    ("nested composite", r"holds an ITK CompositeTransform_double_3 \(entry 2"),
    ("no composite", r"2 transforms without a composite"),
    ("no TransformGroup", r"cannot read .*\.h5"),
    ("empty composite", r"no transform in its TransformGroup"),
    ("no TransformType", r"cannot read .*\.h5"),
    ("nan centre", r"cannot read .*FixedParameters"),
]


@pytest.mark.parametrize(("how", "match"), H5_CASES, ids=[c[0] for c in H5_CASES])
def test_bad_itk_h5(images, tmp_path, how, match):
    ref, anat = grids(images)
    path = write_good(images, "itk-h5", tmp_path)
    h5_edit(path, how)
    with pytest.raises(RegistrationError, match=match) as err:
        point_mapping(Registration(path), ref, anat)
    assert str(path) in str(err.value)


def test_text_named_h5_is_refused(images, tmp_path):
    ref, anat = grids(images)
    path = tmp_path / "xfm.h5"
    path.write_text("#Insight Transform File V1.0\n")
    with pytest.raises(RegistrationError, match=r"cannot read .*xfm\.h5 as an ITK transform"):
        point_mapping(Registration(path), ref, anat)


# --- displacement fields (NIfTI) ----------------------------------------------------------


def write_field(path: Path, data: np.ndarray, affine=None) -> Path:
    affine = np.diag([4.0, 4.0, 4.0, 1.0]) if affine is None else affine
    affine = affine.copy()
    affine[:3, 3] = affine[:3, 3] if affine[:3, 3].any() else (-80, -80, -60)
    nib.Nifti1Image(data.astype(np.float32), affine).to_filename(str(path))
    return path


FIELD_SHAPE = (40, 40, 30, 1, 3)
FIELD_CASES = [
    ("4D", lambda: np.zeros((40, 40, 30, 3)), None, r"has shape \(40, 40, 30, 3\).*5D"),
    ("2 components", lambda: np.zeros((40, 40, 30, 1, 2)), None, r"5D, \(x, y, z, 1, 3\)"),
    ("3D volume", lambda: np.zeros((40, 40, 30)), None, r"has shape \(40, 40, 30\)"),
    (
        "NaN vectors",
        lambda: np.where(np.arange(3) == 1, np.nan, np.zeros(FIELD_SHAPE)),
        None,
        r"holds non-finite values",
    ),
    ("inf vectors", lambda: np.full(FIELD_SHAPE, np.inf), None, r"holds non-finite values"),
    ("huge vectors", lambda: np.full(FIELD_SHAPE, 1e20), None, r"moves points by up to 1e\+20"),
    ("zero voxel size", lambda: np.zeros(FIELD_SHAPE), None, r"degenerate grid"),
]


@pytest.mark.parametrize(("what", "data", "affine", "match"), FIELD_CASES,
                         ids=[c[0] for c in FIELD_CASES])  # fmt: skip
def test_bad_displacement_field(images, tmp_path, what, data, affine, match):
    ref, anat = grids(images)
    name = "sub-01_from-T1w_to-boldref_Warp.nii" + ("" if what == "zero voxel size" else ".gz")
    path = write_field(tmp_path / name, data(), affine)
    if what == "zero voxel size":  # nibabel will not write it: zero srow_y in the header
        raw = bytearray(path.read_bytes())
        raw[252:256] = np.array([0, 1], "<i2").tobytes()  # qform_code 0, sform_code 1
        raw[296:312] = np.zeros(4, "<f4").tobytes()  # srow_y
        path.write_bytes(bytes(raw))
    with pytest.raises(RegistrationError, match=match) as err:
        mapping = point_mapping(Registration(path, invert=False), ref, anat)
        assert isinstance(mapping, PointMap)
        mapping.map(np.zeros((5, 3)))  # the field's values are read when vertices are mapped
    assert str(path) in str(err.value)


@pytest.mark.parametrize("damage", ["truncated", "not gzip", "text"])
def test_damaged_field_file(images, tmp_path, damage):
    ref, anat = grids(images)
    path = write_field(tmp_path / "warp.nii.gz", np.zeros(FIELD_SHAPE))
    raw = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "not gzip":
        path.write_bytes(gzip.decompress(raw)[:200])
    else:
        path.write_text("not a field\n")
    with pytest.raises(RegistrationError, match=r"warp\.nii\.gz") as err:
        mapping = point_mapping(Registration(path), ref, anat)
        mapping.map(np.zeros((5, 3)))
    assert "displacement field" in str(err.value)


# --- 4×4 arrays and images ----------------------------------------------------------------

ARRAY_CASES = [
    ("3×3", np.eye(3), r"not a 4×4 matrix \(got shape \(3, 3\)\)"),
    ("4×3", np.eye(4)[:, :3], r"not a 4×4 matrix"),
    ("NaN", np.where(np.eye(4) == 1, np.nan, 0.0), r"non-finite values"),
    ("inf", np.full((4, 4), np.inf), r"non-finite values"),
    ("singular", np.diag([1.0, 1.0, 0.0, 1.0]), r"singular or nearly so"),
    ("nearly singular", np.diag([1.0, 1.0, 1e-8, 1.0]), r"condition number 1e\+08"),
    ("projective", np.vstack([np.eye(4)[:3], [0.0, 0.0, 0.5, 1.0]]), r"not an affine"),
    ("huge", np.diag([1e7, 1e7, 1e7, 1.0]), r"holds the value 1e\+07"),
    ("strings", [["a"] * 4] * 4, r"a registration must be a file path"),
    ("ragged", [[1, 0, 0], [0, 1, 0, 0]], r"a registration must be a file path"),
    ("3D array", np.zeros((4, 4, 1)), r"a registration must be a file path"),
    ("None", None, r"a registration must be a file path"),
]


@pytest.mark.parametrize(("what", "value", "match"), ARRAY_CASES, ids=[c[0] for c in ARRAY_CASES])
def test_bad_registration_array(images, what, value, match):
    with pytest.raises(RegistrationError, match=match):
        roixr.io.registration.as_registration(value)
    if isinstance(value, np.ndarray) and value.ndim == 2:  # given as a Registration too
        ref, anat = grids(images)
        for invert in (False, True):
            with pytest.raises(RegistrationError, match=match):
                point_mapping(Registration(value, invert=invert), ref, anat)


def test_degenerate_reference_affine(tmp_path):
    img = nib.Nifti1Image(np.zeros((4, 4, 4), np.float32), np.eye(4))
    img.header.set_sform(np.diag([2.0, 2.0, 0.0, 1.0]), code=1)
    img.header.set_qform(None, code=0)
    path = tmp_path / "flat.nii"
    nib.Nifti1Image(np.zeros((4, 4, 4), np.float32), None, img.header).to_filename(str(path))
    if abs(np.linalg.det(nib.load(str(path)).affine[:3, :3])) > 1e-12:
        pytest.skip("nibabel repaired the affine")
    with pytest.raises(TransformError, match=r"flat\.nii has a degenerate voxel → scanner"):
        load_grid(path)


# --- the sanity check ---------------------------------------------------------------------


def sanity_warnings(record) -> list[str]:
    return [
        str(w.message)
        for w in record
        if issubclass(w.category, CoverageWarning) and "registration looks wrong" in str(w.message)
    ]


def plan_warnings(subject, xfm, source=None) -> list[str]:
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        make_plan(subject, xfm, None, "cortical", source=source)
    return sanity_warnings(record)


def test_no_warning_on_s1_good_transforms(s1_clean):
    """fullhead (100% of the vertices inside) and retinotopy, a slab: 38% inside, all a box
    of its size can hold (47%) along its short axis."""
    subject = roixr.Subject(s1_clean)
    for name in ("fullhead", "retinotopy", "identity"):
        assert plan_warnings(subject, name) == [], name


def test_no_warning_on_synthetic_good_transforms(synth_dir):
    subject = roixr.Subject(synth_dir)
    for name in [*subject.transforms, "identity"]:
        assert plan_warnings(subject, name) == [], name


def _magnet(subject, name):
    t = subject.transform(name)
    return t.reference, t.magnet  # surfaces are scanner RAS: magnet = anat → func


def test_registration_400mm_off_warns_with_the_numbers(s1_clean):
    subject = roixr.Subject(s1_clean)
    ref, a2f = _magnet(subject, "fullhead")
    off = np.eye(4)
    off[0, 3] = 400.0
    msgs = plan_warnings(subject, (ref, off @ a2f))
    assert len(msgs) == 1
    n = subject.n_vertices()
    assert f"only 0 of {n} cortical (fiducial) vertices (0.0%) fall inside" in msgs[0]
    assert "the surfaces span x [3" in msgs[0] and "the grid x [-111, 113]" in msgs[0]
    assert "Masks will be mostly empty" in msgs[0]


def test_empty_masks_never_silent(synth_dir):
    subject = roixr.Subject(synth_dir)
    ref, a2f = _magnet(subject, "fullhead")
    off = np.eye(4)
    off[2, 3] = 400.0
    with pytest.warns(CoverageWarning, match=r"only 0 of 2706 .* vertices"):
        masks = roixr.roi_masks(subject, (ref, off @ a2f), chunks=-1)
    assert not masks.values.any()


def test_inverted_registration_named(s1_clean):
    """S1's fullhead inverted keeps 59% of the vertices in its large field of view (coverage
    alone says nothing) but puts a third of the white vertices on background."""
    subject = roixr.Subject(s1_clean)
    ref, a2f = _magnet(subject, "fullhead")
    msgs = plan_warnings(subject, (ref, np.linalg.inv(a2f)))
    assert len(msgs) == 1
    assert "sit on background-like intensities" in msgs[0]
    assert "The inverse registration would put 100% of the vertices inside" in msgs[0]
    assert "invert=True" in msgs[0]


def test_inverted_slab_named(synth_dir):
    """The synthetic oblique grid, its registration inverted."""
    subject = roixr.Subject(synth_dir)
    ref, a2f = _magnet(subject, "oblique")
    msgs = plan_warnings(subject, (ref, np.linalg.inv(a2f)))
    assert len(msgs) == 1 and "The inverse registration would put 100%" in msgs[0]


def test_slab_moved_off_warns(s1_clean):
    subject = roixr.Subject(s1_clean)
    ref, a2f = _magnet(subject, "retinotopy")
    off = np.eye(4)
    off[1, 3] = 40.0
    msgs = plan_warnings(subject, (ref, off @ a2f))
    assert len(msgs) == 1 and "where a box of the grid's size could hold 47%" in msgs[0]


def test_tkr_surfaces_named(s1_clean, tmp_path):
    """FreeSurfer surfaces (tkr-RAS) given to from_surfaces, which expects scanner RAS, with
    an orig.mgz whose c_ras is far from zero: the tkr offset is named with its numbers."""
    from fs_fixtures import freesurfer_subject

    fs_dir = freesurfer_subject(s1_clean, tmp_path / "S1fs")
    orig = nib.load(str(fs_dir / "mri" / "orig.mgz"))
    shifted = orig.affine.copy()
    shifted[:3, 3] += (60.0, -80.0, 70.0)  # a scanner far from tkr-RAS: c_ras ~ 100 mm
    nib.MGHImage(np.zeros(orig.shape, np.uint8), shifted).to_filename(str(tmp_path / "o.mgz"))
    s = fs_dir / "surf"
    subject = roixr.Subject.from_surfaces(
        white=(s / "lh.white", s / "rh.white"), pial=(s / "lh.pial", s / "rh.pial"),
        anatomical=tmp_path / "o.mgz",
    )  # fmt: skip
    good = roixr.Subject.from_freesurfer(fs_dir)  # the same surfaces, c_ras applied
    _, a2f = _magnet(roixr.Subject(s1_clean), "retinotopy")
    ref = s1_clean / "transforms" / "retinotopy" / "reference.nii.gz"
    assert plan_warnings(good, (ref, a2f), source={"A": {"L": [0], "R": [0]}}) == []
    a2f = a2f @ orig.affine @ np.linalg.inv(shifted)  # the registration of the moved scanner
    msgs = plan_warnings(subject, (ref, a2f), source={"A": {"L": [0], "R": [0]}})
    assert len(msgs) == 1
    assert "moved from tkr-RAS to scanner RAS (by the anatomical image's c_ras" in msgs[0]
    assert "from_freesurfer" in msgs[0]


def test_warnings_point_at_the_caller(synth_dir):
    subject = roixr.Subject(synth_dir)
    ref, a2f = _magnet(subject, "fullhead")
    off = np.eye(4)
    off[2, 3] = 400.0
    with pytest.warns(CoverageWarning) as record:
        roixr.roi_masks(subject, (ref, off @ a2f))
    assert any(Path(w.filename).name == Path(__file__).name for w in record)


def test_every_bad_input_is_a_roixr_error():
    """RegistrationError stays a RoixrError and a ValueError (existing except clauses)."""
    assert issubclass(RegistrationError, RoixrError) and issubclass(RegistrationError, ValueError)
