"""The command line: demo, masks, cohort, verts, and exit codes."""

from __future__ import annotations

import subprocess
import sys

import pytest
import xarray as xr

import roixr
from roixr.cli import main

pytestmark = pytest.mark.filterwarnings("ignore::roixr.errors.EmptyRoiWarning")


def test_demo_in_a_subprocess(tmp_path):
    cmd = [sys.executable, "-m", "roixr", "demo", "--out", str(tmp_path / "d.zarr")]
    out = subprocess.run(cmd,
                         capture_output=True, text=True, check=True, timeout=300)  # fmt: skip
    assert "CURVY" in out.stdout and "% in FOV" in out.stdout
    assert roixr.open_roi_masks(tmp_path / "d.zarr").sizes["roi"] == 6
    assert "Warning" not in out.stderr


def test_masks_command(synth_dir, tmp_path, capsys):
    store, nii = tmp_path / "m.zarr", tmp_path / "m.nii.gz"
    args = [
        "-q",
        "masks",
        str(synth_dir),
        "oblique",
        "--rois",
        "V1",
        "CUT",
        "--sampler",
        "cortical-liberal",
        "--threshold",
        "0.2",
        "--out",
        str(store),
        "--nifti",
        str(nii),
    ]
    assert main(args) == 0
    assert "V1" in capsys.readouterr().out
    expected = roixr.roi_masks(synth_dir, "oblique", ["V1", "CUT"], "cortical-liberal",
                               threshold=0.2)  # fmt: skip
    xr.testing.assert_identical(roixr.open_roi_masks(store).compute(), expected.compute())
    assert nii.exists()
    assert main(args) == 3  # outputs exist
    assert "already exists" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0


def test_cohort_command(synth_dir, tmp_path, capsys):
    listing = tmp_path / "subjects.txt"
    listing.write_text(f"# name subject xfm\na {synth_dir} fullhead\nb, {synth_dir}, oblique\n")
    store = tmp_path / "c.zarr"
    assert main(["-q", "cohort", str(listing), "--out", str(store), "--sampler", "thin"]) == 0
    assert "2 subject(s) written" in capsys.readouterr().out
    assert set(roixr.open_cohort(store).children) == {"a", "b"}
    listing.write_text(f"a {synth_dir} fullhead\nc {synth_dir} nope\n")
    assert main(["-q", "cohort", str(listing), "--out", str(store), "--sampler", "thin"]) == 4
    assert "no transform 'nope'" in capsys.readouterr().err
    listing.write_text("a b\n")
    assert main(["cohort", str(listing), "--out", str(store)]) == 1


def test_verts_and_bad_input(synth_dir, capsys):
    assert main(["verts", str(synth_dir), "--rois", "V1", "CUT"]) == 0
    out = capsys.readouterr().out
    assert "V1" in out and "CUT" in out and "CURVY" not in out
    assert main(["verts", str(synth_dir), "--rois", "nope"]) == 1
    assert "not found" in capsys.readouterr().err
    assert main(["masks", str(synth_dir), "fullhead", "--out", "x.zarr", "--sampler", "x"]) == 1
    with pytest.raises(SystemExit) as info:
        main(["masks"])
    assert info.value.code == 2
