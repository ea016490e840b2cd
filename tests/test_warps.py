"""Issue 20, template-space runs: a registration is a point mapping of the surface vertices,
so ITK composites (an affine and a displacement field, fMRIPrep's template warps) and ITK
displacement fields place the surfaces in the run's grid.

Checked against warps whose effect is known exactly (a constant shift, a sinusoid sampled
finely enough that interpolation moves points by less than 1e-4 mm): masks through the warp
equal the masks of a subject whose surfaces were moved by the same function, through
"identity". Points are also checked against nitransforms' own mapping of the same files
and, where SimpleITK is installed, against ITK itself.

The warps are written by :func:`write_composite` and :func:`write_field` below, in ITK's
layout (``roixr.datasets.fmriprep`` did not exist when these tests were written); the
SimpleITK test checks that ITK reads them as roixr does.
"""

from __future__ import annotations

import os
import pickle
import time
import warnings
from pathlib import Path

import dask
import dask.base
import h5py
import nibabel as nib
import numpy as np
import pytest

import roixr
from roixr.errors import CoverageWarning, RegistrationError
from roixr.io.registration import Registration, anat_to_func, point_mapping
from roixr.io.warps import INVERSE_TOL, DisplacementField, PointMap
from roixr.sampling.geometry import surfaces_of
from roixr.sampling.plan import make_plan

pytestmark = pytest.mark.filterwarnings("ignore::roixr.errors.EmptyRoiWarning")

LPS = np.diag([-1.0, -1.0, 1.0, 1.0])
TEMPLATE = "MNI152NLin2009cAsym"
FORWARD = f"sub-01_from-{TEMPLATE}_to-T1w_mode-image_xfm.h5"  # T1w points → template
BACKWARD = f"sub-01_from-T1w_to-{TEMPLATE}_mode-image_xfm.h5"  # template points → T1w
SAMPLERS = ["cortical", 2.0, "thin", "cortical-conservative", "cortical-liberal", "ribbon"]


# --- writing ITK files (ITK's layout: LPS, Fortran-ordered interleaved vectors) ----------


def rotation(deg_xyz) -> np.ndarray:
    ax, ay, az = np.deg2rad(deg_xyz)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def affine_ras(deg=(3.0, -2.0, 4.0), shift=(1.5, -2.0, 1.0), scale=(1.02, 0.98, 1.01)):
    """A RAS → RAS point mapping: rotation, anisotropic scale and translation."""
    m = np.eye(4)
    m[:3, :3] = rotation(deg) @ np.diag(scale)
    m[:3, 3] = shift
    return m


def grid(shape, spacing, origin, deg=(0.0, 0.0, 0.0)) -> np.ndarray:
    """A field grid's voxel → RAS affine."""
    a = np.eye(4)
    a[:3, :3] = rotation(deg) @ np.diag(spacing)
    a[:3, 3] = origin
    return a


def sample(fn, affine: np.ndarray, shape) -> np.ndarray:
    """``fn`` (RAS points → RAS displacements) at the grid's points: ``(x, y, z, 3)``."""
    ijk = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), -1)
    pts = ijk.reshape(-1, 3) @ affine[:3, :3].T + affine[:3, 3]
    return fn(pts).reshape((*shape, 3))


def itk_type(name: str) -> np.ndarray:
    """A transform's type as ITK writes it: a variable-length string (ITK cannot read a
    fixed-length one)."""
    return np.array([name.encode()], dtype=h5py.string_dtype(encoding="ascii"))


def itk_field_entry(group, key: str, affine: np.ndarray, deltas: np.ndarray) -> None:
    lps = LPS @ affine
    spacing = np.sqrt((lps[:3, :3] ** 2).sum(0))
    direction = lps[:3, :3] / spacing
    entry = group.create_group(key)
    entry["TransformType"] = itk_type("DisplacementFieldTransform_double_3_3")
    entry["TransformFixedParameters"] = np.concatenate(
        [deltas.shape[:3], lps[:3, 3], spacing, direction.ravel()]
    ).astype(np.float64)
    vectors = deltas * np.array([-1.0, -1.0, 1.0])  # RAS → LPS components
    entry["TransformParameters"] = np.moveaxis(vectors, -1, 0).reshape(-1, order="F")


