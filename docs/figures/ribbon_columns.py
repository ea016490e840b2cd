"""Draw docs/_static/ribbon_columns.png: how the ribbon sampler splits the ribbon into vertex
columns. Run: python docs/figures/ribbon_columns.py"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Polygon


def main() -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4.4))
    # left: a patch of the white mesh seen from above, each vertex's share of its triangles
    pts = np.array([[0, 0], [2, 0], [4, 0], [1, 1.7], [3, 1.7], [2, 3.4], [5, 1.7], [0, 3.4]])
    tris = np.array([[0, 1, 3], [1, 4, 3], [1, 2, 4], [3, 4, 5], [2, 6, 4], [3, 5, 7]])
    owner_colour = {3: "#e4572e", 4: "#17becf", 1: "#76b041"}
    for tri in tris:
        c = pts[tri].mean(axis=0)
        for r in range(3):
            v, w, u = tri[r], tri[(r + 1) % 3], tri[(r + 2) % 3]
            quad = [pts[v], (pts[v] + pts[w]) / 2, c, (pts[v] + pts[u]) / 2]
            colour = owner_colour.get(int(v), "#dddddd")
            left.add_patch(Polygon(quad, closed=True, fc=colour, ec="white", lw=0.8, alpha=0.9))
        left.add_patch(Polygon(pts[tri], closed=True, fill=False, ec="black", lw=1.2))
    left.plot(*pts.T, "ko", ms=4)
    for v in owner_colour:
        left.annotate(f"vertex {v}", pts[v] + [0.08, 0.12], color="black", fontsize=9)
    left.set_title("each vertex owns its share of its triangles\n"
                   "(split at edge midpoints and centroids)", fontsize=10)  # fmt: skip
    left.set_aspect("equal")
    left.axis("off")
    # right: side view of the columns between white and pial, over a voxel grid
    x = np.linspace(0, 6, 7)
    white = 1.0 + 0.25 * np.sin(x)
    pial = white + 2.2 + 0.3 * np.cos(x / 2)
    for i in range(6):
        colour = ["#dddddd", "#e4572e", "#17becf", "#76b041", "#dddddd", "#e4572e"][i]
        xs = [x[i], x[i + 1], x[i + 1], x[i]]
        ys = [white[i], white[i + 1], pial[i + 1], pial[i]]
        right.add_patch(Polygon(np.c_[xs, ys], closed=True, fc=colour, ec="white", alpha=0.85))
    right.plot(x, white, "k-", lw=1.5, label="white surface")
    right.plot(x, pial, "k--", lw=1.5, label="pial surface")
    for g in np.arange(-0.5, 6.6, 1.0):
        right.axvline(g, color="0.6", lw=0.6)
    for g in np.arange(0, 5.1, 1.0):
        right.axhline(g, color="0.6", lw=0.6)
    right.set_xlim(-0.5, 6.5)
    right.set_ylim(0, 4.5)
    right.set_title("columns tile the ribbon; a voxel's value for an ROI is\n"
                    "the exact volume of the ROI's columns inside it", fontsize=10)  # fmt: skip
    right.legend(loc="upper right", fontsize=8)
    right.set_xticks([])
    right.set_yticks([])
    fig.tight_layout()
    out = Path(__file__).resolve().parents[1] / "_static" / "ribbon_columns.png"
    fig.savefig(out, dpi=110)
    print(out)


if __name__ == "__main__":
    main()
