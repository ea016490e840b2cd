"""The command line never prints a traceback for a user error, speaks in flags, and checks
every output name before computing (issue 10)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

import roixr
from roixr.cli import ADVICE, in_flags, main
from roixr.errors import OptionError, StoreExistsError

pytestmark = pytest.mark.filterwarnings("ignore::roixr.errors.EmptyRoiWarning")


def run(capsys, *args) -> tuple[int, str]:
    code = main(["-q", *map(str, args)])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def test_messages_speak_in_flags():
    """An error names the argument its fix is about; the command line gives its own advice."""
    err = StoreExistsError("s.zarr exists.", fix="Pass mode='w' to replace it.", option="mode")
    assert str(err) == "s.zarr exists. Pass mode='w' to replace it."
    assert in_flags(err) == f"s.zarr exists. {ADVICE['mode']}" and "--overwrite" in in_flags(err)
    assert in_flags(OptionError("bad value")) == "bad value"  # no option: printed as it is
    unknown = OptionError("x.", fix="Pass y=1.", option="no-such-option")
    assert in_flags(unknown) == "x. Pass y=1."
    sampler = OptionError("unknown sampler 'z'.", fix="Use ...", option="sampler")
    assert "--sampler one of cortical" in in_flags(sampler) and "{" not in in_flags(sampler)


def _options_in_errors() -> set[str]:
    """Every ``option=`` a roixr error is raised with, read from roixr's source."""
    found = set()
    for file in Path(roixr.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.Call):
                for kw in node.keywords:
                    if kw.arg == "option" and isinstance(kw.value, ast.Constant):
                        found.add(kw.value.value)
    return found


def test_every_option_an_error_names_has_cli_advice():
    options = _options_in_errors()
    assert {"mode", "fail_for_missing_rois", "redo", "store"} <= options
    assert options <= set(ADVICE), f"no command-line advice for {options - set(ADVICE)}"
    for option, advice in ADVICE.items():
        assert "=" not in advice and "roixr." not in advice, option  # flags, not Python


def test_outputs_checked_before_computing(capsys, synth_dir, tmp_path):
    store = tmp_path / "m.zarr"
    code, err = run(capsys, "masks", synth_dir, "fullhead", "--out", store, "--nifti", "x.png")
    assert code == 1 and "--nifti x.png: the name must end in .nii or .nii.gz" in err
    assert not store.exists()  # nothing was written
    code, err = run(capsys, "masks", synth_dir, "fullhead", "--out", tmp_path / "no" / "m.zarr")
    assert code == 1 and "--out" in err and "does not exist; create it first" in err
    assert not (tmp_path / "no").exists()
    store.mkdir()
    code, err = run(capsys, "masks", synth_dir, "fullhead", "--out", store)
    assert code == 3 and "pass --overwrite" in err and "mode=" not in err


def test_bad_flag_values(capsys, synth_dir, tmp_path):
    for bad in ("0", "-3", "abc"):
        with pytest.raises(SystemExit) as info:
            main(["masks", str(synth_dir), "fullhead", "--out", "x.zarr", "--chunks", bad])
        assert info.value.code == 2
        assert "--chunks: must be a positive whole number" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["masks", str(synth_dir), "fullhead", "--out", "x.zarr", "--threshold", "abc"])
    assert "--threshold: must be a number in [0, 1]" in capsys.readouterr().err


def test_missing_rois_advice_in_flags(capsys, synth_dir, tmp_path):
    code, err = run(capsys, "masks", synth_dir, "fullhead", "--rois", "nope",
                    "--out", tmp_path / "m.zarr")  # fmt: skip
    assert code == 1 and "fail_for_missing_rois" not in err
    code, _ = run(capsys, "masks", synth_dir, "fullhead", "--rois", "V1", "nope",
                  "--skip-missing-rois", "--out", tmp_path / "m.zarr")  # fmt: skip
    assert code == 0


def test_cohort_list_errors(capsys, tmp_path):
    code, err = run(capsys, "cohort", tmp_path / "missing.txt", "--out", tmp_path / "c.zarr")
    assert code == 1 and "missing.txt does not exist" in err
    code, err = run(capsys, "cohort", tmp_path, "--out", tmp_path / "c.zarr")
    assert code == 1 and "is a folder" in err
    (tmp_path / "l.txt").write_text("a b c\n")
    code, err = run(capsys, "cohort", tmp_path / "l.txt", "--out", tmp_path / "c.zarr",
                    "--scheduler", "tcp://127.0.0.1:9")  # fmt: skip
    assert code == 1 and "--scheduler tcp://127.0.0.1:9: cannot reach" in err


def test_status_command(capsys, synth_dir, tmp_path):
    store = tmp_path / "m.zarr"
    assert main(["-q", "masks", str(synth_dir), "fullhead", "--rois", "V1", "--out",
                 str(store)]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["status", str(store)]) == 0
    out = capsys.readouterr().out
    assert "roi_masks store" in out and "sampler: cortical" in out
    code, err = run(capsys, "status", tmp_path)
    assert code == 1 and "not a zarr store" in err


def test_timeseries_command(capsys, synth_dir, tmp_path):
    store, table = tmp_path / "m.zarr", tmp_path / "ts.csv"
    assert main(["-q", "masks", str(synth_dir), "fullhead", "--rois", "V1", "CUT", "--out",
                 str(store)]) == 0  # fmt: skip
    t = roixr.Subject(synth_dir).transform("fullhead")
    data = np.random.default_rng(0).random((*t.shape, 5)).astype("f4")
    nib.save(nib.Nifti1Image(data, t.affine), tmp_path / "b.nii.gz")
    assert main(["-q", "timeseries", str(tmp_path / "b.nii.gz"), str(store), "--out",
                 str(table)]) == 0  # fmt: skip
    frame = pd.read_csv(table, index_col="time")
    assert list(frame.columns) == ["V1_L", "V1_R", "CUT_L", "CUT_R"] and len(frame) == 5
    expected = roixr.roi_timeseries(roixr.open_nifti(tmp_path / "b.nii.gz"), store).compute()
    np.testing.assert_allclose(frame["V1_L"], expected.sel(roi="V1", hemisphere="L"), rtol=1e-5)
    code, err = run(capsys, "timeseries", tmp_path / "b.nii.gz", store, "--out", table)
    assert code == 3 and "--overwrite" in err
    code, err = run(capsys, "timeseries", tmp_path / "b.nii.gz", store, "--out", "t.xlsx")
    assert code == 1 and ".csv or .tsv" in err
    both = tmp_path / "both.tsv"
    assert main(["-q", "timeseries", str(tmp_path / "b.nii.gz"), str(store), "--out", str(both),
                 "--stat", "maximum", "--both-hemispheres"]) == 0  # fmt: skip
    frame = pd.read_csv(both, sep="\t", index_col="time")
    assert list(frame.columns) == ["V1", "CUT"]
    expected = roixr.roi_timeseries(tmp_path / "b.nii.gz", store, "maximum", hemisphere="both")
    np.testing.assert_allclose(frame["CUT"], expected.sel(roi="CUT").values, rtol=1e-5)


def test_no_traceback_in_a_subprocess(tmp_path):
    cmd = [sys.executable, "-m", "roixr", "cohort", str(tmp_path), "--out", str(tmp_path / "c")]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert out.stderr.startswith("roixr: error:")


def test_timeseries_stat_flags_follow_the_api():
    """The CLI's --stat choices are exactly roi_timeseries's statistics."""
    from roixr.cli import STAT_NAMES
    from roixr.timeseries.reduction import STATS

    assert set(STAT_NAMES) == set(STATS)