def itk_affine_entry(group, key: str, ras: np.ndarray, center=(4.0, -7.0, 12.0)) -> None:
    m = LPS @ ras @ LPS
    c = np.asarray(center, dtype=float)
    a, b = m[:3, :3], m[:3, 3]
    entry = group.create_group(key)
    entry["TransformType"] = itk_type("AffineTransform_double_3_3")
    entry["TransformParameters"] = np.array([*a.ravel(), *(b + a @ c - c)])
    entry["TransformFixedParameters"] = c


def write_composite(path: Path, queue: list) -> Path:
    """An ITK composite ``.h5`` (as ANTs and fMRIPrep write them): entry 0 the composite,
    then ``queue`` in ITK's order — ``("affine", ras)`` or ``("field", affine, deltas)`` —
    the last applied first."""
    with h5py.File(path, "w") as f:
        group = f.create_group("TransformGroup")
        group.create_group("0")["TransformType"] = itk_type("CompositeTransform_double_3_3")
        for i, item in enumerate(queue, start=1):
            if item[0] == "affine":
                itk_affine_entry(group, str(i), *item[1:])
            else:
                itk_field_entry(group, str(i), *item[1:])
    return path


def write_field(path: Path, affine: np.ndarray, deltas: np.ndarray) -> Path:
    """An ITK displacement field NIfTI (ANTs' ``*Warp.nii.gz``): (x, y, z, 1, 3), LPS."""
    data = (deltas * np.array([-1.0, -1.0, 1.0]))[:, :, :, None, :]
    img = nib.Nifti1Image(data.astype(np.float64), affine)
    img.header.set_intent("vector")
    img.to_filename(str(path))
    return path


# --- the known functions ------------------------------------------------------------------

SHIFT = np.array([0.8, -0.65, 0.55])


def shift(pts: np.ndarray) -> np.ndarray:
    return np.broadcast_to(SHIFT, pts.shape).copy()


def wave(pts: np.ndarray) -> np.ndarray:
    """A smooth displacement: amplitude up to 1.5 mm, wavelengths 40-60 mm."""
    x, y, z = pts.T
    k = 2 * np.pi
    return np.stack(
        [
            1.5 * np.sin(k * y / 50 + 0.3) * np.cos(k * z / 60),
            1.2 * np.sin(k * x / 40 - 0.7),
            0.9 * np.cos(k * (x + y) / 55),
        ],
        axis=1,
    )


FUNCTIONS = {"shift": shift, "wave": wave}
# 1 mm field over the synthetic surfaces (x in [-45, 45], y in [-16, 16], z in [-2, 2])
# with at least 15 voxels of margin, slightly oblique
FIELD_SHAPE = (141, 91, 45)
FIELD_AFFINE = grid(FIELD_SHAPE, (1.0, 1.0, 1.0), (-70.0, -45.0, -22.0), deg=(2.0, -1.0, 3.0))


def apply(queue: list, pts: np.ndarray, fns: dict) -> np.ndarray:
    """The exact mapping of a composite ``queue`` (ITK order: the last applied first), with
    the fields replaced by the functions they sample."""
    out = np.array(pts, dtype=np.float64)
    for item in reversed(queue):
        if item[0] == "affine":
            m = item[1]
            out = out @ m[:3, :3].T + m[:3, 3]
        else:
            out = out + fns[item[1]](out)
    return out


def as_file_queue(queue: list) -> list:
    return [
        item
        if item[0] == "affine"
        else ("field", FIELD_AFFINE, sample(FUNCTIONS[item[1]], FIELD_AFFINE, FIELD_SHAPE))
        for item in queue
    ]


# --- the subjects ------------------------------------------------------------------------


