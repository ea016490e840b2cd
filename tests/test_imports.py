"""What ``import roixr`` costs: public names load on first use; the drop-in stays numpy-only;
the ``.roi`` accessor is there as soon as xarray is, whichever is imported first."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import roixr

HEAVY = ("xarray", "dask", "pandas", "zarr", "distributed")


def run(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_drop_in_imports_neither_xarray_nor_dask(synth_dir):
    got = run(
        "import json, sys, warnings; warnings.simplefilter('ignore'); import roixr; "
        f"before = [m for m in {HEAVY!r} if m in sys.modules]; "
        f"masks = roixr.get_roi_masks({str(synth_dir)!r}, 'fullhead'); "
        f"after = [m for m in {HEAVY!r} if m in sys.modules]; "
        "print(json.dumps({'before': before, 'after': after, 'n': len(masks)}))"
    )
    assert got == {"before": [], "after": [], "n": got["n"]}
    assert got["n"] > 0


@pytest.mark.parametrize("order", ["roixr first", "xarray first"])
def test_accessor_registered_whichever_comes_first(order):
    first, second = ("roixr", "xarray") if order == "roixr first" else ("xarray", "roixr")
    got = run(
        f"import json, importlib.resources; import {first}; import {second}; "
        "import xarray as xr; "
        "da = xr.DataArray([True], dims='roi', coords={'roi': ['V1']}); "
        "print(json.dumps({'accessor': type(da.roi).__name__, 'values': da.roi.values.tolist(), "
        "'resources': importlib.resources.files('xarray').is_dir()}))"
    )
    assert got == {"accessor": "RoiAccessor", "values": ["V1"], "resources": True}


def test_public_names_resolve():
    for name in roixr.__all__:
        assert getattr(roixr, name) is not None, name
    assert set(roixr.__all__) <= set(dir(roixr))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        roixr.nope  # noqa: B018
