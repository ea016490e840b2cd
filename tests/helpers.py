"""Test helpers shared by the suite: a scheduler that counts (and limits) computes, and the
masks builder. The cluster fixture is in ``conftest.py``."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import dask
import dask.array as da
import numpy as np
import xarray as xr

from roixr.forms import MASK_DIMS

SHAPE = (6, 5, 4)
AFFINE = [[-2.0, 0.0, 0.0, 30.5], [0.0, 2.5, 0.0, -40.0], [0.0, 0.0, 3.0, 12.25], [0, 0, 0, 1]]

ATTRS = {
    "subject": "synth",
    "xfm": "identity",
    "sampler": "cortical",
    "threshold": None,
    "allow_overlap": False,
    "affine": AFFINE,
    "xfm_coord": np.eye(4).tolist(),
    "roixr_version": "0.0.test",
}


class CountingScheduler:
    """A dask scheduler that counts computes and fails past ``max_computes`` (flox's)."""

    def __init__(self, max_computes: int = 0) -> None:
        self.total_computes = 0
        self.max_computes = max_computes

    def __call__(self, dsk, keys, **kwargs):
        self.total_computes += 1
        if self.total_computes > self.max_computes:
            raise RuntimeError(
                f"Too many dask computations were scheduled: {self.total_computes} > "
                f"max_computes={self.max_computes}"
            )
        return dask.get(dsk, keys, **kwargs)


@contextlib.contextmanager
def raise_if_dask_computes(max_computes: int = 0) -> Iterator[CountingScheduler]:
    """Within the block, dask computes synchronously and at most ``max_computes`` times."""
    scheduler = CountingScheduler(max_computes)
    with dask.config.set(scheduler=scheduler):
        yield scheduler


def make_masks(
    shape=SHAPE, n_roi=3, dtype=bool, chunks=None, seed=0, overlap=False, names=None
) -> xr.DataArray:
    """Masks with a random left/right voxel split; ROIs disjoint unless ``overlap``."""
    rng = np.random.default_rng(seed)
    names = names or [f"V{i}" for i in range(1, n_roi + 1)]
    is_left = rng.random(shape) < 0.5
    if overlap:
        member = rng.random((n_roi, *shape)) < 0.4
    else:
        label = rng.integers(0, n_roi + 1, shape)
        member = label == np.arange(1, n_roi + 1).reshape(-1, 1, 1, 1)
    values = member
    if dtype is not bool:
        values = (member * rng.uniform(0.05, 1.0, member.shape)).astype(np.float32)
    data = np.stack([values * is_left, values * ~is_left], axis=1)
    if chunks is not None:
        data = da.from_array(data, chunks=(-1, -1, *chunks))
    coverage = rng.uniform(0, 100, n_roi)
    coords = {
        "roi": names,
        "hemisphere": ["L", "R"],
        **{d: np.arange(n) for d, n in zip("xyz", shape, strict=True)},
        "coverage": ("roi", coverage),
    }
    return xr.DataArray(data, dims=MASK_DIMS, coords=coords, name="roi_masks", attrs=dict(ATTRS))
