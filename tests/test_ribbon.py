"""The ``ribbon`` sampler end to end: exact partial volumes on the analytic phantom (three
grids), against Workbench in the same run, on S1 against the meshes' own volumes, chunk
invariance and laziness. The kernel alone is tested in test_ribbon_kernel.py."""

from __future__ import annotations

import shutil
import subprocess
import warnings

import nibabel as nib
import numpy as np
import pytest
from fs_fixtures import disjoint, hemisphere_verts
from helpers import raise_if_dask_computes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import chunkings

import roixr
from roixr.datasets import phantom as ph

ROIS = ["front", "top", "side"]


@pytest.fixture(scope="module")
def phantom(tmp_path_factory):
    return ph.phantom_subject(tmp_path_factory.mktemp("phantom"), level=6), ph.phantom_source(6)


def band_errors(got, truth):
    """RMS over the voxels either side calls ribbon, and the largest error anywhere."""
    band = (got != 0) | (truth != 0)
    err = got - truth
    return float(np.sqrt(np.mean(err[band] ** 2))), float(np.abs(err).max())


@pytest.mark.parametrize("grid", ["1mm", "2mm_oblique", "2x2x3"])
def test_phantom_accuracy(phantom, grid):
    subject, source = phantom
    affine, shape = ph.phantom_grids()[grid]
    truth = ph.phantom_truth(affine, shape)
    cortex = roixr.roi_masks(subject, grid, ["Cortex"], "ribbon", source=source)
    assert cortex.dtype == np.float32
    ribbon = cortex.sum(["roi", "hemisphere"]).values.astype(float)
    rms, worst = band_errors(ribbon, truth["ribbon"])
    assert rms <= 0.005 and worst <= 0.05, (rms, worst)
    assert abs(ribbon.sum() / truth["ribbon"].sum() - 1) <= 0.005
    for hemi, side in (("lh", "L"), ("rh", "R")):  # hemispheres kept apart
        got = cortex.sel(roi="Cortex", hemisphere=side).values
        assert band_errors(got, truth["hemi"][hemi])[0] <= 0.005
    masks = roixr.roi_masks(subject, grid, ROIS, "ribbon", source=source, allow_overlap=True)
    for roi in ROIS:
        got = masks.sel(roi=roi).sum("hemisphere").values.astype(float)
        err = got - truth["rois"][roi]
        away = ~truth["edge"][roi] & ((got != 0) | (truth["rois"][roi] != 0))
        assert np.sqrt(np.mean(err[away] ** 2)) <= 0.01, roi
        assert np.abs(err[away]).max() <= 0.05, roi


def test_rois_plus_cortex_is_the_ribbon(phantom):
    subject, source = phantom
    top = source["top"]  # two ROIs that share no vertex: "side" less "top"
    side = {h: np.setdiff1d(source["side"][h], top[h]) for h in "LR"}
    disjoint = {"top": top, "side": side}
    both = roixr.roi_masks(subject, "2x2x3", ["top", "side", "Cortex"], "ribbon", source=disjoint)
    alone = roixr.roi_masks(subject, "2x2x3", ["Cortex"], "ribbon", source=disjoint)
    np.testing.assert_allclose(both.sum("roi").values, alone.sum("roi").values, atol=1e-6)
    assert float(both.sel(roi="top").sum()) > 0 and float(both.sel(roi="side").sum()) > 0


def test_threshold_and_drop_in(phantom, synth_dir):
    subject, source = phantom
    frac = roixr.roi_masks(subject, "2x2x3", ["top", "Cortex"], "ribbon", source=source)
    boolean = roixr.roi_masks(subject, "2x2x3", ["top", "Cortex"], "ribbon", source=source,
                              threshold=0.5)  # fmt: skip
    assert boolean.dtype == bool
    np.testing.assert_array_equal(boolean.values, frac.values > 0.5)
    lazy = roixr.roi_masks(synth_dir, "oblique", ["V1", "CUT", "Cortex"], "ribbon")
    eager = roixr.get_roi_masks(synth_dir, "oblique", ["V1", "CUT", "Cortex"], "ribbon")
    for name in ("V1", "CUT", "Cortex"):  # the drop-in sums the hemispheres, (z, y, x)
        expected = lazy.sel(roi=name).sum("hemisphere").values.astype(float).T
        np.testing.assert_allclose(eager[name], expected, atol=1e-6)
    split = roixr.get_roi_masks(synth_dir, "oblique", ["V1"], "ribbon", split_lr=True)
    for side in "LR":
        expected = lazy.sel(roi="V1", hemisphere=side).values.astype(float).T
        np.testing.assert_allclose(split[f"V1_{side}"], expected, atol=1e-6)


def mesh_volume(points: np.ndarray, triangles: np.ndarray) -> float:
    """The volume a closed triangle mesh encloses (divergence theorem)."""
    a, b, c = (points[triangles[:, i]].astype(float) for i in range(3))
    return abs(float(np.einsum("ij,ij->", a, np.cross(b, c)))) / 6