def write_gifti64(path: Path, pts: np.ndarray, tris: np.ndarray) -> Path:
    arrays = [
        nib.gifti.GiftiDataArray(
            pts.astype(np.float64), intent="NIFTI_INTENT_POINTSET", datatype="NIFTI_TYPE_FLOAT64"
        ),
        nib.gifti.GiftiDataArray(
            tris.astype(np.int32), intent="NIFTI_INTENT_TRIANGLE", datatype="NIFTI_TYPE_INT32"
        ),
    ]
    # float64 is not among GIfTI's types (nibabel refuses it unless forced); roixr reads it
    nib.gifti.GiftiImage(darrays=arrays).to_filename(str(path), mode="force")
    return path


@pytest.fixture(scope="module")
def world(synth_dir, tmp_path_factory):
    """The synthetic subject's surfaces as a plain (fMRIPrep-like) subject, its ROIs as
    vertex sets, and an oblique reference grid covering the (moved) surfaces."""
    root = tmp_path_factory.mktemp("warps")
    surf = synth_dir / "surfaces"
    pairs = {
        kind: (surf / f"{prefix}_lh.gii", surf / f"{prefix}_rh.gii")
        for kind, prefix in (("white", "wm"), ("pial", "pia"))
    }
    subject = roixr.Subject.from_surfaces(white=pairs["white"], pial=pairs["pial"], name="sub-01")
    n_lh = subject.n_vertices("lh")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        verts = roixr.roi_verts(synth_dir)
    rois = {
        name: {"L": v[v < n_lh], "R": v[v >= n_lh] - n_lh} for name, v in verts.items() if len(v)
    }
    ref_affine = grid((56, 24, 14), (1.9, 2.1, 2.4), (-52.0, -21.0, -14.0), deg=(6.0, -4.0, 9.0))
    reference = root / "boldref.nii.gz"
    nib.Nifti1Image(np.zeros((56, 24, 14), np.float32), ref_affine).to_filename(str(reference))
    return {"root": root, "subject": subject, "pairs": pairs, "rois": rois, "ref": reference}


def moved_subject(world, fn, name: str):
    """The subject whose surfaces are moved by ``fn`` (points → points), float64 GIfTIs."""
    out = {}
    for kind, (lh, rh) in world["pairs"].items():
        files = []
        for hemi, path in (("lh", lh), ("rh", rh)):
            src = roixr.io.read_surface(path)
            dest = world["root"] / f"{name}_{kind}_{hemi}.surf.gii"
            files.append(write_gifti64(dest, fn(src.points.astype(np.float64)), src.polys))
        out[kind] = tuple(files)
    return roixr.Subject.from_surfaces(white=out["white"], pial=out["pial"], name=name)


def compute(masks):
    with dask.config.set(scheduler="threads"):
        return masks.values


def vertices(subject) -> np.ndarray:
    return np.concatenate([subject.merged_points("white"), subject.merged_points("pial")])


# --- points: exact functions, nitransforms, ITK -------------------------------------------


@pytest.mark.parametrize("fn", ["shift", "wave"])
def test_composite_maps_points_as_the_function_and_nitransforms(world, fn):
    from nitransforms.manip import TransformChain

    queue = [("affine", affine_ras()), ("field", fn)]
    path = write_composite(world["root"] / f"{fn}_{FORWARD}", as_file_queue(queue))
    t = world["subject"].transform((world["ref"], path))
    assert isinstance(t.warp, PointMap) and t.warp.nonlinear
    pts = vertices(world["subject"]).astype(np.float64)
    mapped = surfaces_of(world["subject"], t)
    ours = np.concatenate([mapped.white, mapped.pial])
    exact = apply(queue, pts, FUNCTIONS)
    # a constant is reproduced by the cubic spline (but for the spline's edge effect, far
    # away here); the sinusoid within its interpolation bound
    assert np.abs(ours - exact).max() < (1e-7 if fn == "shift" else 1e-4)
    oracle = TransformChain.from_filename(str(path), fmt="itk").map(pts)
    assert np.abs(ours - oracle).max() < 1e-4


