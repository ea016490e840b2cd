"""Pictures: each plot kind is rendered headless to PNG and its pixels are checked (the ROI
colours where the masks are, the background where they are not)."""

from __future__ import annotations

import io

import numpy as np
import pytest
import xarray as xr

pytest.importorskip("matplotlib")

import roixr
import roixr.plot as rplot
from roixr.errors import FormError, OptionError
from roixr.forms import MASK_DIMS

SHAPE = (8, 6, 3)
RED = (1.0, 0.0, 0.0)
GREY = 100 / 125  # a background of 0 and 100: 100 is drawn at 100 / (100 / 0.8)
TOL = 2.5 / 255  # PNG rounding


def small_masks(dtype=bool, affine=None) -> xr.DataArray:
    """Two ROIs on an 8 x 6 x 3 grid: V1 left in x 0-1, V1 right in x 6-7, V2 left in
    x 3-4; all at y 1-3, z 1. V1 is red by the colour table, V2 takes the palette."""
    data = np.zeros((2, 2, *SHAPE), dtype=np.float32)
    data[0, 0, 0:2, 1:4, 1] = 1.0
    data[0, 1, 6:8, 1:4, 1] = 1.0
    data[1, 0, 3:5, 1:4, 1] = 1.0
    if dtype is not bool:
        data[0, 0, 0:2, 1:4, 1] = 0.5  # fractions: V1 left half full
    values = data.astype(bool) if dtype is bool else data
    coords = {"roi": ["V1", "V2"], "hemisphere": ["L", "R"], "coverage": ("roi", [100.0, 50.0])}
    attrs = {
        "subject": "tiny",
        "xfm": "identity",
        "sampler": "cortical",
        "affine": (np.diag([2.0, 2.0, 2.0, 1.0]) if affine is None else affine).tolist(),
        "roi_colors": {"V1": "#ff0000"},
    }
    return xr.DataArray(values, dims=MASK_DIMS, coords=coords, attrs=attrs, name="roi_masks")


def background() -> np.ndarray:
    """0 in the row y = 0, 100 elsewhere."""
    bg = np.full(SHAPE, 100.0)
    bg[:, 0, :] = 0.0
    return bg


def render(fig):
    """The figure as an RGB float array, and a function voxel (u, v) -> pixel (row, col) of
    one of its axes (data coords are voxel indices; PNG rows run downwards)."""
    import matplotlib.image as mpimg

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=fig.dpi)
    image = mpimg.imread(io.BytesIO(buffer.getvalue()))[..., :3]
    height = image.shape[0]

    def pixel(ax, u, v):
        x, y = ax.transData.transform((u, v))
        return round(float(height - y)), round(float(x))

    return image, pixel


def colour_at(image, pixel, ax, u, v) -> np.ndarray:
    row, col = pixel(ax, u, v)
    return image[row, col]


def expected(colour, alpha, base) -> np.ndarray:
    return alpha * np.asarray(colour) + (1 - alpha) * np.asarray(base)


def test_bool_masks_pixels_roi_colours_and_background():
    masks = small_masks()
    fig = rplot.plot_masks(masks, slices=[1], background=background(), legend=False, title="")
    (ax,) = fig.axes
    image, pixel = render(fig)
    alpha = 0.8
    base = (GREY, GREY, GREY)
    v2 = rplot.roi_colors(["V1", "V2"], masks.attrs["roi_colors"])["V2"]
    right_red = rplot.hemisphere_colors(RED)["R"]
    for u in range(SHAPE[0]):
        for v in range(SHAPE[1]):
            got = colour_at(image, pixel, ax, u, v)
            if v == 0:
                want = np.zeros(3)  # background 0: black
            elif 1 <= v <= 3 and u in (0, 1):
                want = expected(RED, alpha, base)  # V1 left: the table's red
            elif 1 <= v <= 3 and u in (6, 7):
                want = expected(right_red, alpha, base)  # V1 right: the red's tint
            elif 1 <= v <= 3 and u in (3, 4):
                want = expected(v2, alpha, base)  # V2 left: palette
            else:
                want = np.asarray(base)  # the background's grey
            np.testing.assert_allclose(got, want, atol=TOL, err_msg=f"voxel {(u, v)}")
    assert not np.allclose(expected(RED, alpha, base), expected(right_red, alpha, base))


def test_fraction_masks_alpha_is_the_fraction():
    masks = small_masks(dtype=np.float32)
    fig = rplot.plot_masks(masks, slices=[1], legend=False, title="", alpha=1.0)
    (ax,) = fig.axes
    image, pixel = render(fig)
    black = np.zeros(3)
    np.testing.assert_allclose(colour_at(image, pixel, ax, 0, 2), expected(RED, 0.5, black),
                               atol=TOL)  # fmt: skip
    right = rplot.hemisphere_colors(RED)["R"]
    np.testing.assert_allclose(colour_at(image, pixel, ax, 7, 2), right, atol=TOL)
    np.testing.assert_allclose(colour_at(image, pixel, ax, 5, 5), black, atol=TOL)


