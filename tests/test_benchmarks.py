"""Every asv benchmark runs once, so the suites never rot (timings are not asserted)."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "asv_bench"
sys.path.insert(0, str(BENCH))

MODULES = sorted(p.stem for p in (BENCH / "benchmarks").glob("*.py") if p.stem != "__init__")


def cases():
    for mod_name in MODULES:
        mod = importlib.import_module(f"benchmarks.{mod_name}")
        for cls_name, cls in inspect.getmembers(mod, inspect.isclass):
            if cls.__module__ != mod.__name__:
                continue
            for name in dir(cls):
                if name.startswith(("time_", "timeraw_", "peakmem_", "mem_", "track_")):
                    yield pytest.param(cls, name, id=f"{mod_name}.{cls_name}.{name}")


@pytest.mark.filterwarnings("ignore::roixr.errors.EmptyRoiWarning")
@pytest.mark.parametrize(("cls", "name"), list(cases()))
def test_benchmark_runs(cls, name):
    bench = cls()
    params = getattr(cls, "params", None)
    args = [p[0] for p in params] if params and isinstance(params[0], list) else (
        [params[0]] if params else [])  # fmt: skip
    if hasattr(bench, "setup"):
        bench.setup(*args)
    try:
        result = getattr(bench, name)(*args)
        if name.startswith("timeraw_"):  # asv runs the returned code in a fresh process
            subprocess.run([sys.executable, "-c", result], check=True)
    finally:
        if hasattr(bench, "teardown"):
            bench.teardown(*args)


def run_script(name: str, *args: str) -> str:
    out = subprocess.run([sys.executable, str(BENCH / name), *args],
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


def table_rows(text: str) -> list[list[str]]:
    lines = [line for line in text.splitlines() if line.startswith("| ") and "---" not in line]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines[1:]]


def test_compare_timeseries_script(tmp_path):
    """The nilearn comparison runs on a short series, and both tools agree."""
    text = run_script("compare_timeseries.py", "--volumes", "12", "--repeat", "1", "--warm",
                      "--tmp", str(tmp_path))  # fmt: skip
    first, warm = text.split("A second call")
    rows = table_rows(first)
    assert [r[0] for r in rows] == ["`.nii`", "`.nii.gz` (nilearn: zlib)"]
    assert [r[0] for r in table_rows(warm)] == [r[0] for r in rows]
    assert all(r[1] == "12" and r[4].endswith("×") for r in rows)
    worst = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if "largest" in line]
    assert len(worst) == 2 and max(worst) <= 1e-5, worst


def test_compare_gzip_decoders_script(tmp_path):
    data = np.random.default_rng(0).standard_normal((20, 20, 10, 30)).astype(np.float32)
    nib.save(nib.Nifti1Image(data, np.eye(4)), tmp_path / "b.nii.gz")
    text = run_script("compare_gzip_decoders.py", "--file", str(tmp_path / "b.nii.gz"),
                      "--repeat", "1", "--threads", "2")  # fmt: skip
    labels = [r[0] for r in table_rows(text)]
    assert labels[:4] == ["zlib (CPython gzip)", "python-isal", "rapidgzip, 1 thread",
                          "rapidgzip, 2 threads"]  # fmt: skip


def test_compare_cohort_scale_script(tmp_path):
    """The cohort-store scale comparison runs on a tiny cohort, the working tree on both
    sides (``--old-tree``), and its table has every measure for both layouts."""
    root = str(Path(__file__).resolve().parents[1])
    text = run_script("compare_cohort_scale.py", "--sizes", "3", "--repeat", "1", "--no-s3",
                      "--old-tree", root, "--tmp", str(tmp_path))  # fmt: skip
    rows = {r[0]: r[1:] for r in table_rows(text)}
    assert rows["objects in the store (per subject)"][0] == rows[
        "objects in the store (per subject)"][1]  # fmt: skip
    for label in ("`write_cohort` wall", "`open_cohort(store)`, call",
                  "`cohort_status(store)`, whole process", "client peak RSS",
                  "scheduler peak RSS"):  # fmt: skip
        old, new, ratio = rows[label]
        assert old.endswith(("s", "MB")) and new.endswith(("s", "MB")), rows[label]
        assert ratio.endswith("×"), rows[label]
    assert "load average" in text.splitlines()[0] and "end:" in text