def test_nifti_field_matches_nitransforms(world):
    from nitransforms.io.itk import ITKDisplacementsField
    from nitransforms.nonlinear import DenseFieldTransform

    deltas = sample(wave, FIELD_AFFINE, FIELD_SHAPE)
    path = write_field(world["root"] / "sub-01_desc-wave_1Warp.nii.gz", FIELD_AFFINE, deltas)
    mapping = point_mapping(Registration(path), None, None)  # type: ignore[arg-type]
    assert isinstance(mapping, PointMap)
    pts = vertices(world["subject"]).astype(np.float64)
    ours = mapping.map(pts)
    assert np.abs(ours - (pts + wave(pts))).max() < 1e-4
    oracle = DenseFieldTransform(ITKDisplacementsField.from_filename(str(path))).map(pts)
    assert np.abs(ours - oracle).max() < 1e-4


def test_itk_itself_maps_as_roixr(world):
    """ITK (SimpleITK) reads roixr's test files and its own files as roixr does. ITK
    interpolates a field linearly and nitransforms cubically: a field linear in space is
    mapped alike by both."""
    sitk = pytest.importorskip("SimpleITK")

    def linear(pts):
        return pts @ np.array([[0.01, -0.02, 0.0], [0.015, 0.0, 0.01], [0.0, 0.02, -0.01]]).T + (
            [0.7, -0.4, 0.3]
        )

    lps = np.array([-1.0, -1.0, 1.0])
    pts = vertices(world["subject"]).astype(np.float64)[::7]
    queue = [("affine", affine_ras()), ("field", FIELD_AFFINE, sample(linear, FIELD_AFFINE,
                                                                      FIELD_SHAPE))]  # fmt: skip
    ours_file = write_composite(world["root"] / "linear_xfm.h5", queue)
    itk = sitk.ReadTransform(str(ours_file))
    by_itk = np.array([itk.TransformPoint(tuple(p)) for p in pts * lps]) * lps
    mapping = point_mapping(Registration(ours_file), None, None)  # type: ignore[arg-type]
    assert np.abs(mapping.map(pts) - by_itk).max() < 1e-4
    # a composite written by ITK itself: [affine, field], the field applied first
    vectors = sample(linear, FIELD_AFFINE, FIELD_SHAPE) * lps
    img = sitk.GetImageFromArray(vectors.transpose(2, 1, 0, 3), isVector=True)  # (z, y, x, 3)
    ras_to_lps = LPS @ FIELD_AFFINE
    spacing = np.sqrt((ras_to_lps[:3, :3] ** 2).sum(0))
    img.SetSpacing(tuple(spacing))
    img.SetOrigin(tuple(ras_to_lps[:3, 3]))
    img.SetDirection(tuple((ras_to_lps[:3, :3] / spacing).ravel()))
    aff = sitk.AffineTransform(3)
    m = LPS @ affine_ras() @ LPS
    aff.SetMatrix(tuple(m[:3, :3].ravel()))
    aff.SetTranslation(tuple(m[:3, 3]))
    composite = sitk.CompositeTransform([aff, sitk.DisplacementFieldTransform(sitk.Image(img))])
    itk_file = str(world["root"] / "itk_written_xfm.h5")
    sitk.WriteTransform(composite, itk_file)
    by_itk = np.array([composite.TransformPoint(tuple(p)) for p in pts * lps]) * lps
    mapping = point_mapping(Registration(itk_file), None, None)  # type: ignore[arg-type]
    assert np.abs(mapping.map(pts) - by_itk).max() < 1e-4
    assert np.abs(by_itk - apply([("affine", affine_ras()), ("field", "l")], pts,
                                 {"l": linear})).max() < 1e-4  # fmt: skip
    # and a displacement field NIfTI written by ITK
    nii = str(world["root"] / "itk_written_1Warp.nii.gz")
    sitk.WriteImage(img, nii)
    field = point_mapping(Registration(nii), None, None)  # type: ignore[arg-type]
    assert np.abs(field.map(pts) - (pts + linear(pts))).max() < 1e-4