def test_s1_volumes_and_bounds(s1_clean):
    """S1's 1 mm anatomical grid: the ribbon's volume in the masks equals the volume
    between the closed pial and white meshes (within 0.5% per hemisphere); every fraction
    is in [0, 1]; ROIs and Cortex never sum past 1 in a voxel."""
    subject = roixr.Subject(s1_clean)
    cortex = roixr.roi_masks(subject, "identity", ["Cortex"], "ribbon", source={})
    voxel_mm3 = abs(np.linalg.det(np.asarray(cortex.attrs["affine"])[:3, :3]))
    values = cortex.values
    assert values.min() >= 0 and values.max() <= 1
    for hemi, side in (("lh", "L"), ("rh", "R")):
        white, pial = subject.surface("white", hemi), subject.surface("pial", hemi)
        expected = mesh_volume(pial.points, pial.polys) - mesh_volume(white.points, white.polys)
        got = float(values[0, "LR".index(side)].sum(dtype=np.float64)) * voxel_mm3
        assert got == pytest.approx(expected, rel=0.005), hemi
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        verts = roixr.roi_verts(subject)
    n_lh = subject.n_vertices("lh")
    rois = disjoint(hemisphere_verts(verts, n_lh))  # S1's layers share some vertices
    source = {k: {"L": v["lh"], "R": v["rh"]} for k, v in rois.items()}
    assert len(source) >= 20
    every = roixr.roi_masks(subject, "fullhead", [*source, "Cortex"], "ribbon", source=source,
                            allow_overlap=True).values  # fmt: skip
    assert every.min() >= 0 and every.max() <= 1
    assert every.sum(axis=0).max() <= 1 + 1e-5
    # the drop-in, where voxels near the midline hold both hemispheres' ribbon
    cortex = roixr.roi_masks(subject, "fullhead", ["Cortex"], "ribbon", source={}).values[0]
    assert ((cortex[0] > 0) & (cortex[1] > 0)).any()
    eager = roixr.get_roi_masks(subject, "fullhead", ["Cortex"], "ribbon")["Cortex"]
    lazy = roixr.roi_masks(subject, "fullhead", ["Cortex"], "ribbon").values[0]
    np.testing.assert_allclose(eager, lazy.sum(axis=0).T, atol=1e-6)


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_chunk_invariance_and_laziness(synth_dir, data):
    shape = roixr.Subject(synth_dir).transform("oblique").shape
    chunks = data.draw(chunkings(shape))
    with raise_if_dask_computes():
        lazy = roixr.roi_masks(synth_dir, "oblique", ["V1", "CUT", "Cortex"], "ribbon",
                               chunks=chunks)  # fmt: skip
    whole = roixr.roi_masks(synth_dir, "oblique", ["V1", "CUT", "Cortex"], "ribbon", chunks=-1)
    np.testing.assert_allclose(lazy.values, whole.values, atol=1e-6)


@pytest.mark.skipif(shutil.which("wb_command") is None, reason="needs wb_command")
def test_more_accurate_than_workbench(tmp_path):
    """In the same run, on one hemisphere of a level-5 phantom and the 2×2×3 mm grid:
    roixr's whole-ribbon RMS error is below Workbench's at -voxel-subdiv 3 and 5."""
    affine, shape = ph.phantom_grids()["2x2x3"]
    white, pial, tris = ph.phantom_meshes(5)["rh"]
    truth = ph.phantom_truth(affine, shape, rois=False)["hemi"]["rh"]
    meshes = {"white": white, "pial": pial, "mid": (white + pial) / 2}
    for name, pts in meshes.items():
        arrays = [
            nib.gifti.GiftiDataArray(pts.astype(np.float32), intent="NIFTI_INTENT_POINTSET"),
            nib.gifti.GiftiDataArray(tris.astype(np.int32), intent="NIFTI_INTENT_TRIANGLE"),
        ]
        nib.save(nib.gifti.GiftiImage(darrays=arrays), str(tmp_path / f"{name}.surf.gii"))
    ones = nib.gifti.GiftiDataArray(np.ones(len(white), np.float32))
    nib.save(nib.gifti.GiftiImage(darrays=[ones]), str(tmp_path / "ones.func.gii"))
    space = nib.Nifti1Image(np.zeros(shape, np.float32), affine)
    space.set_qform(affine, code=1)
    nib.save(space, str(tmp_path / "space.nii.gz"))
    rms = {}
    for subdiv in (3, 5):
        out = tmp_path / f"wb{subdiv}.nii.gz"
        subprocess.run(["wb_command", "-metric-to-volume-mapping", str(tmp_path / "ones.func.gii"),
                        str(tmp_path / "mid.surf.gii"), str(tmp_path / "space.nii.gz"), str(out),
                        "-ribbon-constrained", str(tmp_path / "white.surf.gii"),
                        str(tmp_path / "pial.surf.gii"), "-voxel-subdiv", str(subdiv)],
                       check=True, capture_output=True, timeout=600)  # fmt: skip
        wb = np.asarray(nib.load(str(out)).dataobj, dtype=float).reshape(shape)
        rms[f"wb{subdiv}"] = band_errors(wb, truth)[0]
    source = {"rh": {"R": np.arange(len(white))}}
    subject = roixr.Subject.from_surfaces(
        white=(tmp_path / "white.surf.gii", tmp_path / "white.surf.gii"),
        pial=(tmp_path / "pial.surf.gii", tmp_path / "pial.surf.gii"),
    )
    masks = roixr.roi_masks(subject, (tmp_path / "space.nii.gz", "identity"), ["rh"], "ribbon",
                            source=source)  # fmt: skip
    rms["roixr"] = band_errors(masks.sel(roi="rh", hemisphere="R").values.astype(float), truth)[0]
    assert rms["roixr"] < rms["wb3"] and rms["roixr"] < rms["wb5"], rms
    assert rms["roixr"] <= 0.005, rms
