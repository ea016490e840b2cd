"""Pictures of ROI masks and ROI time series (matplotlib, the ``plot`` extra).

:func:`plot_masks` draws a mosaic of slices along one voxel axis: every ROI in its colour
(the ROI source's colour table when it has one, a categorical palette otherwise), the right
hemisphere a lighter tint of the left's colour, over a background image on the masks' grid
(the transform's reference image, the subject's anatomy resampled into the grid, or any
image), with a legend. Binary masks are drawn opaque (``alpha``), fractions with
``alpha * fraction``, and index volumes through their labels. :func:`plot_timeseries` draws
``(roi, hemisphere, time)`` series, left solid and right dashed.

Both return a :class:`matplotlib.figure.Figure` made without pyplot, so they work headless
and leave no global state; in a notebook the figure shows itself, elsewhere save it with
``fig.savefig("masks.png")``.

The image is composed here (RGB, nearest neighbour), so a voxel's pixels hold exactly
``alpha * colour + (1 - alpha) * background``.
"""

from roixr.plot.colors import hemisphere_colors, require_matplotlib, roi_colors
from roixr.plot.masks import compose, plot_masks
from roixr.plot.timeseries import plot_timeseries

__all__ = [
    "compose",
    "hemisphere_colors",
    "plot_masks",
    "plot_timeseries",
    "require_matplotlib",
    "roi_colors",
]