def test_composite_order(world):
    """ITK applies a composite's last transform first: [affine, field] is affine(x + s),
    [field, affine] is affine(x) + s; they differ, and each is read as ITK defines it."""
    a = affine_ras(deg=(0.0, 0.0, 10.0), shift=(0.0, 0.0, 0.0), scale=(1.15, 1.0, 1.0))
    pts = vertices(world["subject"]).astype(np.float64)
    out = {}
    for order, queue in (("affine-last", [("affine", a), ("field", "shift")]),
                         ("field-last", [("field", "shift"), ("affine", a)])):  # fmt: skip
        path = write_composite(world["root"] / f"{order}_xfm.h5", as_file_queue(queue))
        mapping = point_mapping(Registration(path), None, None)  # type: ignore[arg-type]
        out[order] = mapping.map(pts)
        np.testing.assert_allclose(out[order], apply(queue, pts, FUNCTIONS), atol=1e-7, rtol=0)
    np.testing.assert_allclose(
        out["affine-last"], pts @ a[:3, :3].T + a[:3, :3] @ SHIFT, atol=1e-7
    )
    np.testing.assert_allclose(out["field-last"], pts @ a[:3, :3].T + SHIFT, atol=1e-7)
    assert np.abs(out["affine-last"] - out["field-last"]).max() > 0.1


# --- masks: through the warp == moved surfaces through "identity" -------------------------


@pytest.fixture(scope="module")
def warped(world):
    out = {}
    for fn in FUNCTIONS:
        queue = [("affine", affine_ras()), ("field", fn)]
        path = write_composite(world["root"] / f"masks-{fn}_{FORWARD}", as_file_queue(queue))
        moved = moved_subject(world, lambda p, q=queue: apply(q, p, FUNCTIONS), f"moved-{fn}")
        out[fn] = path, moved
    return out


@pytest.mark.parametrize("sampler", SAMPLERS, ids=str)
@pytest.mark.parametrize("fn", ["shift", "wave"])
def test_masks_through_warp_equal_moved_surfaces(world, warped, fn, sampler):
    path, moved = warped[fn]
    kw = {"sampler": sampler, "source": world["rois"]}
    got = roixr.roi_masks(world["subject"], (world["ref"], path), **kw)
    want = roixr.roi_masks(moved, (world["ref"], "identity"), **kw)
    a, b = compute(got), compute(want)
    assert a.any(axis=(1, 2, 3, 4)).sum() >= 4  # the ROIs are in the grid
    if a.dtype == bool:
        np.testing.assert_array_equal(a, b)
    else:
        np.testing.assert_allclose(a, b, atol=1e-6, rtol=0)
    np.testing.assert_allclose(got.coverage.values, want.coverage.values)
    np.testing.assert_array_equal(got.attrs["affine"], want.attrs["affine"])


def test_h5_with_field_is_not_reduced_to_its_affine(world, warped):
    """Regression: the affine of a composite was applied and its field silently dropped."""
    path, moved = warped["shift"]
    affine_only = write_composite(world["root"] / "affine-only_xfm.h5",
                                  [("affine", affine_ras())])  # fmt: skip
    t = world["subject"].transform((world["ref"], affine_only))
    assert t.warp is None  # an affine stays one matrix
    with pytest.raises(RegistrationError, match="nonlinear") as err:
        anat_to_func(Registration(path), None, None)  # type: ignore[arg-type]
    assert err.value.fix and "pair" in err.value.fix
    got = compute(roixr.roi_masks(world["subject"], (world["ref"], path), source=world["rois"]))
    dropped = compute(
        roixr.roi_masks(world["subject"], (world["ref"], affine_only), source=world["rois"])
    )
    want = compute(roixr.roi_masks(moved, (world["ref"], "identity"), source=world["rois"]))
    np.testing.assert_array_equal(got, want)
    assert (got != dropped).sum() > 50


