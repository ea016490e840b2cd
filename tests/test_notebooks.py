"""Every notebook in ``notebooks/`` is stored with its outputs and executes cleanly here,
from a scratch folder, so the notebooks never rot. New notebooks are picked up by name."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))
CELL_TIMEOUT = 180  # seconds per cell
NOTEBOOK_BUDGET = 120  # seconds per notebook: keep them quick


def test_notebooks_exist():
    expected = ["quickstart", "cohort", "freesurfer_sources", "ribbon_accuracy"]
    assert {p.stem for p in NOTEBOOKS} >= set(expected)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_stored_with_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    cells = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.execution_count for c in cells] == list(range(1, len(cells) + 1)), (
        f"{path.name} is not stored executed top to bottom: run it and save its outputs"
    )
    assert not [o for c in cells for o in c.outputs if o.output_type == "error"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path, tmp_path):
    copy = tmp_path / path.name
    shutil.copy(path, copy)
    nb = nbformat.read(copy, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=CELL_TIMEOUT, kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )  # fmt: skip
    start = time.monotonic()
    client.execute()  # raises CellExecutionError, naming the cell, on any error
    took = time.monotonic() - start
    assert took < NOTEBOOK_BUDGET, f"{path.name} took {took:.0f} s; keep notebooks quick"
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    stored = nbformat.read(path, as_version=4)
    images = sum("image/png" in o.get("data", {}) for o in outputs)
    stored_images = sum(
        "image/png" in o.get("data", {})
        for c in stored.cells if c.cell_type == "code" for o in c.outputs
    )  # fmt: skip
    assert images == stored_images  # the same pictures as the stored outputs
