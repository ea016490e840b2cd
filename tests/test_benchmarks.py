"""Every asv benchmark runs once, so the suites never rot (timings are not asserted)."""

from __future__ import annotations

import importlib
import inspect
import subprocess
import sys
from pathlib import Path

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