def test_affine_composites_stay_matrices(world):
    """A composite of affines (and an .h5 holding one affine without a composite entry) is
    one matrix, composed in ITK's order; the geometry is the subject's own."""
    a, b = affine_ras(), affine_ras(deg=(-5.0, 1.0, 2.0), shift=(-1.0, 0.5, 2.0))
    path = write_composite(world["root"] / "two-affines_xfm.h5", [("affine", a), ("affine", b)])
    t = world["subject"].transform((world["ref"], path))
    assert t.warp is None
    ref_affine = nib.load(str(world["ref"])).affine
    np.testing.assert_allclose(t.coord, np.linalg.solve(ref_affine, a @ b), atol=1e-12)
    single = world["root"] / "single-affine_xfm.h5"
    with h5py.File(single, "w") as f:
        itk_affine_entry(f.create_group("TransformGroup"), "0", a)
    single_map = point_mapping(Registration(single), None, None)  # type: ignore[arg-type]
    np.testing.assert_allclose(single_map, a, atol=1e-12)
    plan = make_plan(world["subject"], t, None, "cortical", source=world["rois"])
    assert plan.surfaces is surfaces_of(world["subject"])


# --- the other direction: a field inverted numerically ---------------------------------


def test_from_t1w_to_template_is_inverted(world):
    """``from-T1w_to-<template>`` maps template points to T1w points: roixr inverts it, the
    affine exactly and the field by fixed-point iteration (residual ≤ INVERSE_TOL)."""
    from nitransforms.manip import TransformChain

    pts = vertices(world["subject"]).astype(np.float64)
    a = affine_ras()
    for fn in ("shift", "wave"):
        queue = [("affine", a), ("field", fn)]  # template → T1w: a(x + d(x))
        path = write_composite(world["root"] / f"inv-{fn}_{BACKWARD}", as_file_queue(queue))
        t = world["subject"].transform((world["ref"], path))
        ours = np.concatenate(
            [surfaces_of(world["subject"], t).white, surfaces_of(world["subject"], t).pial]
        )
        if fn == "shift":  # exactly: inv(a) @ v - s
            want = pts @ np.linalg.inv(a)[:3, :3].T + np.linalg.inv(a)[:3, 3] - SHIFT
            assert np.abs(ours - want).max() < 1e-6
        forward = TransformChain.from_filename(str(path), fmt="itk").map(ours)
        assert np.abs(forward - pts).max() < 1e-4
        assert np.abs(apply(queue, ours, FUNCTIONS) - pts).max() < 1e-4
        # explicit invert=False takes the file as it is
        same = world["subject"].transform((world["ref"], Registration(path, invert=False)))
        fwd = surfaces_of(world["subject"], same).white
        assert np.abs(fwd - apply(queue, pts[: len(fwd)], FUNCTIONS)).max() < 1e-4
    assert INVERSE_TOL <= 1e-6


def test_inversion_refused_where_the_field_folds(world):
    def fold(pts):  # d'(x) = 1.6 at places: x + d(x) is not one to one
        return np.stack([4.0 * np.sin(pts[:, 0] / 2.5), 0 * pts[:, 1], 0 * pts[:, 2]], axis=1)

    deltas = sample(fold, FIELD_AFFINE, FIELD_SHAPE)
    path = write_composite(world["root"] / BACKWARD, [("field", FIELD_AFFINE, deltas)])
    t = world["subject"].transform((world["ref"], path))
    with pytest.raises(RegistrationError, match="inverting its displacement field") as err:
        surfaces_of(world["subject"], t)
    assert f"from-{TEMPLATE}_to-T1w" in err.value.fix
    assert "not found beside it" in err.value.fix


# --- refusals: never half a transform ---------------------------------------------------


