"""What ``import roixr`` costs: public names load on first use; the drop-in stays numpy-only;
``import roixr`` installs no import hook; the ``.roixr`` accessor is registered plainly; the
type stub lists every public name."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

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


def test_import_installs_no_hook():
    got = run(
        "import json, sys; hooks = list(map(repr, sys.meta_path)); import roixr; "
        "print(json.dumps({'added': [repr(h) for h in sys.meta_path if repr(h) not in hooks]}))"
    )
    assert got == {"added": []}


@pytest.mark.parametrize(
    "code",
    [
        "import xarray as xr; import roixr",  # registered by import roixr
        "import roixr; import xarray as xr; roixr.roi_masks",  # by the xarray layer
        "import roixr.accessor; import xarray as xr",  # explicitly
    ],
)
def test_accessor_registered_plainly(code):
    got = run(
        f"import json; {code}; "
        "da = xr.DataArray([True], dims='roi', coords={'roi': ['V1']}); "
        "print(json.dumps({'accessor': type(da.roixr).__name__, 'roi': type(da.roi).__name__, "
        "'values': da.roi.values.tolist()}))"
    )
    assert got == {"accessor": "RoixrAccessor", "roi": "DataArray", "values": ["V1"]}


def test_stub_lists_every_public_name():
    """``roixr/__init__.pyi`` (what type checkers and editors read) names all of
    ``roixr.__all__``, and nothing that is not public."""
    stub = Path(roixr.__file__).with_suffix(".pyi")
    tree = ast.parse(stub.read_text())
    names = {
        alias.asname or alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert names == set(roixr.__all__)


def test_public_names_resolve():
    for name in roixr.__all__:
        assert getattr(roixr, name) is not None, name
    assert set(roixr.__all__) <= set(dir(roixr))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        roixr.nope  # noqa: B018
