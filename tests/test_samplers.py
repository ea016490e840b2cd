"""The sampler registry: samplers registered by keyword through the typed protocol run in
both executors like the built-in ones."""

from __future__ import annotations

import numpy as np
import pytest

import roixr
from roixr.errors import OptionError
from roixr.sampling import SamplerResult
from roixr.sampling.kernels.mapper import Pairs


def _nearest_within_3mm(surfaces, table, chunk, prepared, workers):
    """A user's sampler: voxel centres within 3 mm of an ROI's nearest vertex."""
    dist, nearest = surfaces.tree.query(chunk.voxel_mm(), workers=workers)
    voxels = np.flatnonzero(dist <= 3.0)
    nn = nearest[voxels]
    values = table.values_of(nn)
    return SamplerResult(voxels, values, np.unique(nn), ~values.any(axis=0), nn)


@pytest.fixture(scope="module")
def custom():
    """The user's sampler, registered under a name no built-in uses; ``overwrite=True`` lets
    the fixture run again in the same process (it stays registered, like a user's)."""
    return roixr.register_sampler(
        "test-3mm", sample=_nearest_within_3mm, cortex=True, overwrite=True
    )


def test_registered_sampler_equals_the_builtin_distance(synth_dir, custom):
    assert "test-3mm" in roixr.samplers()
    assert roixr.get_sampler("test-3mm") is custom
    rois = ["V1", "Cortex", "CUT"]
    got = roixr.roi_masks(synth_dir, "oblique", rois, "test-3mm", chunks=(7, 5, 3))
    expected = roixr.roi_masks(synth_dir, "oblique", rois, 3.0)
    np.testing.assert_array_equal(got.values, expected.values)
    assert got.attrs["sampler"] == "test-3mm"
    drop_in = roixr.get_roi_masks(synth_dir, "oblique", rois, gm_sampler="test-3mm")
    reference = roixr.get_roi_masks(synth_dir, "oblique", rois, gm_sampler=3.0)
    assert drop_in.keys() == reference.keys()
    for k in drop_in:
        np.testing.assert_array_equal(drop_in[k], reference[k])


def test_builtins_are_registered_first():
    builtins = ["cortical", "thick", "thin", "cortical-conservative", "cortical-liberal"]
    assert roixr.samplers()[:6] == [*builtins, "ribbon"]
    for name in [*builtins, "ribbon"]:
        assert roixr.get_sampler(name).name == name
    assert roixr.get_sampler("ribbon").fractional
    assert roixr.get_sampler(2).label == 2.0


def test_overwrite_replaces_a_registered_sampler():
    first = roixr.register_sampler("test-overwrite", sample=_nearest_within_3mm, overwrite=True)
    second = roixr.register_sampler(
        "test-overwrite", sample=_nearest_within_3mm, cortex=True, overwrite=True
    )
    assert roixr.get_sampler("test-overwrite") is second
    assert second.cortex and not first.cortex
    assert roixr.samplers().count("test-overwrite") == 1


def test_registration_errors(custom):
    with pytest.raises(OptionError, match="already registered; pass overwrite=True"):
        roixr.register_sampler("test-3mm", sample=_nearest_within_3mm)
    with pytest.raises(OptionError, match="give both prepare= and share="):
        roixr.register_sampler("test-half", sample=_nearest_within_3mm, prepare=print)
    with pytest.raises(OptionError, match="non-empty string name"):
        roixr.register_sampler("", sample=_nearest_within_3mm)
    with pytest.raises(OptionError, match="unknown sampler 'nope'"):
        roixr.get_sampler("nope")


def test_mapper_weights_are_float64():
    """Fractional samplers can return partial weights (a volume, not a count)."""
    pairs = Pairs(np.array([0, 1]), np.array([3, 3]), np.array([0.25, 0.5]), np.array([0, 2]))
    assert pairs.weight.dtype == np.float64
    both = Pairs.concat([pairs.block(0), pairs.block(0)])
    np.testing.assert_array_equal(both.weight, [0.25, 0.5, 0.25, 0.5])