def test_unsupported_transforms_are_refused(world):
    root = world["root"]
    bspline = root / "bspline_xfm.h5"
    with h5py.File(bspline, "w") as f:
        g = f.create_group("TransformGroup")
        g.create_group("0")["TransformType"] = itk_type("CompositeTransform_double_3_3")
        itk_affine_entry(g, "1", affine_ras())
        e = g.create_group("2")
        e["TransformType"] = itk_type("BSplineTransform_double_3_3")
        e["TransformParameters"] = np.zeros(30)
        e["TransformFixedParameters"] = np.zeros(18)
    with pytest.raises(RegistrationError, match="BSplineTransform.*never part") as err:
        world["subject"].transform((world["ref"], bspline))
    assert "antsApplyTransforms" in err.value.fix

    fsl_like = root / "fnirt_warp.nii.gz"
    nib.Nifti1Image(np.zeros((5, 5, 5, 3), np.float32), np.eye(4)).to_filename(str(fsl_like))
    with pytest.raises(RegistrationError, match=r"\(5, 5, 5, 3\).*5D") as err:
        world["subject"].transform((world["ref"], fsl_like))
    assert "-to-itk" in err.value.fix

    short = root / "short_xfm.h5"
    with h5py.File(short, "w") as f:
        itk_field_entry(f.create_group("TransformGroup"), "0", FIELD_AFFINE,
                        np.zeros((4, 4, 4, 3)))  # fmt: skip
        f["TransformGroup/0/TransformFixedParameters"][0] = 5.0  # size says 5, data 4
    with pytest.raises(RegistrationError, match="cannot read .* displacement parameters"):
        world["subject"].transform((world["ref"], short))

    for name, content in (("garbage_xfm.h5", b"not hdf5 at all"),
                          ("truncated_xfm.h5", Path(bspline).read_bytes()[:300])):  # fmt: skip
        (root / name).write_bytes(content)
        with pytest.raises(RegistrationError, match="cannot read .* ITK transform file"):
            world["subject"].transform((world["ref"], root / name))

    loose = root / "two-loose_xfm.h5"
    with h5py.File(loose, "w") as f:
        g = f.create_group("TransformGroup")
        itk_affine_entry(g, "0", affine_ras())
        itk_affine_entry(g, "1", affine_ras())
    with pytest.raises(RegistrationError, match="without a composite"):
        world["subject"].transform((world["ref"], loose))


def test_points_outside_the_field_warn(world):
    small_shape = (40, 71, 41)  # covers x in [-58, -19] only: the right hemisphere is out
    small = grid(small_shape, (1.0, 1.0, 1.0), (-58.0, -37.0, -22.0))
    path = write_composite(
        world["root"] / "small_xfm.h5", [("field", small, sample(shift, small, small_shape))]
    )
    t = world["subject"].transform((world["ref"], path))
    with pytest.warns(CoverageWarning, match=r"\d+ of 5412 points lie outside the grid"):
        surfaces_of(world["subject"], t)


# --- pickling, tokens, caches -------------------------------------------------------------


def test_pickle_token_and_cache(world, warped, monkeypatch):
    path, _ = warped["wave"]
    subject = world["subject"]
    t = subject.transform((world["ref"], path))
    blob = pickle.dumps(t)
    assert len(blob) < 20_000 < os.path.getsize(path)  # the field stays in its file
    again = pickle.loads(blob)
    assert dask.base.tokenize(again) == dask.base.tokenize(t)
    fresh = roixr.Subject.from_surfaces(white=world["pairs"]["white"],
                                        pial=world["pairs"]["pial"], name="sub-01")  # fmt: skip
    assert dask.base.tokenize(fresh.transform((world["ref"], path))) == dask.base.tokenize(t)
    other, _ = warped["shift"]
    assert dask.base.tokenize(subject.transform((world["ref"], other))) != dask.base.tokenize(t)

    # the token reads no field data, and is cheap
    def boom(self):
        raise AssertionError("the token read the field")

    monkeypatch.setattr(DisplacementField, "deltas", boom)
    start = time.perf_counter()
    for _ in range(100):
        dask.base.tokenize(pickle.loads(blob))
    assert time.perf_counter() - start < 1.0
    monkeypatch.undo()

    # the geometry cache keys on the warp
    plan = make_plan(subject, t, None, "cortical", source=world["rois"])
    assert plan.surfaces is surfaces_of(subject, t) is surfaces_of(subject, again)
    assert plan.surfaces is not surfaces_of(subject)
    assert surfaces_of(subject, subject.transform((world["ref"], other))) is not plan.surfaces
    np.testing.assert_array_equal(plan.coord, np.linalg.inv(t.affine))
    restored = pickle.loads(pickle.dumps(plan))
    assert restored.surfaces.token == plan.surfaces.token
    np.testing.assert_array_equal(restored.surfaces.white, plan.surfaces.white)
    assert restored.transform.warp.token == t.warp.token
    # the same masks built twice have the same graph
    a = roixr.roi_masks(subject, (world["ref"], path), source=world["rois"])
    b = roixr.roi_masks(fresh, (world["ref"], path), source=world["rois"])
    assert a.data.name == b.data.name


