"""Sphinx configuration of roixr's documentation site.

Build it (warnings are errors, nothing downloaded, the notebooks' stored outputs shown
as they are, never re-executed)::

    python -m sphinx -W --keep-going -b html docs docs/_build/html

The notebooks live in ``notebooks/`` at the top of the repository; ``docs/notebooks`` links
to that folder.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # document this tree, not an installed copy
os.environ.setdefault("MPLBACKEND", "Agg")

import roixr  # noqa: E402

project = "roixr"
author = "the roixr developers"
copyright = "the roixr developers"
version = release = roixr.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_nb",
]
# nothing at build time may download: no intersphinx, no remote images
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
exclude_patterns = ["_build", "**.ipynb_checkpoints", "notebooks/README.md"]
root_doc = "index"

# notebooks: rendered from their stored outputs (the test suite executes them)
nb_execution_mode = "off"
nb_merge_streams = True
myst_heading_anchors = 3
suppress_warnings = ["mystnb.unknown_mime_type"]

# API reference from the numpydoc docstrings
autodoc_typehints = "none"  # the signatures and numpydoc's Parameters say it
autodoc_member_order = "bysource"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

html_theme = "pydata_sphinx_theme"
html_title = f"roixr {release}"
html_static_path = ["_static"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_show_sourcelink = False