def test_index_volume_pixels_match_the_masks():
    masks = small_masks()
    volume, _ = masks.roixr.to_index_volume()
    kw = {"slices": [1], "legend": False, "title": "", "background": background()}
    image_m, pixel_m = render(rplot.plot_masks(masks, **kw))
    fig = volume.roixr.plot(**kw)
    image_v, pixel_v = render(fig)
    (ax,) = fig.axes
    for u, v in [(0, 2), (7, 1), (3, 3), (5, 4), (2, 0)]:
        np.testing.assert_allclose(
            colour_at(image_v, pixel_v, ax, u, v), colour_at(image_m, pixel_m, ax, u, v),
            atol=TOL,
        )  # fmt: skip
    np.testing.assert_allclose(colour_at(image_v, pixel_v, ax, 0, 2), expected(RED, 0.8,
                               (GREY,) * 3), atol=TOL)  # fmt: skip


def test_scanner_orientation_flips_a_reversed_axis():
    affine = np.diag([-2.0, 2.0, 2.0, 1.0])  # voxel x runs right to left
    fig = rplot.plot_masks(small_masks(affine=affine), slices=[1], legend=False, title="")
    (ax,) = fig.axes
    image, pixel = render(fig)
    # V1 left (voxels x 0-1) is now drawn at the right end: display column 7 - x
    np.testing.assert_allclose(colour_at(image, pixel, ax, 7, 2), expected(RED, 0.8, (0, 0, 0)),
                               atol=TOL)  # fmt: skip
    texts = [t.get_text() for t in ax.texts]
    assert texts[:2] == ["L", "R"]


def test_mosaic_of_a_subject_over_its_reference_and_anatomy(synth_dir):
    masks = roixr.roi_masks(synth_dir, "fullhead", ["V1", "A"])
    values = masks.values
    colours = rplot.roi_colors(["V1", "A"], masks.attrs.get("roi_colors"))
    for bg in ("reference", "anatomical"):
        fig = masks.roixr.plot(subject=synth_dir, background=bg, slices=[4, 5])
        image, pixel = render(fig)
        panels = fig.axes[:2]
        for ax, z in zip(panels, (4, 5), strict=True):
            assert ax.get_title() == f"z = {z}"
            inside = np.argwhere(values[0, 0, :, :, z])  # V1 left
            assert len(inside)
            for x, y in inside[:: max(len(inside) // 10, 1)]:
                got = colour_at(image, pixel, ax, x, y)
                # V1's colour dominates: at alpha 0.8 the background adds at most 0.2 grey
                np.testing.assert_array_less(np.abs(got - 0.8 * np.asarray(colours["V1"])),
                                             0.2 + TOL)  # fmt: skip
            outside = np.argwhere(~values[:, :, :, :, z].any(axis=(0, 1)))
            greys = np.array([colour_at(image, pixel, ax, x, y) for x, y in outside[::7]])
            assert np.allclose(greys[:, 0], greys[:, 1], atol=TOL)  # grey levels only
            assert np.allclose(greys[:, 1], greys[:, 2], atol=TOL)
            assert greys.max() > 0.3  # the background image is drawn
        title = fig.subfigs[0]._suptitle.get_text()
        assert title.endswith(
            "over anatomy of synth" if bg == "anatomical" else "reference.nii.gz"
        )


def test_timeseries_plot_draws_roi_colours():
    rng = np.random.default_rng(0)
    ts = xr.DataArray(
        rng.random((2, 2, 30)),
        dims=("roi", "hemisphere", "time"),
        coords={"roi": ["V1", "V2"], "hemisphere": ["L", "R"], "time": np.arange(30) * 2.0},
        attrs={"roi_colors": {"V1": "#ff0000"}, "stat": "mean"},
    )
    fig = ts.roixr.plot()
    (ax,) = fig.axes
    assert [line.get_label() for line in ax.lines] == ["V1 L", "V1 R", "V2 L", "V2 R"]
    assert [line.get_linestyle() for line in ax.lines] == ["-", "--", "-", "--"]
    image, _ = render(fig)
    red = np.all(np.abs(image - np.array(RED)) < 0.05, axis=-1)
    assert red.sum() > 100  # V1's red lines are on the picture
    v2 = rplot.roi_colors(["V1", "V2"], {"V1": "#ff0000"})["V2"]
    assert np.all(np.abs(image - np.array(v2)) < 0.05, axis=-1).sum() > 100
    stacked = xr.concat([ts, ts], dim="subject").assign_coords(subject=["a", "b"])
    assert len(rplot.plot_timeseries(stacked).axes) == 2


def test_plot_errors_name_the_fix():
    masks = small_masks()
    with pytest.raises(OptionError, match="axis must be 'x', 'y' or 'z'"):
        rplot.plot_masks(masks, axis="t")  # type: ignore[arg-type]
    with pytest.raises(OptionError, match=r"slice indices must be in \[0, 2\]"):
        rplot.plot_masks(masks, slices=[5])
    with pytest.raises(OptionError, match="no ROI"):
        rplot.plot_masks(masks, rois=["V9"])
    with pytest.raises(OptionError, match="grid shape"):
        rplot.plot_masks(masks, background=np.zeros((2, 2, 2)))
    with pytest.raises(OptionError, match="subject= "):
        rplot.plot_masks(masks, background="reference")
    with pytest.raises(FormError, match="dims"):
        rplot.plot_masks(masks.isel(roi=0))
    with pytest.raises(OptionError, match="time_dim="):
        rplot.plot_timeseries(masks)
