"""ROI sources as a seam: a source written here in a few lines gives the same masks as the
overlays SVG for the same vertex sets; plain vertex-set mappings do too."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import xarray as xr

import roixr
from roixr.errors import OptionError, RoiNotFoundError

SAMPLERS = ["cortical", "thick", 2.0, "cortical-conservative", "cortical-liberal"]


class VertexListSource:
    """A custom ROI source: vertex lists per ROI in the merged (left, then right) numbering."""

    description = "vertex lists"

    def __init__(self, verts: dict[str, np.ndarray]) -> None:
        self.verts = verts

    def names(self, subject):
        return list(self.verts)

    def table(self, subject, names):
        n_lh, n = subject.n_vertices("lh"), subject.n_vertices()
        rows = np.concatenate([np.full(len(self.verts[k]), r) for r, k in enumerate(names)])
        cols = np.concatenate([self.verts[k] for k in names])
        members = sp.csr_array((np.ones(len(cols), bool), (rows, cols)), shape=(len(names), n))
        return roixr.RoiTable.from_hemispheres(names, members[:, :n_lh], members[:, n_lh:])


@pytest.fixture(scope="module")
def svg_verts(synth_dir):
    return roixr.roi_verts(synth_dir, ["V1", "A", "CUT"])


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_custom_source_equals_svg(synth_dir, svg_verts, sampler):
    expected = roixr.roi_masks(synth_dir, "oblique", list(svg_verts), sampler)
    got = roixr.roi_masks(
        synth_dir, "oblique", sampler=sampler, source=VertexListSource(svg_verts)
    )
    np.testing.assert_array_equal(got.values, expected.values)
    assert list(got.roi.values) == list(expected.roi.values)
    assert got.attrs["source"] == "vertex lists"
    np.testing.assert_allclose(got.coverage.values, expected.coverage.values)


def test_mapping_source_equals_svg(synth_dir, svg_verts):
    n_lh = roixr.Subject(synth_dir).n_vertices("lh")
    mapping = {k: {"L": v[v < n_lh], "R": v[v >= n_lh] - n_lh} for k, v in svg_verts.items()}
    expected = roixr.roi_masks(synth_dir, "fullhead", ["CUT", "Cortex", "V1"])
    got = roixr.roi_masks(synth_dir, "fullhead", ["CUT", "Cortex", "V1"], source=mapping)
    xr.testing.assert_equal(got.drop_attrs(), expected.drop_attrs())
    assert roixr.roi_verts(synth_dir, source=mapping).keys() == svg_verts.keys()
    for k, v in roixr.roi_verts(synth_dir, source=mapping).items():
        np.testing.assert_array_equal(v, svg_verts[k])


def test_bad_sources(synth_dir):
    with pytest.raises(OptionError, match="unknown ROI source 42"):
        roixr.roi_masks(synth_dir, "fullhead", source=42)
    with pytest.raises(OptionError, match="either source= or overlay_file="):
        roixr.roi_verts(synth_dir, source={"a": {"L": [0]}}, overlay_file="x.svg")
    with pytest.raises(OptionError, match="names vertex 99999 of hemisphere L"):
        roixr.roi_verts(synth_dir, source={"a": {"L": [99999]}})
    with pytest.raises(OptionError, match="hemisphere keys must be 'L' and 'R'"):
        roixr.roi_verts(synth_dir, source={"a": {"lh": [0]}})
    with pytest.raises(RoiNotFoundError, match=r"\['b'\] not found in vertex sets"):
        roixr.roi_verts(synth_dir, ["b"], source={"a": {"L": [0]}})
