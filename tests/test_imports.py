"""What ``import roixr`` costs: public names load on first use; the drop-in stays numpy-only;
``import roixr`` installs no import hook; the ``.roixr`` accessor is registered plainly; the
type stub lists every public name, each the very object roixr resolves it to."""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import roixr
from roixr.datasets import GEOMETRY

HEAVY = ("xarray", "dask", "pandas", "zarr", "distributed")


def run(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_is_lazy():
    """``import roixr`` imports none of the heavy libraries and binds only ``errors`` and
    ``__version__``: every other public name waits for its first use."""
    got = run(
        "import json, sys; import roixr; "
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]; "
        "bound = sorted(n for n in roixr.__all__ if n in vars(roixr)); "
        "print(json.dumps({'heavy': heavy, 'bound': bound}))"
    )
    assert got == {"heavy": [], "bound": ["__version__", "errors"]}


def test_drop_in_imports_neither_xarray_nor_dask(synth_dir):
    got = run(
        "import json, sys, warnings; warnings.simplefilter('ignore'); import roixr; "
        f"before = [m for m in {HEAVY!r} if m in sys.modules]; "
        f"masks = roixr.get_roi_masks({str(synth_dir)!r}, 'fullhead'); "
        f"after = [m for m in {HEAVY!r} if m in sys.modules]; "
        "types = sorted({type(m).__module__ + '.' + type(m).__name__ for m in masks.values()}); "
        "print(json.dumps({'before': before, 'after': after, 'rois': list(masks), "
        "'types': types}))"
    )
    assert got == {
        "before": [],
        "after": [],
        "rois": [roi.name for roi in GEOMETRY.rois],  # every ROI of the subject, in order
        "types": ["numpy.ndarray"],
    }


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


def stub_imports() -> dict[str, tuple[str, str]]:
    """The names ``roixr/__init__.pyi`` binds, each with the module and name it imports:
    ``from roixr.rois import roi_verts as roi_verts`` gives ``roi_verts: (roixr.rois,
    roi_verts)``."""
    stub = Path(roixr.__file__).with_suffix(".pyi")
    tree = ast.parse(stub.read_text())
    return {
        alias.asname or alias.name: (node.module or "", alias.name)
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }


def test_stub_lists_every_public_name():
    """``roixr/__init__.pyi`` (what type checkers and editors read) names all of
    ``roixr.__all__``, and nothing that is not public."""
    assert set(stub_imports()) == set(roixr.__all__)


@pytest.mark.parametrize("name", sorted(stub_imports()))
def test_public_name_is_the_stubs_object(name):
    """Each public name resolves, on first use, to the very object the stub imports (so the
    lazy table and the stub name the same modules); ``from roixr import x`` is the
    submodule ``roixr.x``."""
    module, attr = stub_imports()[name]
    if module == "roixr":
        expected = importlib.import_module(f"roixr.{attr}")
    else:
        expected = getattr(importlib.import_module(module), attr)
    assert getattr(roixr, name) is expected


def test_dir_and_unknown_names():
    assert set(roixr.__all__) <= set(dir(roixr))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        roixr.nope  # noqa: B018