def test_changed_field_file_is_refused(world, tmp_path):
    queue = as_file_queue([("field", "shift")])
    path = write_composite(tmp_path / FORWARD, queue)
    mapping = point_mapping(Registration(path), None, None)  # type: ignore[arg-type]
    token = mapping.token
    time.sleep(0.01)
    write_composite(path, as_file_queue([("field", "wave")]))
    again = point_mapping(Registration(path), None, None)  # type: ignore[arg-type]
    assert again.token != token
    with pytest.raises(RegistrationError, match="changed since it was read"):
        mapping.map(np.zeros((1, 3)))


def test_drop_in_and_processes_through_a_warp(synth_dir, world, warped):
    """get_roi_masks (numpy, whole grid) equals roi_masks (dask) through a warp, and the
    graph runs in worker processes (everything pickled)."""
    path, _ = warped["wave"]
    pair = (world["ref"], path)
    for sampler in ("cortical", "cortical-conservative"):
        kw = {"threshold": 0.2} if sampler == "cortical-conservative" else {}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dropin = roixr.get_roi_masks(synth_dir, pair, ["V1", "A"], gm_sampler=sampler, **kw)
        masks = roixr.roi_masks(synth_dir, pair, ["V1", "A"], sampler=sampler, **kw)
        for name in ("V1", "A"):
            got = compute(masks.sel(roi=name).any("hemisphere"))
            np.testing.assert_array_equal(dropin[name], got.transpose(2, 1, 0))
            assert got.sum() > 10
    masks = roixr.roi_masks(synth_dir, pair, ["V1", "A"])
    with dask.config.set(scheduler="processes", num_workers=2):
        np.testing.assert_array_equal(masks.values, compute(masks))


def test_fmriprep_fixture_warps_both_directions(tmp_path):
    """The derivatives fixture's template warps (written by another writer,
    ``roixr.datasets.fmriprep.write_itk_composite_warp``) map T1w vertices to the template
    as its analytic truth says: ``from-<template>_to-T1w`` as it is, ``from-T1w_to-<template>``
    inverted numerically."""
    fx = pytest.importorskip("roixr.datasets.fmriprep")
    truth = pytest.importorskip("roixr.datasets.fmriprep_truth")
    root = fx.fmriprep_like(tmp_path / "fmriprep", subjects=("01",), sessions=None,
                            tasks=("rest",), spaces=(TEMPLATE,), freesurfer=False)  # fmt: skip
    anat = root / "sub-01" / "anat"
    pts = np.vstack([truth.GEOMETRY.pial(h) for h in ("lh", "rh")])
    for name in (FORWARD, BACKWARD):
        mapping = point_mapping(Registration(anat / name), None, None)  # type: ignore[arg-type]
        assert isinstance(mapping, PointMap) and mapping.nonlinear
        assert np.abs(mapping.map(pts) - truth.to_template(pts)).max() < 1e-4, name
