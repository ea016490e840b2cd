"""The documentation site builds with Sphinx, warnings as errors, nothing downloaded, the
notebooks rendered from their stored outputs (never re-executed by the build)."""

from __future__ import annotations

import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("sphinx")
pytest.importorskip("numpydoc")
pytest.importorskip("myst_nb")
pytest.importorskip("pydata_sphinx_theme")

DOCS = Path(__file__).parents[1] / "docs"


def test_conf_downloads_nothing_and_does_not_execute():
    conf = runpy.run_path(str(DOCS / "conf.py"))
    assert not [e for e in conf["extensions"] if "intersphinx" in e or "linkcheck" in e]
    assert conf["nb_execution_mode"] == "off"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("docs") / "html"
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
           str(DOCS), str(out)]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"sphinx-build failed:\n{done.stdout}\n{done.stderr}"
    return out


def test_site_pages(site):
    for page in ("index", "api", "pictures", "forms", "stores", "timeseries", "deviations",
                 "benchmarks", "notebooks/quickstart", "notebooks/cohort",
                 "notebooks/freesurfer_sources", "notebooks/ribbon_accuracy"):  # fmt: skip
        assert (site / f"{page}.html").is_file(), page


def test_api_reference_from_docstrings(site):
    api = (site / "api.html").read_text()
    for name in ("roixr.roi_masks", "roixr.get_roi_masks", "roixr.open_cohort",
                 "roixr.roi_timeseries", "roixr.plot.plot_masks", "roixr.report.report_store",
                 "roixr.accessor.RoixrAccessor.plot"):  # fmt: skip
        assert f'id="{name}"' in api, name
    assert "Parameters" in api and "Returns" in api  # numpydoc sections rendered


def test_notebooks_rendered_with_their_outputs(site):
    for name in ("quickstart", "cohort"):
        page = (site / "notebooks" / f"{name}.html").read_text()
        images = re.findall(r'<img[^>]+src="([^"]+\.png)"', page)
        assert len(images) >= 3, name
        for src in images:
            assert (site / "notebooks" / src).resolve().is_file(), src


def test_benchmark_tables_and_picture(site):
    assert "<table" in (site / "benchmarks.html").read_text()
    assert (site / "_images" / "s1_mosaic.png").is_file()
